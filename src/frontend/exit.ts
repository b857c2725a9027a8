/**
 * How a front-end container ended, as `docker ps -a` ("Exited (3)"),
 * `docker inspect` (State.ExitCode, State.FinishedAt) and `docker wait`
 * tell it. Nobody in runts waits for a detached container: runts-init's
 * PARENT does, a supervisor that outlives runts (native/protocol.h,
 * STEP_EXIT_FILE), and leaves one line in the container's directory:
 *
 *   exit        "<wait status> <seconds> <nanoseconds>", written when INIT
 *               exits (whole, by rename)
 *   supervisor  "<pid> <start time>" of that supervisor, written before
 *               the container starts
 *
 * Between INIT's end and the exit file there is a moment when the core
 * already says "stopped": while the supervisor lives, its file is still to
 * come. A supervisor killed first leaves none: the container has exited
 * with an unknown status.
 *
 * The book: docs/09-writing-runtime.md, "A tiny Docker".
 */
import { readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import { processStartTime } from '../runtime/process.ts';
import { exitCode } from '../runtime/run.ts';

export const EXIT_FILE = 'exit';
const SUPERVISOR_FILE = 'supervisor';

export interface ExitRecord {
  /** As a shell reports it: the exit status, or 128 + the signal that killed it. */
  exitCode: number;
  finishedAt: string;
}

/** The exit file of a container directory, if the container has one. */
export function readExit(dir: string): ExitRecord | undefined {
  const file = join(dir, EXIT_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\d+) (\d+) (\d+)\n$/.exec(text);
  if (!m) throw new RuntsError('EINTERNAL', `${file}: not an exit record: ${JSON.stringify(text)}`, { path: file });
  return { exitCode: exitCode(Number(m[1])), finishedAt: new Date(Number(m[2]) * 1000 + Math.floor(Number(m[3]) / 1e6)).toISOString() };
}

/** Note who supervises the container (before it starts, so that a waiter always finds it). */
export function recordSupervisor(dir: string, pid: number): void {
  writeFileSync(join(dir, SUPERVISOR_FILE), `${pid} ${processStartTime(pid) ?? ''}\n`);
}

/** Whether the container's supervisor still runs (and so its exit file may yet come). */
function supervisorAlive(dir: string): boolean {
  let text: string;
  try {
    text = readFileSync(join(dir, SUPERVISOR_FILE), 'utf8');
  } catch {
    return false;
  }
  const [pid, start] = text.trim().split(' ');
  return !!start && processStartTime(Number(pid)) === start;
}

/** How often a waiter looks again when no file event wakes it (a killed supervisor writes none). */
const POLL_MS = 1000;

/**
 * Resolves once the container has ended: with its record, or undefined when
 * it ended without one. `running` says whether the core still knows it
 * running (and throws if the container is gone). No busy wait: it sleeps
 * until inotify (fs.watch on the directory) reports a change, such as the
 * exit file's rename, or the poll interval ends.
 */
export async function waitExit(dir: string, running: () => boolean): Promise<ExitRecord | undefined> {
  let wake = () => {};
  const watcher = watch(dir, () => wake());
  watcher.on('error', () => wake());
  try {
    for (;;) {
      const record = readExit(dir);
      if (record) return record;
      if (!running() && !supervisorAlive(dir)) return readExit(dir);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        wake = () => { clearTimeout(timer); resolve(); };
      });
    }
  } finally {
    watcher.close();
  }
}
