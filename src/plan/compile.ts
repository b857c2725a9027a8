/**
 * Compile a validated config.json into the plan of the whole container:
 * compile(spec, host, ctx) -> Plan (plan.ts). Its cgroups, limits and
 * device rules come from compile-cgroup.ts; the rest of this file makes the
 * steps runts-init executes. Pure: what it knows of the machine is `host`,
 * read once by the probe (host.ts), so bad input fails before anything is
 * touched, and tests compile for made-up hosts.
 *
 * Every decision is made here; the order of the steps is the order in which
 * the kernel allows (or security demands) things to happen:
 *   - namespaces are joined before clone, so INIT is born inside them;
 *   - INIT enters its cgroup before it unshares the cgroup namespace, so the
 *     namespace's root is the container's own cgroup;
 *   - mounts happen against the root fd, before pivot_root; masking and
 *     read-only paths after, so they cover what the mounts put there;
 *   - rlimits and the bounding set are set while INIT is still root; the user
 *     switch keeps capabilities so the final sets can be applied after it;
 *   - seccomp comes as late as the kernel allows (runc's rule): with
 *     no_new_privs, right before execve, so the runtime's own syscalls are
 *     not filtered; without it, loading a filter needs CAP_SYS_ADMIN, so it
 *     comes before the bounding set and the user switch drop it.
 *
 * The book: docs/09-writing-runtime.md, "From config.json to a plan".
 */
import { posix } from 'node:path';
import { RuntsError } from '../errors.ts';
import type { Hook, Linux, LinuxSeccomp, Process, SeccompArch, Spec } from '../oci/types.ts';
import { NAMESPACE_FLAGS, RLIMIT_NUMBERS } from '../oci/kernel-numbers.ts';
import { deviceSteps, needsDevSetup } from '../rootfs/devices.ts';
import { MS, propagationFlags, propagationName } from '../rootfs/mount-options.ts';
import { devReadonlyStep, mountSteps } from '../rootfs/mounts.ts';
import { hostPseudoMounts } from '../rootfs/no-pivot.ts';
import { capabilityMasks, capabilityNames } from '../security/capabilities.ts';
import { compileSeccomp } from '../security/seccomp/compile.ts';
import { recorderFilter, SECCOMP_FILTER_FLAG_NEW_LISTENER } from '../security/seccomp/record.ts';
import { sessionKeyringStep } from '../security/keyring.ts';
import { lsmLabel, lsmSteps } from '../security/lsm.ts';
import { procsFile } from '../cgroups/cgroup.ts';
import type { Hierarchy } from '../cgroups/layout.ts';
import { unescapeMountPath } from '../sys/mounts.ts';
import { RUNTS_SLOTS } from '../protocol/protocol.ts';
import { checkMappedIds, idMapSteps } from '../rootless/idmap.ts';
import { compileCgroup } from './compile-cgroup.ts';
import { configPaths, type HostFacts } from './host.ts';
import type { Plan } from './plan.ts';
import { steps, type Step } from '../protocol/steps.ts';

/** What the verb adds to the config: where the container's files go, and create's and run's options. */
export interface PlanContext {
  /** The container's id: names its session keyring and its cgroup. */
  id: string;
  bundle: string;
  /** The container's state directory (runtime/store.ts). */
  stateDir: string;
  fifoPath: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  /** Keep the caller's session keyring (runc's --no-new-keyring). */
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** Foreground `run`: PARENT stays to report INIT's exit status. */
  supervise?: boolean;
  /** PARENT writes INIT's wait status here when it exits; without `supervise` it stays on after runts, detached. */
  exitFile?: string;
  warn: (msg: string) => void;
  /** Record the container's system calls to this file instead of applying linux.seccomp (security/seccomp/record.ts). */
  seccompRecord?: string;
  /** --pidfd-socket: the AF_UNIX socket (absolute path) that receives a pidfd of INIT. */
  pidfdSocket?: string;
  /** run --no-subreaper: a foreground PARENT does not make itself a child subreaper. */
  noSubreaper?: boolean;
}

/** The state documents of MSG_HOOKS_DONE, in order (see hookStates in runtime/create.ts). */
export const CREATING_STATE = 0;
export const CREATED_STATE = 1;

const FIFO_SLOT = 0;
const CONSOLE_SLOT = 1;
const LSM_SLOT = 2;
/** The last slot is --pidfd-socket's (pidfdSteps). */
export const PIDFD_SLOT = RUNTS_SLOTS - 1;
/** The rest hold idmapped mount trees (rootfs/idmap.ts). */
const TREE_SLOTS = Array.from({ length: RUNTS_SLOTS - 4 }, (_, k) => 3 + k);

