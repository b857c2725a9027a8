/**
 * Running OCI hooks on the host: createRuntime, prestart, poststart, poststop.
 * (createContainer and startContainer run inside the container; the executor
 * runs those, see STEP_RUN_HOOK.)
 *
 * Each hook gets the container state as JSON on stdin, its own args and env,
 * and a timeout. Hooks run in order; the spec decides what a failure means:
 * before the user process starts it fails the operation, after it only warns.
 *
 * The book: docs/09-writing-runtime.md, "Hooks".
 */
import { RuntsError } from '../errors.ts';
import type { Hook, State } from '../oci/types.ts';

export type HookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export async function runHooks(kind: HookKind, hooks: Hook[] | undefined, state: State): Promise<void> {
  for (const [i, hook] of (hooks ?? []).entries()) await runHook(`hooks.${kind}[${i}]`, hook, state);
}

/** Run hooks whose failure must not stop the lifecycle; report each failure. */
export async function runHooksWarning(kind: HookKind, hooks: Hook[] | undefined, state: State, warn: (msg: string) => void): Promise<void> {
  for (const [i, hook] of (hooks ?? []).entries()) {
    try {
      await runHook(`hooks.${kind}[${i}]`, hook, state);
    } catch (err) {
      warn((err as Error).message);
    }
  }
}

async function runHook(where: string, hook: Hook, state: State): Promise<void> {
  const { spawn } = await import('node:child_process'); // lazily: see plan/executor.ts
  return new Promise((resolvePromise, reject) => {
    const [argv0, ...rest] = hook.args?.length ? hook.args : [hook.path];
    const child = spawn(hook.path, rest, { argv0, env: Object.fromEntries((hook.env ?? []).map(splitEnv)), stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    const timer = hook.timeout ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, hook.timeout * 1000) : undefined;
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString(); });
    child.stdin.on('error', () => {}); // a hook that ignores stdin may close it early
    child.stdin.end(JSON.stringify(state));
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new RuntsError('EHOOK', `${where}: run ${hook.path}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`, { path: hook.path, errno: err.errno, cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolvePromise();
      const why = timedOut ? `timed out after ${hook.timeout}s` : signal ? `killed by ${signal}` : `exited with status ${code}`;
      const detail = stderr.trim() ? `: ${stderr.trim().split('\n').join(' ')}` : '';
      reject(new RuntsError('EHOOK', `${where}: error running hook ${hook.path}: ${why}${detail}`, { path: hook.path }));
    });
  });
}

function splitEnv(kv: string): [string, string] {
  const i = kv.indexOf('=');
  return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
}
