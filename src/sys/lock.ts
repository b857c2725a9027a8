/**
 * The lock around state that several runts processes change at once: the
 * image store (images.json, freeing layers and blobs), each network's
 * allocation table, the list of networks. Fifty `runts run` at once take
 * turns through it.
 *
 * It is flock(2), an exclusive lock the kernel holds for an open file. The
 * lock file is created once and never removed; the lock ends when its
 * holder closes the file or dies, SIGKILL included. So there is no stale
 * lock to detect and break, and no pid in a file to trust: a lock that is a
 * file's existence must guess whether its owner died, and two processes that
 * both break the same stale lock can each remove the other's fresh one.
 *
 * Node opens every file with O_CLOEXEC, so a program started while the lock
 * is held (ip, nft, a container's init) does not inherit it. The holder
 * writes its pid into the file, read back only to name it when another
 * process gives up waiting.
 *
 * Not re-entrant: flock sees two opens of one file by one process as two
 * holders, so a nested withFileLock of the same file would wait for itself.
 * It fails at once instead. The lock is released when `fn` returns, or,
 * for withFileLockAsync, when its promise settles.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import { closeSync, constants, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { RuntsError, wrap } from '../errors.ts';
import { flock, LOCK_EX, LOCK_NB } from './libc.ts';
import { sleepSync } from './sleep.ts';

export interface LockOptions {
  /** what the lock guards, for messages: `image store`, `network state` */
  what: string;
  /** how long to wait for another holder (30 s by default) */
  timeoutMs?: number;
}

const POLL_MS = 5;
/** The lock files this process holds: the re-entrancy check. */
const held = new Set<string>();

/** The pid the holder wrote, if that process still exists. */
function holderPid(file: string): number | undefined {
  let pid: number;
  try { pid = Number(readFileSync(file, 'utf8').trim()); } catch { return undefined; }
  return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`) ? pid : undefined;
}

/** Runs `fn` holding the exclusive lock on `path` (created if missing); waits up to `timeoutMs` for it. */
export function withFileLock<T>(path: string, fn: () => T, opts: LockOptions = { what: 'lock file' }): T {
  const lock = open(path, opts);
  try {
    while (!lock.tryTake()) sleepSync(POLL_MS);
    return fn();
  } finally {
    lock.release();
  }
}

/** The same lock for an asynchronous `fn`: waits without blocking the event loop; held until `fn` settles. */
export async function withFileLockAsync<T>(path: string, fn: () => Promise<T>, opts: LockOptions = { what: 'lock file' }): Promise<T> {
  const lock = open(path, opts);
  try {
    while (!lock.tryTake()) await new Promise((r) => setTimeout(r, POLL_MS));
    return await fn();
  } finally {
    lock.release();
  }
}

/** An open lock file, marked held by this process until release(); tryTake() throws at the deadline. */
function open(path: string, opts: LockOptions) {
  const file = resolve(path);
  if (held.has(file)) throw new RuntsError('EINTERNAL', `${opts.what} ${file}: already locked by this process (the lock is not re-entrant)`, { path: file });
  let fd: number;
  try {
    fd = openSync(file, constants.O_CREAT | constants.O_RDWR, 0o600);
  } catch (err) {
    throw wrap(err, `lock ${opts.what} ${file}`);
  }
  held.add(file);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  return {
    tryTake(): boolean {
      if (flock(fd, LOCK_EX | LOCK_NB, file)) {
        ftruncateSync(fd);
        writeSync(fd, `${process.pid}\n`, 0);
        return true;
      }
      if (Date.now() < deadline) return false;
      const pid = holderPid(file);
      throw new RuntsError('ESTATE', `${opts.what} ${file} is locked by another runts${pid ? ` (pid ${pid})` : ''}: timed out after ${timeoutMs / 1000} s`, { path: file });
    },
    release() {
      held.delete(file);
      closeSync(fd); // releases the lock
    },
  };
}