/**
 * The whole container, decided: its cgroups and limits, the executor's
 * steps, the hooks runts runs and the files it writes. Pure: everything it
 * knows of the machine is in `host` (plan/host.ts).
 */
export function compile(spec: Spec, host: HostFacts, ctx: PlanContext): Plan {
  const hooks = spec.hooks ?? {};
  const cgroup = compileCgroup(spec, host, ctx);
  return {
    id: ctx.id,
    cgroup,
    steps: [...cgroup.steps, ...executorSteps(spec, host, ctx, cgroup)],
    hooks: { prestart: hooks.prestart ?? [], createRuntime: hooks.createRuntime ?? [], poststart: hooks.poststart ?? [], poststop: hooks.poststop ?? [] },
    state: { dir: ctx.stateDir, pidFile: ctx.pidFile },
  };
}

/** The executor's steps after the cgroup's own (compile-cgroup.ts). */
function executorSteps(spec: Spec, host: HostFacts, ctx: PlanContext, cgroup: { dirs: string[]; dirOf: (h: Hierarchy) => string }): Step[] {
  const process = spec.process!;
  const linux = spec.linux ?? {};
  const nsList = linux.namespaces ?? [];
  const newNs = new Set(nsList.filter((n) => !n.path).map((n) => n.type));
  if (!nsList.some((n) => n.type === 'mount')) {
    throw new RuntsError('EINVAL_CONFIG', 'linux.namespaces: a mount namespace is required (runts never mounts into the host\'s)');
  }
  checkNamespaces(nsList.map((n) => n.type), newNs, host);
  if (host.euid !== 0 && !nsList.some((n) => n.type === 'user')) {
    throw new RuntsError('EINVAL_CONFIG', 'linux.namespaces: runts runs as an unprivileged user, and without a user namespace it could mount nothing: add one with linux.uidMappings and linux.gidMappings (runts spec --rootless writes such a config)');
  }
  const rootfs = rootfsPath(spec, ctx.bundle, host);
  const plan: Step[] = [];
  const mounts = spec.mounts ?? [];
  // Inside a user namespace, new or joined, or the one runts runs in
  // (rootless podman's): INIT is not the host's root, and cannot mknod.
  const inUserns = nsList.some((n) => n.type === 'user') || host.rootless;
  const userMaps = newNs.has('user') ? { uid: linux.uidMappings ?? [], gid: linux.gidMappings ?? [] } : undefined;
  const mountPlan = mountSteps(mounts, {
    // no v1 cgroupfs, no sysfs of the host's network from a user namespace of runts's own or the one it runs in
    bundle: ctx.bundle, newUserns: newNs.has('user') || host.rootless, newNetns: newNs.has('network'), newCgroupns: newNs.has('cgroup'),
    cgroupDir: cgroup.dirOf, layout: host.cgroup.layout, paths: host.paths, userMaps, slots: TREE_SLOTS,
    hostPrivileged: !host.rootless && host.euid === 0, dirOwners: host.dirOwners,
  });

  // --- PARENT, before clone: things that need the host's view ---------------
  plan.push(steps.mkfifo(FIFO_SLOT, ctx.fifoPath));
  if (ctx.consoleSocket) plan.push(steps.consoleConnect(CONSOLE_SLOT, ctx.consoleSocket));
  // Foreground with a terminal and no socket: PARENT proxies it (steps_tty.c).
  else if (process.terminal && ctx.supervise) plan.push(steps.consolePair(CONSOLE_SLOT));
  // Idmapped trees are cut from the host's mount tree, as runts sees it.
  plan.push(...mountPlan.parent);
  const pidfd = pidfdSteps(ctx.pidfdSocket, 'standard');
  plan.push(...pidfd.connect);
  // A user namespace first: the others may be owned by it.
  for (const ns of [...nsList].sort((a, b) => Number(b.type === 'user') - Number(a.type === 'user'))) {
    if (ns.path) plan.push(steps.joinNamespace(NAMESPACE_FLAGS[ns.type]!, ns.type, ns.path));
  }
  // clone(2) cannot make a time namespace: PARENT unshares one for its children
  if (newNs.has('time')) plan.push(steps.unshareTime(timeOffsets(linux.timeOffsets)));
  const cloneNames = [...newNs].filter((t) => t !== 'cgroup' && t !== 'time');
  plan.push(steps.clone(cloneNames.reduce((f, t) => f | NAMESPACE_FLAGS[t]!, 0), cloneNames));

  // --- PARENT, after clone ---------------------------------------------------
  if (userMaps) {
    checkMappedIds(spec, userMaps.uid, userMaps.gid);
    if (!host.idMap) throw new RuntsError('EINTERNAL', 'host facts: no id map facts for a config with a user namespace (plan/host.ts reads them)');
    plan.push(...idMapSteps(userMaps.uid, userMaps.gid, process.user?.additionalGids ?? [], host.idMap));
  }
  for (const dir of cgroup.dirs) plan.push(steps.cgroupAdd(procsFile(dir)));
  if (ctx.supervise) plan.push(steps.supervise());
  // as runc: processes orphaned in a container without a pid namespace of
  // its own come to PARENT (and are reaped), not to the host's init
  if (ctx.supervise && !ctx.noSubreaper) plan.push(steps.subreaper());
  if (ctx.seccompRecord) plan.push(steps.seccompRecord(ctx.seccompRecord));
  if (ctx.exitFile) plan.push(steps.exitFile(ctx.exitFile, !ctx.supervise));

  // --- INIT: namespaces and the root filesystem ------------------------------
  if (nsList.some((n) => n.type === 'user')) plan.push(steps.becomeRoot());
  if (newNs.has('cgroup')) plan.push(steps.unshare(NAMESPACE_FLAGS.cgroup!, ['cgroup']));
  // Our copy of the mount tree must not propagate mounts back to the host.
  const rootProp = linux.rootfsPropagation ? propagationFlags(linux.rootfsPropagation)! : MS.SLAVE | MS.REC;
  plan.push(steps.setPropagation('/', rootProp | MS.REC, propagationName(rootProp | MS.REC)));
  // pivot_root refuses a new root whose parent mount is shared.
  plan.push(steps.setPropagation(parentMountOf(rootfs, host.mountinfo), MS.PRIVATE, 'private'));
  plan.push(steps.rootfs(rootfs));
  plan.push(...mountPlan.init);
  plan.push(...deviceSteps(linux.devices ?? [], { setupDev: needsDevSetup(mounts), inUserns, kcore: host.kcore }));
  // Written through the host's /proc while INIT already lives in its own
  // namespaces: /proc/sys/net, kernel.hostname and friends follow the writer.
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) plan.push(steps.writeProc(sysctlPath(key), value));
  if (process.oomScoreAdj !== undefined) plan.push(steps.writeProc('/proc/self/oom_score_adj', String(process.oomScoreAdj)));

  // --- INIT: hooks around the root switch ------------------------------------
  // INIT pauses while runts runs the host-side hooks; runts answers with the
  // state documents for the in-container hooks (CREATING_STATE, CREATED_STATE).
  const hooks = spec.hooks ?? {};
  const hookCount = (['prestart', 'createRuntime', 'createContainer', 'startContainer'] as const).reduce((n, k) => n + (hooks[k]?.length ?? 0), 0);
  // the pause is also when runts moves linux.netDevices in (network/net-devices.ts)
  if (hookCount > 0 || Object.keys(linux.netDevices ?? {}).length) plan.push(steps.hooksSync());
  for (const h of hooks.createContainer ?? []) plan.push(steps.runHook('createContainer', hookValues(h), CREATING_STATE));
  // The LSM attr file is opened while "/" is the host's: see security/lsm.ts.
  const lsm = lsmLabel(process, spec.linux, host.lsms);
  const lsmLoad = lsm && lsmSteps(lsm, LSM_SLOT);
  if (lsmLoad) plan.push(lsmLoad.open);
  if (ctx.noPivot) plan.push(...hostPseudoMounts(rootfs, host.mountinfo).map(steps.detachMount));
  plan.push(ctx.noPivot ? steps.chroot() : steps.pivotRoot());
  // as runc: no descriptor of the host's mount tree on stdio (CRIU could not dump it)
  if (needsDevSetup(mounts)) plan.push(steps.reopenDevNull());
  if (linux.rootfsPropagation) plan.push(steps.setPropagation('/', rootProp, linux.rootfsPropagation));
  for (const p of linux.maskedPaths ?? []) plan.push(steps.maskPath(p));
  for (const p of linux.readonlyPaths ?? []) plan.push(steps.readonlyPath(p));
  if (spec.root?.readonly) plan.push(steps.remountRootReadonly());
  if (spec.hostname !== undefined) plan.push(steps.setHostname(spec.hostname));
  if (spec.domainname !== undefined) plan.push(steps.setDomainname(spec.domainname));

  // --- INIT: the process ------------------------------------------------------
  if (process.terminal) {
    if (!ctx.consoleSocket && !ctx.supervise) throw new RuntsError('EINVAL_CONFIG', 'process.terminal: a terminal needs --console-socket (or a foreground run)');
    // runtime-spec: with a terminal, /dev/console is the container's pty.
    plan.push(steps.setupConsole(CONSOLE_SLOT, process.consoleSize?.height ?? 0, process.consoleSize?.width ?? 0, needsDevSetup(mounts) ? '/dev/console' : '', ptyOwner(process)));
  } else if (ctx.consoleSocket) {
    throw new RuntsError('EINVAL_CONFIG', '--console-socket: given, but process.terminal is false');
  } else {
    // as runc: the container's process leads a session of its own (with a terminal, SETUP_CONSOLE does it)
    plan.push(steps.setsid());
  }
  // after /dev/console: a read-only /dev is made so last
  const devReadonly = devReadonlyStep(mounts);
  if (devReadonly) plan.push(devReadonly);
  if (lsmLoad) plan.push(lsmLoad.write);
  const seccompLoad = ctx.seccompRecord ? recorderStep(ctx, process) : seccompStep(linux.seccomp, host.arch, ctx.warn);
  plan.push(...processSteps(process, { ...ctx, capabilities: host.capabilities, seccomp: seccompLoad, keyring: sessionKeyringStep(ctx.id, ctx.noNewKeyring), pidfd: pidfd.send }));
  plan.push(steps.reportCreated());
  // With no_new_privs the filter waits until the container's own code is
  // next: the startContainer hooks run in the container, so under its
  // filter too (as in runc); only reading the start fifo is left to allow.
  if (seccompLoad && process.noNewPrivileges) plan.push(seccompLoad);
  plan.push(steps.waitStart(FIFO_SLOT));
  for (const h of hooks.startContainer ?? []) plan.push(steps.runHook('startContainer', hookValues(h), CREATED_STATE));
  plan.push(steps.exec(process.args!));
  return plan;
}

