/**
 * `runts delete`: remove a stopped container (with --force, any container).
 *
 * A created container is deleted like runc does it, by killing INIT; a running
 * one needs --force. What is left in the cgroup is killed, the cgroup removed,
 * the poststop hooks run, and the state directory goes last: until then a
 * retry can finish the job.
 *
 * Without Node, dist/runts-fast does the same from the record create wrote,
 * in the common cases: docs/design/fast-verbs.md.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import { cgroupDriver } from '../cgroups/driver.ts';
import { isRuntsError, RuntsError } from '../errors.ts';
import type { RuntimeContext } from './create.ts';
import { runHooksWarning } from './hooks.ts';
import { signalAll } from './kill.ts';
import { signalProcess, waitGone } from './process.ts';
import { faultPoint } from '../sys/fault.ts';
import type { Status } from './store.ts';

/** The statuses delete refuses without --force (a created container is deleted as runc does: by killing INIT). */
export const deleteNeedsForce = (status: Status): boolean => status === 'running' || status === 'paused' || status === 'creating';

export async function remove(ctx: RuntimeContext, id: string, opts: { force?: boolean } = {}): Promise<void> {
  const { store } = ctx;
  try {
    store.read(id);
  } catch (err) {
    // A directory without a state (an older runts killed while claiming it) is nobody's: --force clears it.
    if (opts.force && isRuntsError(err, 'ENOTFOUND')) return store.release(id);
    throw err;
  }
  await store.locked(id, async () => {
    const record = store.read(id);
    const status = store.status(record);
    if (deleteNeedsForce(status) && !opts.force) {
      throw new RuntsError('ESTATE', `cannot delete container ${id} that is not stopped (status ${status}): use --force`);
    }
    // Frozen processes cannot die: thaw first.
    if (status === 'paused') await cgroupDriver().freeze(record.cgroupDirs, false);
    if (status !== 'stopped' && record.pid) {
      signalProcess(record.pid, record.pidStartTime, 9);
      await waitGone(record.pid, record.pidStartTime, 10_000);
    }
    // Without a pid namespace of its own, INIT's children outlive it.
    signalAll(record, 9);
    faultPoint('delete.killed');
    cgroupDriver().remove(record.cgroupDirs);
    faultPoint('delete.uncgrouped');
    await runHooksWarning('poststop', record.poststop, { ...store.state(record), status: 'stopped' }, ctx.warn);
    store.release(id);
  });
}
