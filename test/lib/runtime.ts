/*
 * runtime.ts - runs the runtime CLI under test.
 *
 * The binary is $RUNTS_BIN, or <repo>/bin/runts. Pointing RUNTS_BIN at
 * /usr/sbin/runc runs the same tests against runc: that is how the tests
 * themselves are checked.
 *
 * stdout and stderr go to files, never pipes: `create` and `run --detach`
 * hand their stdio to the container, and a pipe held by a container process
 * would keep the read side open long after the runtime exits.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ensureRunDir, RUN_PREFIX } from './cleanup.ts';
import { REPO } from './probe.ts';

export const RUNTS_BIN = process.env.RUNTS_BIN || join(REPO, 'bin/runts');

/* For messages only: assertions never branch on which runtime runs. */
export const RUNTIME_NAME = basename(RUNTS_BIN);

export interface RuntsOptions extends RunOptions {
  root: string; // --root: always a per-test state dir
  globalArgs?: string[]; // e.g. ['--log-format', 'json'], placed before the command
}

export interface RuntsResult {
  args: string[];
  code: number | null; // null when killed by a signal
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export function runtimeAvailable(): string | null {
  return existsSync(RUNTS_BIN) ? null : `${RUNTS_BIN} not found (run \`npm run build\`, or set RUNTS_BIN)`;
}

export async function runts(args: string[], opts: RuntsOptions): Promise<RuntsResult> {
  const fullArgs = ['--root', opts.root, ...(opts.globalArgs ?? []), ...args];
  return { ...(await runLogged(RUNTS_BIN, fullArgs, opts)), args: fullArgs };
}

export interface RunOptions {
  stdoutFile?: string; // keep stdout in this file (it outlives the call: a container writes there)
  stdin?: number | 'ignore'; // fd; default /dev/null
  extraFds?: number[]; // become fds 3, 4, ... of the command (for --preserve-fds)
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

/*
 * Run a command with its output in files, in its own process group (so a
 * timeout kills everything it started), and read the files when it exits.
 */
export async function runLogged(cmd: string, args: string[], opts: RunOptions = {}): Promise<RuntsResult> {
  const scratch = mkdtempSync(join(ensureRunDir(), 'io-'));
  const stdoutPath = opts.stdoutFile ?? join(scratch, 'stdout');
  const stderrPath = join(scratch, 'stderr');
  const fds: number[] = [];
  // RUNTS_TEST_RUN lets a leak check attribute helper processes to this run (cleanup.ts)
  const env: NodeJS.ProcessEnv = { ...process.env, RUNTS_TEST_RUN: RUN_PREFIX, ...opts.env };
  delete env.NODE_TEST_CONTEXT; // the test runner's marker must not reach a Node-based CLI
  try {
    const out = openSync(stdoutPath, 'a');
    fds.push(out);
    const err = openSync(stderrPath, 'a');
    fds.push(err);
    const child = spawn(cmd, args, {
      stdio: [opts.stdin ?? 'ignore', out, err, ...(opts.extraFds ?? [])],
      env,
      cwd: opts.cwd,
      detached: true,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        /* already gone */
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
      stdout: readFileSync(stdoutPath, 'utf8'),
      stderr: readFileSync(stderrPath, 'utf8'),
      timedOut,
    };
  } finally {
    for (const fd of fds) closeSync(fd);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/* One line for assertion messages. */
export function describeResult(r: RuntsResult): string {
  const status = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  return `${RUNTIME_NAME} ${r.args.join(' ')}: ${status}\n  stderr: ${r.stderr.trim() || '(empty)'}\n  stdout: ${r.stdout.trim().slice(0, 1500) || '(empty)'}`;
}