/**
 * --pidfd-socket, shared by create and exec: PARENT connects to the socket
 * before it joins or makes any namespace, and INIT sends a pidfd of itself
 * with runc's message ("standard" for a container's first process, "setns"
 * for exec's) as the first of its process steps.
 */
export function pidfdSteps(socket: string | undefined, kind: 'standard' | 'setns'): { connect: Step[]; send?: Step } {
  if (!socket) return { connect: [] };
  return { connect: [steps.pidfdConnect(PIDFD_SLOT, socket)], send: steps.sendPidfd(PIDFD_SLOT, kind) };
}

/**
 * The process's own settings, shared by create and exec: its session keyring,
 * limits, identity, capabilities, umask, cwd, the command, and which
 * descriptors it keeps.
 */
export function processSteps(process: Process, ctx: { warn: (msg: string) => void; capabilities: bigint; preserveFds?: number; seccomp?: Step; keyring?: Step; pidfd?: Step }): Step[] {
  const out: Step[] = [];
  // The receiver of --pidfd-socket holds the pidfd when the verb returns:
  // sent before the process's own settings (no filter, no user switch yet).
  if (ctx.pidfd) out.push(ctx.pidfd);
  // First, while INIT is root of its user namespace and no filter is loaded.
  if (ctx.keyring) out.push(ctx.keyring);
  for (const r of process.rlimits ?? []) {
    out.push(steps.setRlimit(r.type, RLIMIT_NUMBERS[r.type]!, rlimitValue(r.soft), rlimitValue(r.hard)));
  }
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
  // before the bounding set and the user switch drop it (the late load,
  // right before execve, is the caller's: see seccompStep).
  if (ctx.seccomp && !process.noNewPrivileges) out.push(ctx.seccomp);
  // As runc: cd first as root, then (if root was refused) as the user; the
  // user may reach a directory root cannot (a volume chowned to it), and
  // the reverse (a cwd only root can enter, for a process of another user).
  out.push(steps.chdir(process.cwd || '/', true));
  const caps = capabilityMasks(process.capabilities, ctx.capabilities, ctx.warn);
  out.push(steps.capBounding(caps.bounding, capabilityNames(caps.bounding)));
  const user = process.user ?? { uid: 0, gid: 0 };
  out.push(steps.setUser(user.uid, user.gid, user.additionalGids ?? []));
  out.push(steps.setCaps(caps, `effective [${capabilityNames(caps.effective).join(' ')}] permitted [${capabilityNames(caps.permitted).join(' ')}] inheritable [${capabilityNames(caps.inheritable).join(' ')}] ambient [${capabilityNames(caps.ambient).join(' ')}]`));
  if (process.noNewPrivileges) out.push(steps.noNewPrivileges());
  out.push(steps.umask(user.umask ?? 0o022));
  out.push(steps.chdir(process.cwd || '/', false));
  out.push(steps.prepareExec(process.args!, process.env ?? []));
  out.push(steps.closeFds(3 + (ctx.preserveFds ?? 0)));
  return out;
}

