/**
 * Processes by pid, safely. A pid is only a number: once its process exits
 * the kernel may hand it to another. Every signal runts sends first checks
 * that the pid still belongs to the process it started (same start time in
 * /proc/<pid>/stat), so a reused pid is never killed.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { RuntsError } from '../errors.ts';

/** Field 22 of /proc/<pid>/stat, or undefined if the process is gone or a zombie. */
export function processStartTime(pid: number): string | undefined {
  return processStat(pid)?.startTime;
}

/** The name runts-init's INIT carries until it execs the container's process (native/runts-init.c). */
export const INIT_NAME = 'runts:[1:INIT]';

/** Start time and name (comm) of a live process, from one read of /proc/<pid>/stat. */
export function processStat(pid: number): { startTime: string; comm: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return { startTime: fields[19]!, comm: stat.slice(stat.indexOf('(') + 1, close) };
}

/** The signal `runts kill` sends when none is given. */
export const DEFAULT_KILL_SIGNAL = 'SIGTERM';

export function signalNumber(sig: string | number): number {
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    if (n > 64) throw new RuntsError('EINVAL', `invalid signal ${sig}`);
    return n;
  }
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  const n = (constants.signals as Record<string, number>)[name];
  if (n === undefined) throw new RuntsError('EINVAL', `invalid signal ${JSON.stringify(sig)}`);
  return n;
}

/** Signal pid if it is still the process that started at startTime. */
export function signalProcess(pid: number, startTime: string, sig: number): boolean {
  if (processStartTime(pid) !== startTime) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Wait until the process is gone (or a zombie), up to timeoutMs. */
export async function waitGone(pid: number, startTime: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; processStartTime(pid) === startTime; delay = Math.min(delay * 2, 20)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
  }
  return true;
}
