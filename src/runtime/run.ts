/**
 * `runts run`: create, start, and (in the foreground) wait and delete.
 *
 * In the foreground runts-init stays as INIT's parent (STEP_SUPERVISE) and
 * reports its exit status; runts forwards the signals it receives to INIT,
 * then deletes the container (unless `keep`, runc's --keep) and exits with
 * the container's status, as a shell would report it (128 + signal for a
 * killed process).
 *
 * With `exitFile` (the front end's containers) PARENT also writes INIT's wait
 * status to that file; detached, it stays on after runts exits to do so, a
 * supervisor in a session of its own (native/protocol.h, STEP_EXIT_FILE).
 *
 * The book: docs/09-writing-runtime.md, "create and start".
 */
import { constants } from 'node:os';
import { join } from 'node:path';
import { profileFromRecording } from '../security/seccomp/record.ts';
import { writeFileAtomic } from '../sys/files.ts';
import { create, type CreateOptions, type RuntimeContext } from './create.ts';
import { remove } from './delete.ts';
import { signalProcess } from './process.ts';
import { start } from './start.ts';
import { wrap } from '../errors.ts';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'] as const;

/** Returns the exit code for runts itself. */
export interface RunOptions extends CreateOptions {
  detach?: boolean;
  keep?: boolean;
  /** Record the system calls of this run and write a seccomp profile allowing them here (security/seccomp/record.ts). */
  seccompProfile?: string;
  beforeStart?: (pid: number, supervisorPid: number) => void | Promise<void>;
}

export async function run(ctx: RuntimeContext, opts: RunOptions): Promise<number> {
  const recording = opts.seccompProfile && join(ctx.store.dir(opts.id), 'seccomp-record');
  const { record, launched } = await create(ctx, { ...opts, supervise: !opts.detach, ...(recording && { seccompRecord: recording }) });
  // Between create and start, as createRuntime hooks run: the front end wires the network here.
  if (opts.beforeStart) {
    try {
      await opts.beforeStart(record.pid, launched.supervisorPid);
    } catch (err) {
      await remove(ctx, opts.id, { force: true }).catch(() => {});
      await launched.release().catch(() => {});
      throw err;
    }
  }
  if (opts.detach) {
    try {
      await start(ctx, opts.id);
    } finally {
      await launched.release();
    }
    return 0;
  }
  const forward = (sig: NodeJS.Signals) => signalProcess(record.pid, record.pidStartTime, constants.signals[sig]);
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    await start(ctx, opts.id);
    const status = await launched.exitStatus();
    if (recording) writeProfile(opts.seccompProfile!, profileFromRecording(recording, ctx.warn));
    return exitCode(status);
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
    // kept: stopped, for `state` and `delete` (its processes and cgroup go with delete)
    if (!opts.keep) await remove(ctx, opts.id, { force: true });
  }
}

function writeProfile(file: string, profile: unknown): void {
  try {
    writeFileAtomic(file, JSON.stringify(profile, null, 2) + '\n', 0o644);
  } catch (err) {
    throw wrap(err, `--seccomp-record: write the profile to ${file}`);
  }
}

/** A wait(2) status as a shell exit code. */
export function exitCode(status: number): number {
  const sig = status & 0x7f;
  return sig === 0 ? (status >> 8) & 0xff : 128 + sig;
}