/** Who gets the process's terminal: its user, unless that is root (who owns it already). */
export function ptyOwner(process: Process): number {
  const uid = process.user?.uid ?? 0;
  return uid === 0 ? -1 : uid;
}

/** The step that loads linux.seccomp, if there is one (placement: see processSteps). */
export function seccompStep(seccomp: LinuxSeccomp | undefined, arch: SeccompArch, warn: (msg: string) => void): Step | undefined {
  if (!seccomp) return undefined;
  const compiled = compileSeccomp(seccomp, { warn, native: arch });
  return steps.seccomp(compiled.filter, compiled.flags, compiled.summary);
}

/** The filter that records (instead of linux.seccomp): its supervisor is PARENT, so no detach and no terminal proxy. */
function recorderStep(ctx: PlanContext, process: Process): Step {
  if (!ctx.supervise) throw new RuntsError('EINVAL', '--seccomp-record: only a container in the foreground can be recorded (not with --detach)');
  if (process.terminal) throw new RuntsError('EINVAL', '--seccomp-record: not with a terminal (process.terminal, -t)');
  return steps.seccomp(recorderFilter(), SECCOMP_FILTER_FLAG_NEW_LISTENER, 'record: every system call goes to PARENT, which lets it run and notes it');
}

function rootfsPath(spec: Spec, bundle: string, host: HostFacts): string {
  const path = configPaths(spec, bundle).root;
  const fact = host.paths[path];
  if (!fact || fact.kind === 'error') throw new RuntsError('ENOENT', `root.path: ${path}: no such directory`, { path });
  if (fact.kind !== 'dir') throw new RuntsError('EINVAL_CONFIG', `root.path: ${path}: not a directory`, { path });
  if (fact.realpath === '/') throw new RuntsError('EINVAL_CONFIG', `root.path: ${path} is the host's own root: a container needs a root filesystem of its own`, { path });
  return path;
}

