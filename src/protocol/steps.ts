/**
 * Plan steps: one constructor per executor op, each carrying the values the C
 * side reads (in protocol.h order) and a one-line description for
 * `runts plan --explain`.
 *
 * The book: docs/09-writing-runtime.md, "The plan and the C stage".
 */
import { STEP, type StepName } from './protocol.ts';

export type Value =
  | { kind: 'int'; value: bigint }
  | { kind: 'str'; value: string | Uint8Array }
  | { kind: 'strs'; value: string[] }
  | { kind: 'ints'; value: bigint[] };

export type Actor = 'parent' | 'init';

export interface Step {
  op: StepName;
  actor: Actor;
  values: Value[];
  /** What the executor does, in words. */
  text: string;
  /** The config field the step serves ("mounts[2]"), named by its errors; never sent. */
  where?: string;
}

const int = (v: number | bigint): Value => ({ kind: 'int', value: BigInt(v) });
const str = (v: string | Uint8Array): Value => ({ kind: 'str', value: v });
const strs = (v: string[]): Value => ({ kind: 'strs', value: v });
const ints = (v: number[]): Value => ({ kind: 'ints', value: v.map(BigInt) });

function step(op: StepName, actor: Actor, text: string, ...values: Value[]): Step {
  if (!(op in STEP)) throw new Error(`unknown step ${op}`);
  return { op, actor, values, text };
}

const octal = (n: number) => '0' + n.toString(8);
const quote = (a: string[]) => a.map((s) => JSON.stringify(s)).join(' ');

