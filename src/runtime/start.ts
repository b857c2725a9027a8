/**
 * `runts start`: release a created container to exec its process.
 *
 * INIT is blocked reading the exec fifo. Writing one byte unblocks it; the
 * fifo is then removed, which is what makes the status "running". Opening the
 * fifo non-blocking means a dead INIT (no reader) is an error, not a hang.
 *
 * Without Node, dist/runts-fast does the same from the record create wrote:
 * docs/design/fast-verbs.md.
 *
 * The book: docs/09-writing-runtime.md, "create and start".
 */
import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntsError } from '../errors.ts';
import type { RuntimeContext } from './create.ts';
import type { Status } from './store.ts';
import { runHooksWarning } from './hooks.ts';
import { faultPoint } from '../sys/fault.ts';

/** The one status a container can be started from. */
export const canStart = (status: Status): boolean => status === 'created';

export async function start(ctx: RuntimeContext, id: string): Promise<void> {
  const { store } = ctx;
  await store.locked(id, async () => {
    const record = store.read(id);
    const status = store.status(record);
    if (!canStart(status)) {
      const why = status === 'stopped' ? 'that has stopped' : status === 'running' ? 'that is already running' : `in status ${status}`;
      throw new RuntsError('ESTATE', `cannot start container ${id} ${why}`);
    }
    let fd: number;
    try {
      fd = openSync(store.fifo(id), constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENXIO') throw new RuntsError('ESTATE', `cannot start container ${id}: its init process is gone`);
      throw err;
    }
    try {
      writeSync(fd, '0');
    } finally {
      closeSync(fd);
    }
    faultPoint('start.signalled');
    // INIT is released: return at once (engines stamp the start time when
    // start returns; a process that exits within milliseconds must not look
    // as if it ended before it started), unless poststart hooks must run.
    if (!record.poststart?.length) return unlinkSync(store.fifo(id));
    // poststart hooks run after the user process has started (runtime.md):
    // INIT may still be running startContainer hooks, so wait for its exec.
    await waitForExec(store.fifo(id));
    unlinkSync(store.fifo(id));
    // The process may already have exited: the hook still gets the pid it ran as.
    await runHooksWarning('poststart', record.poststart, { ...store.state(record), status: 'running', pid: record.pid }, ctx.warn);
  });
}

/**
 * INIT holds the fifo open (close-on-exec) until it execs or dies: while a
 * non-blocking open for writing still finds a reader, it has not.
 */
async function waitForExec(fifo: string): Promise<void> {
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENXIO') return;
      throw err;
    }
    await sleep(delay);
  }
}
