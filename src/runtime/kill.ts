/**
 * `runts kill`: signal a created or running container.
 *
 * Without --all only INIT gets the signal (pid 1 of the container: it ignores
 * signals it has no handler for, except SIGKILL and SIGSTOP). With --all
 * every process in the container's cgroup gets it.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import { cgroupPids } from '../cgroups/cgroup.ts';
import { RuntsError } from '../errors.ts';
import type { RuntimeContext } from './create.ts';
import { signalNumber, signalProcess } from './process.ts';
import type { ContainerRecord } from './store.ts';

export async function kill(ctx: RuntimeContext, id: string, signal: string, opts: { all?: boolean } = {}): Promise<void> {
  const sig = signalNumber(signal);
  const record = ctx.store.read(id);
  const status = ctx.store.status(record);
  if (status === 'stopped' || status === 'creating') throw new RuntsError('ESTATE', `container ${id} is not running (status ${status})`);
  if (opts.all) signalAll(record, sig);
  else if (!signalProcess(record.pid, record.pidStartTime, sig)) throw new RuntsError('ESTATE', `container ${id} is not running`);
}

/** Every process of the container, found through its cgroup. */
export function signalAll(record: ContainerRecord, sig: number): void {
  const pids = new Set(record.cgroupDirs.flatMap(cgroupPids));
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      /* exited meanwhile */
    }
  }
}