export const steps = {
  mkfifo: (slot: number, path: string) =>
    step('STEP_MKFIFO', 'parent', `mkfifo ${path} and hold it open (slot ${slot}): the create/start handshake`, int(slot), str(path)),
  consoleConnect: (slot: number, path: string) =>
    step('STEP_CONSOLE_CONNECT', 'parent', `connect to console socket ${path} (slot ${slot})`, int(slot), str(path)),
  joinNamespace: (flag: number, name: string, path: string) =>
    step('STEP_JOIN_NS', 'parent', `setns into the existing ${name} namespace ${path}`, int(flag), str(path)),
  unshareTime: (offsets: string) =>
    step('STEP_UNSHARE_TIME', 'parent', `unshare a time namespace for INIT${offsets ? `, clocks offset: ${mapText(offsets)}` : ''}`, str(offsets)),
  clone: (flags: number, names: string[]) =>
    step('STEP_CLONE', 'parent', `clone INIT into new namespaces: ${names.join(', ') || '(none)'}`, int(flags)),
  writeIdMap: (kind: 'uid' | 'gid', content: string) =>
    step('STEP_WRITE_ID_MAP', 'parent', `write /proc/<init>/${kind}_map: ${mapText(content)}`, int(kind === 'uid' ? 0 : 1), str(content)),
  denySetgroups: () =>
    step('STEP_DENY_SETGROUPS', 'parent', 'write "deny" to /proc/<init>/setgroups: an unprivileged user may map its gid only then'),
  idMapTool: (kind: 'uid' | 'gid', tool: string, args: string[]) =>
    step('STEP_ID_MAP_TOOL', 'parent', `${tool} <init> ${args.join(' ')}: the setuid helper writes the ${kind} map from the ranges /etc/sub${kind} gives the user`, str(tool), strs(args)),
  cgroupAdd: (procsFile: string) =>
    step('STEP_CGROUP_ADD', 'parent', `move INIT into its cgroup: echo <pid> > ${procsFile}`, str(procsFile)),
  supervise: () => step('STEP_SUPERVISE', 'parent', 'stay as INIT\'s parent, wait for it and report its exit status'),
  pidfdConnect: (slot: number, path: string) =>
    step('STEP_PIDFD_CONNECT', 'parent', `connect to pidfd socket ${path} (slot ${slot})`, int(slot), str(path)),
  subreaper: () => step('STEP_SUBREAPER', 'parent', 'become a child subreaper: orphans of the container come to PARENT, which reaps them'),
  sendPidfd: (slot: number, message: string) =>
    step('STEP_SEND_PIDFD', 'init', `send a pidfd of this process over the pidfd socket (slot ${slot}, message "${message}")`, int(slot), str(message)),
  seccompRecord: (path: string) =>
    step('STEP_SECCOMP_RECORD', 'parent', `take INIT's seccomp listener, let every call run, and write each call made to ${path}`, str(path)),
  exitFile: (path: string, detached: boolean) =>
    step('STEP_EXIT_FILE', 'parent', `${detached ? 'outlive runts as INIT\'s supervisor (own session, no descriptor of runts\'s); ' : ''}when INIT exits, write its wait status and the time to ${path}`, str(path)),

  idmapTree: (t: { slot: number; source: string; recursive: number; uidMap: string; gidMap: string; attrSet: number; attrClear: number }) =>
    step('STEP_IDMAP_TREE', 'parent',
      `clone the mount tree at ${t.source}${t.recursive & 1 ? ' with its submounts' : ''} detached (slot ${t.slot}), ` +
        `idmapped${t.recursive & 2 ? ' recursively' : ''}: uid ${mapText(t.uidMap)}, gid ${mapText(t.gidMap)}` +
        (t.attrSet ? ` (mount attributes 0x${t.attrSet.toString(16)})` : ''),
      int(t.slot), str(t.source), int(t.recursive), str(t.uidMap), str(t.gidMap), int(t.attrSet), int(t.attrClear)),
  cloneTree: (t: { slot: number; source: string; recursive: boolean; attrSet: number; attrClear: number }) =>
    step('STEP_CLONE_TREE', 'parent', `clone the mount tree at ${t.source}${t.recursive ? ' with its submounts' : ''} detached (slot ${t.slot}), from the host's side: the container's user namespace cannot reach it` +
      (t.attrSet ? ` (mount attributes 0x${t.attrSet.toString(16)})` : ''), int(t.slot), str(t.source), int(t.recursive ? 1 : 0), int(t.attrSet), int(t.attrClear)),
  becomeRoot: () => step('STEP_BECOME_ROOT', 'init', 'become uid 0 / gid 0 of the user namespace'),
  unshare: (flags: number, names: string[]) =>
    step('STEP_UNSHARE', 'init', `unshare ${names.join(', ')} (now that INIT sits in its cgroup)`, int(flags)),
  setPropagation: (path: string, flags: number, name: string) =>
    step('STEP_SET_PROPAGATION', 'init', `mount --make-${name} ${path}`, str(path), int(flags)),
  rootfs: (path: string) => step('STEP_ROOTFS', 'init', `bind ${path} onto itself: it becomes the container's root`, str(path)),
  mount: (m: { source: string; target: string; fstype: string; flags: number; flagNames: string[]; data: string; create: 0 | 1 | 2 | 3; bind: boolean }) =>
    step(
      'STEP_MOUNT',
      'init',
      `mount ${m.bind ? '--bind ' : m.fstype ? `-t ${m.fstype} ` : ''}${m.source ? `${m.source} ` : ''}${m.target}` +
        (m.flagNames.length || m.data ? ` -o ${[...m.flagNames, m.data].filter(Boolean).join(',')}` : '') +
        (m.create ? ` (create the ${m.create === 2 ? 'file' : 'directory'} if missing)` : ''),
      str(m.source), str(m.target), str(m.fstype), int(m.flags), str(m.data), int(m.create), int(m.bind ? 1 : 0),
    ),
  detachMount: (path: string) =>
    step('STEP_DETACH_MOUNT', 'init', `detach the host's ${path} (umount -l; a tmpfs over it if locked): no full proc or sysfs stays visible`, str(path)),
  mountSetattr: (target: string, set: number, clear: number, names: string[]) =>
    step('STEP_MOUNT_SETATTR', 'init', `make every mount under ${target} ${names.join(',')} (mount_setattr, recursive)`, str(target), int(set), int(clear)),
  mountPropagation: (target: string, flags: number, names: string[]) =>
    step('STEP_MOUNT_PROPAGATION', 'init', `mount --make-${names.join(' --make-')} ${target}`, str(target), int(flags)),
  mknod: (d: { path: string; mode: number; major: number; minor: number; uid: number; gid: number }) =>
    step('STEP_MKNOD', 'init', `mknod -m ${octal(d.mode & 0o7777)} ${d.path} ${typeLetter(d.mode)} ${d.major} ${d.minor}; chown ${d.uid}:${d.gid}`,
      str(d.path), int(d.mode), int(d.major), int(d.minor), int(d.uid), int(d.gid)),
  bindDevice: (hostPath: string, path: string) =>
    step('STEP_BIND_DEVICE', 'init', `bind the host's ${hostPath} onto ${path} (no mknod in a user namespace)`, str(hostPath), str(path)),
  symlink: (target: string, link: string) => step('STEP_SYMLINK', 'init', `ln -s ${target} ${link}`, str(target), str(link)),
  writeProc: (path: string, value: string) => step('STEP_WRITE_PROC', 'init', `echo ${JSON.stringify(value)} > ${path}`, str(path), str(value)),
  hooksSync: () => step('STEP_HOOKS_SYNC', 'init', 'pause: runts runs the createRuntime hooks on the host'),
  /** stateDoc: which of the state documents sent with MSG_HOOKS_DONE the hook reads. */
  runHook: (kind: string, h: { path: string; args: string[]; env: string[]; timeout: number }, stateDoc: number) =>
    step('STEP_RUN_HOOK', 'init', `run ${kind} hook ${quote(h.args.length ? h.args : [h.path])} (state on stdin${h.timeout ? `, timeout ${h.timeout}s` : ''})`,
      str(h.path), strs(h.args), strs(h.env), int(h.timeout), int(stateDoc)),
  pivotRoot: () => step('STEP_PIVOT_ROOT', 'init', 'pivot_root into the root, detach the old root'),
  chroot: () => step('STEP_CHROOT', 'init', 'move the root onto / and chroot into it (--no-pivot)'),
  reopenDevNull: () => step('STEP_REOPEN_DEV_NULL', 'init', 'stdio that is the host\'s /dev/null becomes the container\'s /dev/null'),
  maskPath: (path: string) => step('STEP_MASK_PATH', 'init', `mask ${path} (/dev/null or an empty read-only tmpfs over it)`, str(path)),
  readonlyPath: (path: string) => step('STEP_READONLY_PATH', 'init', `make ${path} read-only (bind onto itself, remount ro; nosuid, nodev, noexec kept)`, str(path)),
  remountRootReadonly: () => step('STEP_REMOUNT_ROOT_RO', 'init', 'remount / read-only'),
  setHostname: (name: string) => step('STEP_SET_HOSTNAME', 'init', `hostname ${name}`, str(name)),
  setDomainname: (name: string) => step('STEP_SET_DOMAINNAME', 'init', `domainname ${name}`, str(name)),
  setRlimit: (name: string, resource: number, soft: bigint, hard: bigint) =>
    step('STEP_SETRLIMIT', 'init', `setrlimit ${name} soft=${soft} hard=${hard}`, int(resource), int(soft), int(hard)),
  /** owner: the uid the pty is given to (the process's user), -1 to leave it to root */
  setupConsole: (slot: number, rows: number, cols: number, consolePath: string, owner: number) =>
    step('STEP_SETUP_CONSOLE', 'init', `open a pty in the container's devpts${consolePath ? `, bind it onto ${consolePath}` : ''}${owner >= 0 ? `, owned by uid ${owner}` : ''}, send its master over the console socket, make it the controlling terminal${rows ? ` (${cols}x${rows})` : ''}`,
      int(slot), int(rows), int(cols), str(consolePath), int(owner)),
  setsid: () => step('STEP_SETSID', 'init', 'setsid: a new session'),
  capBounding: (keep: bigint, names: string[]) =>
    step('STEP_CAP_BOUNDING', 'init', `drop every capability from the bounding set but: ${names.join(' ') || '(none)'}`, int(keep)),
  setUser: (uid: number, gid: number, groups: number[]) =>
    step('STEP_SET_USER', 'init', `become uid ${uid} gid ${gid} groups [${groups.join(',')}], keeping capabilities across the switch`, int(uid), int(gid), ints(groups)),
  setCaps: (c: { effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint }, text: string) =>
    step('STEP_SET_CAPS', 'init', `set capabilities: ${text}`, int(c.effective), int(c.permitted), int(c.inheritable), int(c.ambient)),
  noNewPrivileges: () => step('STEP_NO_NEW_PRIVS', 'init', 'prctl(PR_SET_NO_NEW_PRIVS): exec can never gain privileges'),
  seccomp: (filter: Uint8Array, flags: number, text: string) => step('STEP_SECCOMP', 'init', `load the seccomp filter: ${text}`, str(filter), int(flags)),
  umask: (mask: number) => step('STEP_UMASK', 'init', `umask ${octal(mask).padStart(4, '0')}`, int(mask)),
  chdir: (path: string, early: boolean) => step('STEP_CHDIR', 'init', early
    ? `cd ${path} while still privileged (a permission error waits for the cd as the user)`
    : `cd ${path} as the user, unless the privileged cd got there (and refuse a cwd outside the root)`, str(path), int(early ? 1 : 0)),
  prepareExec: (args: string[], env: string[]) =>
    step('STEP_PREPARE_EXEC', 'init', `find ${JSON.stringify(args[0])} on the container's PATH now, so a typo fails create, not start`, strs(args), strs(env)),
  closeFds: (first: number) => step('STEP_CLOSE_FDS', 'init', `mark every descriptor from ${first} up close-on-exec`, int(first)),
  reportCreated: () => step('STEP_REPORT_CREATED', 'init', 'tell runts the container is created; `create` returns'),
  waitStart: (slot: number) => step('STEP_WAIT_START', 'init', `block on the exec fifo (slot ${slot}) until \`runts start\``, int(slot)),
  mountTree: (slot: number, target: string, create: 0 | 1 | 2) =>
    step('STEP_MOUNT_TREE', 'init', `attach the detached tree (slot ${slot}) at ${target}` + (create ? ` (create the ${create === 1 ? 'directory' : 'file'} if missing)` : ''),
      int(slot), str(target), int(create)),
  holdDir: (slot: number, path: string, copy: boolean) =>
    step('STEP_HOLD_DIR', 'init', `open ${path} (slot ${slot}) before a tmpfs covers it, to ${copy ? 'copy what it holds (tmpcopyup)' : 'give the tmpfs its mode'}; nothing if it is missing`, int(slot), str(path)),
  /**
   * copy: copy the held tree into the tmpfs (tmpcopyup); rootMode: the
   * tmpfs's root takes the held directory's mode (the config gave no mode=)
   */
  copyUp: (slot: number, path: string, copy: boolean, rootMode: boolean) =>
    step('STEP_COPY_UP', 'init', [
      ...(copy ? [`copy what ${path} held (slot ${slot}) into the tmpfs now on it: files, directories, symlinks, nodes, with their owners and modes`] : []),
      ...(rootMode ? [`the tmpfs's root takes the mode ${path} had${copy ? '' : ` (slot ${slot})`}`] : []),
    ].join('; '), int(slot), str(path), int(rootMode ? 1 : 0), int(copy ? 1 : 0)),
  exec: (args: string[]) => step('STEP_EXEC', 'init', `execve ${quote(args)}`),
  consolePair: (slot: number) =>
    step('STEP_CONSOLE_PAIR', 'parent', `make a socketpair for the pty master (slot ${slot}); PARENT proxies the terminal to runts's own`, int(slot)),
  sessionKeyring: (name: string, perm: number) =>
    step('STEP_SESSION_KEYRING', 'init', `join session keyring ${name} (a new one, not the host's), add permissions 0x${perm.toString(16).padStart(8, '0')}`, str(name), int(perm)),
  enterNamespace: (flag: number, name: string, path: string) =>
    step('STEP_ENTER_NS', 'init', `setns into the container's ${name} namespace ${path}`, int(flag), str(path)),
};

/** "0 100000 65536\n" -> "0 100000 65536" (several lines joined with "; "). */
function mapText(map: string): string {
  return map.trim().replace(/\n/g, '; ');
}

function typeLetter(mode: number): string {
  switch (mode & 0o170000) {
    case 0o020000: return 'c';
    case 0o060000: return 'b';
    case 0o010000: return 'p';
    default: return '?';
  }
}