/** JSON numbers above 2^53 arrive rounded: RLIM_INFINITY (2^64-1) as 2^64. */
function rlimitValue(n: number): bigint {
  return n >= 2 ** 64 - 1 ? 0xffffffffffffffffn : BigInt(n);
}

function hookValues(h: Hook) {
  return { path: h.path, args: h.args ?? [], env: h.env ?? [], timeout: h.timeout ?? 0 };
}

/** linux.timeOffsets as /proc/<pid>/timens_offsets lines. */
function timeOffsets(offsets: Linux['timeOffsets']): string {
  return Object.entries(offsets ?? {}).map(([clock, o]) => `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`).join('');
}

/** The kernel must have each namespace asked for, and allow a new user namespace if one is to be made. */
function checkNamespaces(types: string[], newNs: Set<string>, host: HostFacts): void {
  for (const type of new Set(types)) {
    const file = NAMESPACE_FILES[type];
    if (file && !host.namespaces.includes(file)) throw new RuntsError('ENOTSUP', `linux.namespaces: a ${type} namespace asked for, but this kernel has none (no /proc/self/ns/${file})`, { path: 'linux.namespaces' });
  }
  if (newNs.has('user') && !host.userNamespaces) throw new RuntsError('ENOTSUP', 'linux.namespaces: a new user namespace asked for, but this host allows none (/proc/sys/user/max_user_namespaces is 0)', { path: 'linux.namespaces' });
}

/** OCI namespace types -> their /proc/<pid>/ns file. */
const NAMESPACE_FILES: Record<string, string> = { pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup', time: 'time' };

/** Which sysctls may be set was checked by validation; here only the name becomes a path. */
function sysctlPath(key: string): string {
  const rel = key.replace(/\./g, '/');
  if (rel.split('/').some((c) => c === '..' || c === '' || c === '.')) throw new RuntsError('EINVAL_CONFIG', `linux.sysctl["${key}"]: invalid name`);
  return posix.join('/proc/sys', rel);
}

/** The host mount point that contains path (longest prefix in mountinfo). */
function parentMountOf(path: string, mountinfo: string): string {
  let best = '/';
  for (const line of mountinfo.split('\n')) {
    const mp = unescapeMountPath(line.split(' ')[4] ?? '');
    if ((path === mp || path.startsWith(mp.endsWith('/') ? mp : mp + '/')) && mp.length > best.length) best = mp;
  }
  return best;
}
