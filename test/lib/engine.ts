/*
 * engine.ts - runs the real clients (podman, ctr) and daemons (containerd)
 * the engine tests drive runts with.
 *
 * Output goes to files, never pipes: an engine's monitor (conmon, the shim)
 * double-forks and may keep a pipe it inherited open long after the client
 * exited, and a reader waiting for EOF would hang.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { RUN_PREFIX } from './cleanup.ts';
import { runLogged, type RuntsResult } from './runtime.ts';

export type CommandResult = RuntsResult;

export function runCommand(cmd: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CommandResult> {
  return runLogged(cmd, args, opts);
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
