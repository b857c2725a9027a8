/**
 * `runts events`: a container's usage figures (runc's `{"type":"stats"}`
 * objects) once or every interval, and `{"type":"oom"}` each time the OOM
 * killer takes one of its processes (v1 memory.oom_control, v2
 * memory.events, counter oom_kill).
 *
 * The book: docs/05-cgroups.md, "Accounting".
 */
import { cgroupDriver, type CgroupStats } from '../cgroups/driver.ts';
import { RuntsError } from '../errors.ts';
import type { RuntimeContext } from './create.ts';
import type { ContainerRecord } from './store.ts';

export interface ContainerEvent {
  type: 'stats' | 'oom';
  id: string;
  data?: CgroupStats;
}

function living(ctx: RuntimeContext, id: string): ContainerRecord {
  const record = ctx.store.read(id);
  const status = ctx.store.status(record);
  if (status === 'stopped' || status === 'creating') throw new RuntsError('ESTATE', `container ${id} is not running (status ${status})`);
  return record;
}

export function stats(ctx: RuntimeContext, id: string): ContainerEvent {
  const record = living(ctx, id);
  return { type: 'stats', id, data: cgroupDriver().stats(record.cgroupDirs) };
}

/**
 * Events until the container stops or `signal` aborts. OOM kills are looked
 * for more often than stats are taken, so none is reported late by a whole
 * interval.
 */
export async function* events(ctx: RuntimeContext, id: string, intervalMs: number, signal?: AbortSignal): AsyncGenerator<ContainerEvent> {
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new RuntsError('EINVAL', `--interval: must be a positive duration, not ${intervalMs}`);
  const driver = cgroupDriver();
  let record = living(ctx, id);
  let ooms = driver.oomKills(record.cgroupDirs);
  const tick = Math.min(intervalMs, 100);
  let next = Date.now();
  while (!signal?.aborted) {
    const now = ooms;
    ooms = driver.oomKills(record.cgroupDirs);
    for (let i = now; i < ooms; i++) yield { type: 'oom', id };
    if (Date.now() >= next) {
      yield { type: 'stats', id, data: driver.stats(record.cgroupDirs) };
      next += intervalMs;
    }
    await new Promise((r) => setTimeout(r, tick));
    try {
      record = living(ctx, id);
    } catch {
      // The OOM killer may have taken the last process: report it.
      for (let i = ooms; i < driver.oomKills(record.cgroupDirs); i++) yield { type: 'oom', id };
      return;
    }
  }
}
