/**
 * `runts exec`: run one more process inside a created or running container.
 *
 * The process is described by a process.json (`--process`, what podman's
 * conmon and containerd's shim pass) or by the container's own process with
 * the command line's changes (args, -e, --cwd, -u, --cap, --no-new-privs),
 * as runc does. Either way it gets the same treatment as the container's
 * first process: the plan joins every namespace and cgroup of INIT, then
 * runs the same process steps create compiles (plan/compile-exec.ts).
 *
 * Foreground, runts-init stays as the process's parent (STEP_SUPERVISE) and
 * the exit status propagates; with --detach runts returns once the process
 * is about to execve, and whoever adopts it (conmon, the shim) reaps it.
 *
 * Design: docs/design/exec-and-terminals.md, "exec reuses the executor".
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { primeCgroupMove } from '../cgroups/cgroup.ts';
import { resolveUser } from '../rootfs/users.ts';
import { execProcsFiles, parseSubCgroups } from '../cgroups/driver.ts';
import { RuntsError } from '../errors.ts';
import type { CapabilityName, Process, Spec } from '../oci/types.ts';
import { loadSpec, validateProcess } from '../oci/validate.ts';
import { compileExecPlan } from '../plan/compile-exec.ts';
import { probeExecHost } from '../plan/host.ts';
import { encodePlan } from '../protocol/encode.ts';
import { launch } from '../plan/executor.ts';
import type { RuntimeContext } from './create.ts';
import { processStartTime, signalProcess } from './process.ts';
import { exitCode } from './run.ts';
import { writePidFile } from './pid-file.ts';

export interface ExecOptions {
  id: string;
  /** A process.json; when given, the flags that describe the process are ignored. */
  processFile?: string;
  args?: string[];
  tty?: boolean;
  detach?: boolean;
  consoleSocket?: string;
  pidFile?: string;
  env?: string[];
  cwd?: string;
  /** "uid" or "uid:gid" */
  user?: string;
  additionalGids?: number[];
  caps?: string[];
  noNewPrivs?: boolean;
  preserveFds?: number;
  /** Exec into a paused container anyway (runc's --ignore-paused): the process is set up once the container is resumed. */
  ignorePaused?: boolean;
  /** Sub-cgroups of the container's to put the process in (runc's --cgroup): see parseSubCgroups. */
  cgroups?: string[];
  /** AF_UNIX socket that receives a pidfd of the process (runc's --pidfd-socket). */
  pidfdSocket?: string;
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'] as const;

/** Returns the exit code for runts: the process's status in the foreground, 0 detached. */
export async function exec(ctx: RuntimeContext, opts: ExecOptions): Promise<number> {
  const record = ctx.store.read(opts.id);
  const status = ctx.store.status(record);
  if (status === 'paused' && !opts.ignorePaused) {
    throw new RuntsError('ESTATE', `cannot exec in a paused container (${opts.id}): resume it first, or use --ignore-paused to wait for the resume`);
  }
  if (status !== 'running' && status !== 'created' && status !== 'paused') {
    throw new RuntsError('ESTATE', `cannot exec in container ${opts.id}: it is ${status}, not running`);
  }
  primeCgroupMove(); // runts-init moves the process into the container's cgroups: see there
  const spec = configOf(ctx, record.bundle);
  const proc = execProcess(spec?.process, opts, record.rootfs);
  if (proc.terminal && !opts.consoleSocket && opts.detach) {
    throw new RuntsError('EINVAL', 'exec --tty --detach: a detached terminal needs --console-socket');
  }
  if (!proc.terminal && opts.consoleSocket) throw new RuntsError('EINVAL', '--console-socket: given, but the process has no terminal (use --tty)');
  const plan = compileExecPlan(proc, probeExecHost(record.pid), {
    id: record.id,
    noNewKeyring: record.noNewKeyring,
    pid: record.pid,
    cgroupProcs: execProcsFiles(record.cgroupDirs, record.pid, parseSubCgroups(opts.cgroups ?? [])),
    consoleSocket: opts.consoleSocket && resolve(opts.consoleSocket),
    preserveFds: opts.preserveFds,
    supervise: !opts.detach,
    seccomp: spec?.linux?.seccomp,
    pidfdSocket: opts.pidfdSocket && resolve(opts.pidfdSocket),
    warn: ctx.warn,
  });
  // The namespaces were named by pid: if INIT was gone before its files were
  // opened, the pid might be another process's by now.
  if (processStartTime(record.pid) !== record.pidStartTime) throw new RuntsError('ESTATE', `cannot exec in container ${opts.id}: it has stopped`);
  let execPid = 0;
  let execStart = '';
  const launched = await launch(plan, encodePlan(plan), { preserveFds: opts.preserveFds ?? 0 }, {
    onPid: (pid) => {
      execPid = pid;
      execStart = processStartTime(pid) ?? '';
    },
    onHooks: async () => '',
    debug: ctx.debug,
  });
  if (processStartTime(record.pid) !== record.pidStartTime) {
    signalProcess(execPid, execStart, constants.signals.SIGKILL);
    await launched.release();
    throw new RuntsError('ESTATE', `cannot exec in container ${opts.id}: it stopped while the process was set up`);
  }
  if (opts.pidFile) writePidFile(resolve(opts.pidFile), execPid);
  if (opts.detach) {
    await launched.release();
    return 0;
  }
  const forward = (sig: NodeJS.Signals) => signalProcess(execPid, execStart, constants.signals[sig]);
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    return exitCode(await launched.exitStatus());
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
  }
}

