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
 * Pure, as compile.ts: what it knows of the machine is in ExecHostFacts
 * (plan/host.ts, probeExecHost).
 *
 * Design: docs/design/exec-and-terminals.md, "exec reuses the executor".
 */
import type { LinuxSeccomp, Process } from '../oci/types.ts';
import { NAMESPACE_FLAGS } from '../oci/kernel-numbers.ts';
import { sessionKeyringStep } from '../security/keyring.ts';
import { pidfdSteps, processSteps, ptyOwner, seccompStep } from './compile.ts';
import type { ExecHostFacts } from './host.ts';
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
  /** --pidfd-socket: the AF_UNIX socket (absolute path) that receives a pidfd of the process. */
  pidfdSocket?: string;
  warn: (msg: string) => void;
}

const CONSOLE_SLOT = 1;

/** /proc/<pid>/ns file names, and who joins each: PARENT before clone, or INIT. */
const JOINED_BY_PARENT = [['user', 'user'], ['ipc', 'ipc'], ['uts', 'uts'], ['net', 'network'], ['pid', 'pid'], ['time', 'time']] as const;
// cgroup before mount: after the mount namespace, /proc is the container's
// and /proc/<host pid> means nothing there.
const JOINED_BY_INIT = [['cgroup', 'cgroup'], ['mnt', 'mount']] as const;

export function compileExecPlan(process: Process, host: ExecHostFacts, ctx: ExecPlanContext): Step[] {
  const join = new Set(host.join);
  const plan: Step[] = [];
  if (ctx.consoleSocket) plan.push(steps.consoleConnect(CONSOLE_SLOT, ctx.consoleSocket));
  // Foreground with a terminal and no socket: PARENT proxies it.
  else if (process.terminal && ctx.supervise) plan.push(steps.consolePair(CONSOLE_SLOT));
  const pidfd = pidfdSteps(ctx.pidfdSocket, 'setns');
  plan.push(...pidfd.connect);
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
  const seccompLoad = seccompStep(ctx.seccomp, host.arch, ctx.warn);
  plan.push(...processSteps(process, { ...ctx, capabilities: host.capabilities, seccomp: seccompLoad, keyring: sessionKeyringStep(ctx.id, ctx.noNewKeyring), pidfd: pidfd.send }));
  plan.push(steps.reportCreated());
  // as in create: with no_new_privs the filter waits for the last moment
  if (seccompLoad && process.noNewPrivileges) plan.push(seccompLoad);
  plan.push(steps.exec(process.args));
  return plan;
}
