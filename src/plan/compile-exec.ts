/**
 * Compile the plan for `runts exec`: a new process inside a running
 * container, in every one of its namespaces and cgroups.
 *
 * Nothing is mounted and nothing pivots: the container's mount namespace
 * already has its root as "/". The order is what the kernel allows:
 *   - PARENT joins the user namespace first (it owns the others), then ipc,
 *     uts, network, pid and time; joined pid and time namespaces apply to
 *     children, so the clone (no new namespaces) gives an INIT inside them;
 *   - PARENT stays in the host's mount tree to write INIT's pid into the
 *     container's cgroup.procs files (host paths);
 *   - INIT then joins the cgroup namespace (it sits in the container's
 *     cgroup by now, since GO comes after the Q steps), and the mount
 *     namespace last, as that changes what /proc/<pid> means;
 *   - the process steps are the very ones create uses (processSteps).
 *
 * Design: docs/design/exec-and-terminals.md, "exec reuses the executor".
 */
import { statSync } from 'node:fs';
import type { LinuxSeccomp, Process } from '../oci/types.ts';
import { NAMESPACE_FLAGS } from '../oci/kernel-numbers.ts';
import { sessionKeyringStep } from '../security/keyring.ts';
import { grantableCapabilities } from '../security/capabilities.ts';
import { nativeArch } from '../security/seccomp/arch.ts';
import { processSteps, ptyOwner, seccompStep } from './compile.ts';
import { steps, type Step } from '../protocol/steps.ts';

export interface ExecPlanContext {
  /** The container's id: its session keyring is joined by name. */
  id: string;
  /** The container keeps the caller's session keyring (created with --no-new-keyring). */
  noNewKeyring?: boolean;
  /** INIT of the container, in runts's pid namespace. */
  pid: number;
  /** cgroup.procs files of the container. */
  cgroupProcs: string[];
  consoleSocket?: string;
  preserveFds?: number;
  /** Foreground: PARENT waits and reports the exit status. */
  supervise?: boolean;
  /** The container's filter (config.json): an exec'd process gets it too. */
  seccomp?: LinuxSeccomp;
  /** Which of INIT's namespaces (/proc/<pid>/ns names) to join; default:
   * those that differ from runts's own (namespacesToJoin). */
  join?: string[];
  warn: (msg: string) => void;
}

const CONSOLE_SLOT = 1;

/** /proc/<pid>/ns file names, and who joins each: PARENT before clone, or INIT. */
const JOINED_BY_PARENT = [['user', 'user'], ['ipc', 'ipc'], ['uts', 'uts'], ['net', 'network'], ['pid', 'pid'], ['time', 'time']] as const;
// cgroup before mount: after the mount namespace, /proc is the container's
// and /proc/<host pid> means nothing there.
const JOINED_BY_INIT = [['cgroup', 'cgroup'], ['mnt', 'mount']] as const;

export function compileExecPlan(process: Process, ctx: ExecPlanContext): Step[] {
  const join = new Set(ctx.join ?? namespacesToJoin(ctx.pid));
  const plan: Step[] = [];
  if (ctx.consoleSocket) plan.push(steps.consoleConnect(CONSOLE_SLOT, ctx.consoleSocket));
  // Foreground with a terminal and no socket: PARENT proxies it.
  else if (process.terminal && ctx.supervise) plan.push(steps.consolePair(CONSOLE_SLOT));
  for (const [file, type] of JOINED_BY_PARENT) {
    if (join.has(file)) plan.push(steps.joinNamespace(NAMESPACE_FLAGS[type], type, `/proc/${ctx.pid}/ns/${file}`));
  }
  plan.push(steps.clone(0, []));
  for (const file of ctx.cgroupProcs) plan.push(steps.cgroupAdd(file));
  if (ctx.supervise) plan.push(steps.supervise());
  for (const [file, type] of JOINED_BY_INIT) {
    if (join.has(file)) plan.push(steps.enterNamespace(NAMESPACE_FLAGS[type], type, `/proc/${ctx.pid}/ns/${file}`));
  }
  if (process.terminal) {
    // The pty comes from the container's devpts, as at create; exec's
    // terminal is not the container's /dev/console.
    plan.push(steps.setupConsole(CONSOLE_SLOT, process.consoleSize?.height ?? 0, process.consoleSize?.width ?? 0, '', ptyOwner(process)));
  }
  if (process.oomScoreAdj !== undefined) plan.push(steps.writeProc('/proc/self/oom_score_adj', String(process.oomScoreAdj)));
  // exec reads its two host facts here (create's come from the host probe, plan/host.ts)
  const seccompLoad = seccompStep(ctx.seccomp, nativeArch(), ctx.warn);
  plan.push(...processSteps(process, { ...ctx, capabilities: grantableCapabilities(), seccomp: seccompLoad, keyring: sessionKeyringStep(ctx.id, ctx.noNewKeyring) }));
  plan.push(steps.reportCreated());
  // as in create: with no_new_privs the filter waits for the last moment
  if (seccompLoad && process.noNewPrivileges) plan.push(seccompLoad);
  plan.push(steps.exec(process.args));
  return plan;
}

/**
 * The namespaces of pid that runts is not in. One the container shares with
 * runts is not joined: setns into the user namespace one already is in
 * fails (EINVAL), and for the others it would change nothing.
 */
export function namespacesToJoin(pid: number): string[] {
  return [...JOINED_BY_PARENT, ...JOINED_BY_INIT].map(([file]) => file).filter((file) => {
    const theirs = statSync(`/proc/${pid}/ns/${file}`, { throwIfNoEntry: false });
    if (!theirs) return false; // a kernel without this namespace type
    const ours = statSync(`/proc/self/ns/${file}`);
    return theirs.ino !== ours.ino || theirs.dev !== ours.dev;
  });
}
