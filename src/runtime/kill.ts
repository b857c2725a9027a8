/**
 * `runts kill`: signal a created or running container.
 *
 * Without --all only INIT gets the signal (pid 1 of the container: it ignores
 * signals it has no handler for, except SIGKILL and SIGSTOP), after the
 * start-time check that tells a reused pid apart. With --all every process
 * in the container's cgroup gets it, while the cgroup is frozen: a frozen
 * process cannot exit, so no pid read from cgroup.procs can be handed to
 * another process before it is signalled (runc does the same).
 *
 * Without Node, dist/runts-fast does the same (through a pidfd) from the
 * record create wrote: docs/design/fast-verbs.md.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import { cgroupDriver } from '../cgroups/driver.ts';
import { RuntsError } from '../errors.ts';
import type { RuntimeContext } from './create.ts';
import { processStartTime, signalNumber, signalProcess } from './process.ts';
import type { ContainerRecord, Status } from './store.ts';
import { containerMembers } from './members.ts';

/** The statuses in which `kill` (without --all) signals INIT; in the others it fails. */
export const killsInit = (status: Status): boolean => status !== 'stopped' && status !== 'creating';
/** The statuses in which `kill --all` signals every member; a stopped container's too: what INIT left behind (no pid namespace of its own) may still run. */
export const killAllSignalsMembers = (status: Status): boolean => status === 'stopped' || killsInit(status);

export async function kill(ctx: RuntimeContext, id: string, signal: string, opts: { all?: boolean } = {}): Promise<void> {
  const sig = signalNumber(signal);
  const record = ctx.store.read(id);
  const status = ctx.store.status(record);
  if (opts.all && killAllSignalsMembers(status)) return signalAllFrozen(ctx, record, sig);
  // "container not running" is the phrase containerd's shim and podman
  // match to treat the kill of an exited container as done, not failed.
  if (!killsInit(status)) throw new RuntsError('ESTATE', `cannot kill ${id}: container not running (status ${status})`);
  if (!signalProcess(record.pid, record.pidStartTime, sig)) throw new RuntsError('ESTATE', `cannot kill ${id}: container not running`);
}

/** Freeze, signal every process, thaw (unless it was paused before). */
export async function signalAllFrozen(ctx: RuntimeContext, record: ContainerRecord, sig: number): Promise<void> {
  const driver = cgroupDriver();
  let froze = false;
  try {
    if (!driver.isFrozen(record.cgroupDirs)) {
      await driver.freeze(record.cgroupDirs, true);
      froze = true;
    }
  } catch (err) {
    // no freezer: the start-time check below still narrows the window
    ctx.debug(`kill --all: cannot freeze ${record.id}: ${(err as Error).message}`);
  }
  try {
    signalAll(record, sig);
  } finally {
    if (froze) await driver.freeze(record.cgroupDirs, false);
  }
}

/** Every process of the container, found through its cgroup (or pid namespace: see members.ts). */
export function signalAll(record: ContainerRecord, sig: number): void {
  const pids = containerMembers(record);
  for (const pid of pids) {
    const start = processStartTime(pid);
    if (start === undefined) continue; // exited meanwhile
    signalProcess(pid, start, sig);
  }
}
