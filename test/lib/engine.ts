/*
 * engine.ts - runs the real clients (podman, ctr) and daemons (containerd)
 * the engine tests drive runts with.
 *
 * Output goes to files, never pipes: an engine's monitor (conmon, the shim)
 * double-forks and may keep a pipe it inherited open long after the client
 * exited, and a reader waiting for EOF would hang.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureRunDir, RUN_PREFIX } from './cleanup.ts';

export interface CommandResult {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export async function runCommand(cmd: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CommandResult> {
  const scratch = mkdtempSync(join(ensureRunDir(), 'cmd-'));
  const out = openSync(join(scratch, 'stdout'), 'a');
  const err = openSync(join(scratch, 'stderr'), 'a');
  try {
    const child = spawn(cmd, args, {
      stdio: ['ignore', out, err],
      env: { ...process.env, RUNTS_TEST_RUN: RUN_PREFIX, ...opts.env },
      detached: true,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        /* gone */
      }
    }, opts.timeoutMs ?? 60_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (c, s) => resolve([c, s]));
    }).finally(() => clearTimeout(timer));
    return {
      args: [cmd, ...args],
      code,
      signal,
      stdout: readFileSync(join(scratch, 'stdout'), 'utf8'),
      stderr: readFileSync(join(scratch, 'stderr'), 'utf8'),
      timedOut,
    };
  } finally {
    closeSync(out);
    closeSync(err);
    rmSync(scratch, { recursive: true, force: true });
  }
}

export function describeCommand(r: CommandResult): string {
  const status = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  return `${r.args.join(' ')}: ${status}\n  stderr: ${r.stderr.trim() || '(empty)'}\n  stdout: ${r.stdout.trim().slice(0, 1500) || '(empty)'}`;
}

/* A daemon in the background, its output in logFile; stop() kills it and waits. */
export interface Daemon {
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

export function startDaemon(cmd: string, args: string[], logFile: string): Daemon {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, RUNTS_TEST_RUN: RUN_PREFIX }, detached: true });
  closeSync(fd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    log: () => readFileSync(logFile, 'utf8'),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