/** The container's config.json, as the bundle holds it now (an engine may have removed it). */
function configOf(ctx: RuntimeContext, bundle: string): Spec | undefined {
  try {
    return loadSpec(bundle);
  } catch (err) {
    ctx.debug(`exec: no usable config.json in ${bundle} (${(err as Error).message}): starting from defaults`);
    return undefined;
  }
}

/** The process to run: process.json, or the container's process changed by the flags. */
/** The process to exec; `rootfs` (the container's, host side) resolves a user given by name. */
export function execProcess(base: Process | undefined, opts: ExecOptions, rootfs?: string): Process {
  if (opts.processFile) {
    const proc = readProcessFile(resolve(opts.processFile));
    if (opts.tty) proc.terminal = true;
    return proc;
  }
  if (!opts.args?.length) throw new RuntsError('EINVAL', 'exec: no command given (give args or --process)');
  const proc: Process = structuredClone(base) ?? { user: { uid: 0, gid: 0 }, args: [], cwd: '/' };
  proc.args = opts.args;
  proc.terminal = !!opts.tty;
  delete proc.consoleSize;
  if (opts.env?.length) proc.env = mergeEnv(proc.env ?? [], opts.env);
  if (opts.cwd) proc.cwd = opts.cwd;
  if (opts.user) proc.user = { ...parseUser(opts.user, rootfs), additionalGids: opts.additionalGids ?? [] };
  else if (opts.additionalGids?.length) proc.user = { ...proc.user, additionalGids: opts.additionalGids };
  if (opts.noNewPrivs) proc.noNewPrivileges = true;
  if (opts.caps?.length) {
    // in every set, inheritable too: a non-root process keeps it only as ambient
    const caps = (proc.capabilities ??= {});
    for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const) {
      caps[set] = [...new Set([...(caps[set] ?? []), ...opts.caps.map(capName)])];
    }
  }
  // The flags went through no validation of their own: check the result.
  return validateProcess(proc, 'exec process');
}

function readProcessFile(file: string): Process {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new RuntsError('ENOENT', `process file ${file}: no such file or directory`, { errno: e.errno, path: file, cause: err });
    throw new RuntsError('ESYSTEM', `read process file ${file}: ${e.message}`, { errno: e.errno, path: file, cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RuntsError('EINVAL_CONFIG', `process file ${file}: invalid JSON: ${(err as Error).message}`, { path: file, cause: err });
  }
  // A process.json without a user runs as root, as runc runs it (what
  // runc's own tests pass); config.json's process must name its user.
  if (raw && typeof raw === 'object' && !('user' in raw)) (raw as { user?: unknown }).user = { uid: 0, gid: 0 };
  return validateProcess(raw, file);
}

/** -e KEY=value replaces the container's KEY, or adds it. */
function mergeEnv(base: string[], extra: string[]): string[] {
  const env = new Map(base.map((e) => [e.split('=')[0]!, e]));
  for (const e of extra) {
    if (!e.includes('=')) throw new RuntsError('EINVAL', `--env ${JSON.stringify(e)}: expected KEY=value`);
    env.set(e.split('=')[0]!, e);
  }
  return [...env.values()];
}

/** runc's `uid[:gid]` (gid 0 if not given); a name (`nobody`, `www:adm`) as the container's /etc/passwd and /etc/group say. */
function parseUser(user: string, rootfs?: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (m) return { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
  if (!rootfs) throw new RuntsError('EINVAL', `--user ${JSON.stringify(user)}: expected uid[:gid] (numbers)`);
  return resolveUser(rootfs, user);
}

function capName(cap: string): CapabilityName {
  const up = cap.toUpperCase();
  return (up.startsWith('CAP_') ? up : `CAP_${up}`) as CapabilityName;
}
