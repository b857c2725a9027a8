/*
 * tiny.ts - the planner of tiny. Level 6: create and start.
 *
 *   node tiny.ts plan   [--bundle DIR] ID    print the plan (of create)
 *   node tiny.ts run    [--bundle DIR] ID    carry it out with tiny-exec, wait
 *   node tiny.ts create [--bundle DIR] ID    set the container up; it waits
 *   node tiny.ts start  ID                   let it exec its process
 *   node tiny.ts state  ID                   its state, as JSON
 *   node tiny.ts kill   ID [SIGNAL]          signal it (TERM by default)
 *   node tiny.ts delete [--force] ID         remove what is left of it
 *
 * State lives in /run/tiny/ID: state.json and, until start, exec.fifo.
 *
 * It reads the part of config.json this level understands, decides every
 * step, and hands the plan to tiny-exec (beside this file) on its fd 3.
 * The plan is text, one step per line; the format is in tiny-exec.c.
 *
 * Containers From Scratch, chapter 9 (docs/09-writing-runtime.md).
 */
import { spawn } from 'node:child_process';
import { constants, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, rmdirSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Config {
  process: {
    args: string[];
    env?: string[];
    cwd: string;
    user?: { uid: number; gid: number; additionalGids?: number[] };
    capabilities?: { bounding?: string[]; effective?: string[] };
    noNewPrivileges?: boolean;
  };
  root: { path: string };
  hostname?: string;
  annotations?: Record<string, string>;
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux?: {
    namespaces?: { type: string }[];
    resources?: { memory?: { limit?: number }; pids?: { limit?: number } };
    seccomp?: { defaultAction: string; syscalls?: { names: string[]; action: string; errnoRet?: number }[] };
  };
}

// config.json's namespace types, in the plan's words
const NAMESPACES: Record<string, string> = {
  pid: 'pid', mount: 'mount', uts: 'uts', ipc: 'ipc', network: 'net', cgroup: 'cgroup',
};

// mount options that are flags of mount(2); the others are its data
const MOUNT_FLAGS: Record<string, string> = {
  ro: 'rdonly', nosuid: 'nosuid', nodev: 'nodev', noexec: 'noexec', noatime: 'noatime',
  relatime: 'relatime', strictatime: 'strictatime', bind: 'bind', rbind: 'bind,rec',
};
const DEFAULT_OPTIONS = new Set(['rw', 'suid', 'dev', 'exec']);

// the devices every container gets (the OCI runtime spec's list)
const DEVICES: [string, number, number][] = [
  ['/dev/null', 1, 3], ['/dev/zero', 1, 5], ['/dev/full', 1, 7],
  ['/dev/random', 1, 8], ['/dev/urandom', 1, 9], ['/dev/tty', 5, 0],
];
const DEV_LINKS: [string, string][] = [
  ['/proc/self/fd', '/dev/fd'], ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'], ['/proc/self/fd/2', '/dev/stderr'], ['pts/ptmx', '/dev/ptmx'],
];

// The container's cgroup, and the limits to write there. cgroup v2: one
// tree, the controllers enabled for the children of each level; v1 (a
// hybrid host): one tree per controller.
const V2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
interface Cgroup { parent: string; dir: string; limits: [string, string][] }

export function cgroups(config: Config, id: string): Cgroup[] {
  const r = config.linux?.resources ?? {};
  const memory = r.memory?.limit !== undefined ? String(r.memory.limit) : undefined;
  const pids = r.pids?.limit !== undefined ? String(r.pids.limit) : undefined;
  if (V2) {
    const limits: [string, string][] = [];
    if (memory) limits.push(['memory.max', memory]);
    if (pids) limits.push(['pids.max', pids]);
    return [{ parent: '/sys/fs/cgroup/tiny', dir: `/sys/fs/cgroup/tiny/${id}`, limits }];
  }
  return [
    { parent: '/sys/fs/cgroup/memory/tiny', dir: `/sys/fs/cgroup/memory/tiny/${id}`, limits: memory ? [['memory.limit_in_bytes', memory]] : [] },
    { parent: '/sys/fs/cgroup/pids/tiny', dir: `/sys/fs/cgroup/pids/tiny/${id}`, limits: pids ? [['pids.max', pids]] : [] },
  ];
}

// The network, from an annotation of tiny's own ("HOSTADDR/N CONTAINERADDR/N"):
// a veth pair, eth0 in the child's network namespace, the other end on the
// host. Chapter 7's commands, run by the executor between clone and go.
export function network(config: Config, id: string): string[][] {
  const spec = config.annotations?.['tiny.network'];
  if (!spec) return [];
  const [hostAddr, ctrAddr] = spec.split(/\s+/);
  const veth = `tiny-${id}`;
  if (veth.length > 15) throw new Error(`${veth}: an interface name has at most 15 characters; use a shorter id`);
  const inside = ['nsenter', '--net=/proc/{pid}/ns/net', 'ip'];
  return [
    ['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', '{pid}'],
    ['ip', 'addr', 'add', hostAddr!, 'dev', veth],
    ['ip', 'link', 'set', veth, 'up'],
    [...inside, 'addr', 'add', ctrAddr!, 'dev', 'eth0'],
    [...inside, 'link', 'set', 'eth0', 'up'],
    [...inside, 'link', 'set', 'lo', 'up'],
  ];
}

// Capabilities by number (linux/capability.h), the first eleven and a few more.
const CAPS: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_DAC_READ_SEARCH: 2, CAP_FOWNER: 3, CAP_FSETID: 4,
  CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7, CAP_SETPCAP: 8, CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18, CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21, CAP_MKNOD: 27, CAP_AUDIT_WRITE: 29, CAP_SETFCAP: 31,
};
const capNumbers = (names: string[] = []) => names.map((n) => {
  if (CAPS[n] === undefined) throw new Error(`capability ${n}: not in tiny's table`);
  return CAPS[n]!;
});

// System call numbers of x86_64 (asm/unistd_64.h), the few tiny's filters use.
const AUDIT_ARCH_X86_64 = 'c000003e';
const SYSCALLS: Record<string, number> = {
  chmod: 90, fchmodat: 268, mkdir: 83, mkdirat: 258, mount: 165, umount2: 166, unshare: 272,
  setns: 308, ptrace: 101, reboot: 169, keyctl: 250, add_key: 248, bpf: 321, pivot_root: 155,
  chroot: 161, personality: 135, sethostname: 170, setdomainname: 171,
};

function seccomp(config: Config): (string | number)[] | undefined {
  const s = config.linux?.seccomp;
  if (!s) return undefined;
  if (process.arch !== 'x64') throw new Error('seccomp: tiny knows the system call numbers of x86_64 only');
  if (s.defaultAction !== 'SCMP_ACT_ALLOW') throw new Error('seccomp: tiny supports defaultAction SCMP_ACT_ALLOW only');
  const rules: string[] = [];
  for (const r of s.syscalls ?? []) {
    if (r.action !== 'SCMP_ACT_ERRNO') throw new Error(`seccomp: tiny supports action SCMP_ACT_ERRNO only, not ${r.action}`);
    for (const name of r.names) {
      if (SYSCALLS[name] === undefined) throw new Error(`seccomp: system call ${name}: not in tiny's table`);
      rules.push(`${SYSCALLS[name]}:${r.errnoRet ?? 1}`);
    }
  }
  return [AUDIT_ARCH_X86_64, ...rules];
}

// One field: spaces, %, newlines and anything unusual become %XX; "" is "-".
const field = (s: string | number) =>
  s === '' ? '-' : String(s) === '-' ? '%2D' : String(s).replace(/[^\w./:=,+@{}-]/gu, encodeURIComponent);
const step = (op: string, ...fields: (string | number)[]) => [op, ...fields.map(field)].join(' ');

export function plan(config: Config, bundle: string, id: string, mode: 'run' | 'create'): string[] {
  const root = resolve(bundle, config.root.path);
  const namespaces = (config.linux?.namespaces ?? []).map((n) => {
    if (!NAMESPACES[n.type]) throw new Error(`namespace ${n.type}: not supported`);
    return NAMESPACES[n.type]!;
  });
  const steps = [`# tiny plan for ${id}`];
  if (mode === 'create') steps.push(step('fifo', `${stateDir(id)}/exec.fifo`));
  for (const cg of cgroups(config, id)) {
    steps.push(step('mkdir', cg.parent));
    if (V2) {
      steps.push(step('write', '/sys/fs/cgroup/cgroup.subtree_control', '+memory +pids'));
      steps.push(step('write', `${cg.parent}/cgroup.subtree_control`, '+memory +pids'));
    }
    steps.push(step('mkdir', cg.dir));
    for (const [file, value] of cg.limits) steps.push(step('write', `${cg.dir}/${file}`, value));
  }
  // the cgroup namespace waits until the child is in its cgroup
  steps.push(step('clone', ...namespaces.filter((n) => n !== 'cgroup')));
  for (const cg of cgroups(config, id)) steps.push(step('add-pid', `${cg.dir}/cgroup.procs`));
  for (const command of network(config, id)) steps.push(step('run', ...command));
  if (mode === 'create') steps.push('report-pid', 'detach');
  steps.push('go');
  if (namespaces.includes('cgroup')) steps.push(step('unshare', 'cgroup'));
  steps.push('private');
  steps.push(step('rootfs', root));
  for (const m of config.mounts ?? []) {
    const flags: string[] = [];
    const data: string[] = [];
    for (const o of m.options ?? []) {
      if (MOUNT_FLAGS[o]) flags.push(MOUNT_FLAGS[o]);
      else if (!DEFAULT_OPTIONS.has(o)) data.push(o);
    }
    if (m.type === 'bind' && !flags.includes('bind')) flags.push('bind');
    // a bind mount's source is a host path, relative to the bundle
    const source = flags.includes('bind') ? resolve(bundle, m.source ?? '') : m.source ?? m.type ?? 'none';
    steps.push(step('mount', source, m.destination, m.type ?? 'none', flags.join(','), data.join(',')));
  }
  for (const [path, major, minor] of DEVICES) steps.push(step('mknod', path, 'c', major, minor, '666'));
  for (const [target, path] of DEV_LINKS) steps.push(step('symlink', target, path));
  steps.push('pivot');
  if (config.hostname) steps.push(step('hostname', config.hostname));
  const p = config.process;
  if (p.capabilities?.bounding) {
    steps.push(`# keep ${p.capabilities.bounding.join(' ')}`);
    steps.push(step('bounding', ...capNumbers(p.capabilities.bounding)));
  }
  const user = p.user ?? { uid: 0, gid: 0 };
  steps.push(step('user', user.uid, user.gid, ...(user.additionalGids ?? [])));
  if (p.capabilities?.effective) {
    steps.push(`# keep ${p.capabilities.effective.join(' ')}`);
    steps.push(step('caps', ...capNumbers(p.capabilities.effective)));
  }
  if (p.noNewPrivileges) steps.push('nnp');
  for (const e of p.env ?? []) steps.push(step('env', e));
  steps.push(step('chdir', p.cwd));
  const filter = seccomp(config);
  if (filter) steps.push(step('seccomp', ...filter));
  if (mode === 'create') steps.push('created', 'wait-start');
  steps.push(step('exec', ...config.process.args));
  return steps;
}

// ---- the state of a container --------------------------------------------
const stateDir = (id: string) => `/run/tiny/${id}`;

interface State { ociVersion: string; id: string; pid: number; startTime: string; bundle: string; cgroups: string[] }

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks since
 * boot. A pid is reused by the next process that gets it; a pid and its
 * start time together name one process for as long as the machine runs. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3
    return fields[0] === 'Z' ? undefined : fields[19]; // a zombie has finished
  } catch {
    return undefined;
  }
}

function load(id: string): State {
  try {
    return JSON.parse(readFileSync(`${stateDir(id)}/state.json`, 'utf8')) as State;
  } catch {
    throw new Error(`container ${id} does not exist`);
  }
}

function status(s: State): 'created' | 'running' | 'stopped' {
  if (startTime(s.pid) !== s.startTime) return 'stopped';
  return existsSync(`${stateDir(s.id)}/exec.fifo`) ? 'created' : 'running';
}

// ---- the verbs ---------------------------------------------------------------
function spawnExecutor(lines: string[]) {
  // the executor inherits our stdin, stdout and stderr; fd 3 carries the
  // plan, and then what the executor reports
  const exec = spawn(join(import.meta.dirname, 'tiny-exec'), [], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
  exec.stdio[3]!.write(lines.join('\n') + '\nend\n');
  return exec;
}

function run(config: Config, bundle: string, id: string) {
  const exec = spawnExecutor(plan(config, bundle, id, 'run'));
  exec.on('exit', (code, signal) => {
    removeCgroups(cgroups(config, id).map((c) => c.dir));
    process.exit(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
  });
}

function create(config: Config, bundle: string, id: string) {
  if (existsSync(stateDir(id))) throw new Error(`container ${id} exists already`);
  mkdirSync(stateDir(id), { recursive: true, mode: 0o700 });
  const exec = spawnExecutor(plan(config, bundle, id, 'create'));
  let reported = '';
  exec.stdio[3]!.on('data', (d) => (reported += d));
  // the end of fd 3: both the executor and the child have closed it
  exec.stdio[3]!.on('end', () => {
    const pid = Number(/^pid (\d+)$/m.exec(reported)?.[1]);
    const started = pid ? startTime(pid) : undefined;
    if (!/^created$/m.test(reported) || !started) {
      if (pid) process.kill(pid, 'SIGKILL');
      removeCgroups(cgroups(config, id).map((c) => c.dir));
      rmSync(stateDir(id), { recursive: true, force: true });
      console.error(`tiny: create ${id}: ${/^error (.*)$/m.exec(reported)?.[1] ?? 'the container died'}`);
      process.exit(1);
    }
    const state: State = { ociVersion: '1.2.0', id, pid, startTime: started, bundle, cgroups: cgroups(config, id).map((c) => c.dir) };
    writeFileSync(`${stateDir(id)}/state.json.tmp`, JSON.stringify(state));
    renameSync(`${stateDir(id)}/state.json.tmp`, `${stateDir(id)}/state.json`); // all or nothing
    process.exit(0);
  });
}

function start(id: string) {
  const s = load(id);
  if (status(s) !== 'created') throw new Error(`container ${id} is ${status(s)}, not created`);
  const fifo = `${stateDir(id)}/exec.fifo`;
  // O_NONBLOCK: if nobody holds the read side any more, ENXIO instead of a hang
  const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  writeSync(fd, '0');
  closeSync(fd);
  unlinkSync(fifo); // from now on the container is "running"
}

function kill(id: string, signal: string) {
  const s = load(id);
  if (status(s) === 'stopped') throw new Error(`container ${id} is stopped`);
  process.kill(s.pid, /^\d+$/.test(signal) ? Number(signal) : `SIG${signal.replace(/^SIG/, '')}`);
}

function remove(id: string, force: boolean) {
  const s = load(id);
  if (status(s) !== 'stopped') {
    if (!force) throw new Error(`container ${id} is ${status(s)}: stop it first, or delete --force`);
    process.kill(s.pid, 'SIGKILL');
    for (let i = 0; i < 500 && startTime(s.pid) === s.startTime; i++) sleep(10);
  }
  removeCgroups(s.cgroups);
  rmSync(stateDir(id), { recursive: true, force: true });
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function main(argv: string[]) {
  let bundle = '.';
  let force = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--bundle' || argv[i] === '-b') bundle = argv[++i]!;
    else if (argv[i] === '--force' || argv[i] === '-f') force = true;
    else if (argv[i]!.startsWith('-')) usage();
    else rest.push(argv[i]!);
  }
  const [verb, id, signal] = rest;
  if (!verb || !id) usage();
  const config = () => JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Config;
  try {
    switch (verb) {
      case 'plan': return console.log(plan(config(), resolve(bundle), id!, 'create').join('\n'));
      case 'run': return run(config(), resolve(bundle), id!);
      case 'create': return create(config(), resolve(bundle), id!);
      case 'start': return start(id!);
      case 'state': {
        const s = load(id!);
        return console.log(JSON.stringify({ ociVersion: s.ociVersion, id: s.id, status: status(s), pid: s.pid, bundle: s.bundle }, null, 2));
      }
      case 'kill': return kill(id!, signal ?? 'TERM');
      case 'delete': return remove(id!, force);
      default: usage();
    }
  } catch (e) {
    console.error(`tiny: ${verb} ${id}: ${(e as Error).message}`);
    process.exit(1);
  }
}

function usage(): never {
  console.error('usage: tiny plan|run|create|start|state|kill|delete [--bundle DIR] [--force] ID [SIGNAL]');
  process.exit(2);
}

// The container is gone: its cgroups go too. Right after the last process
// exits, the kernel may still count it for a moment: EBUSY, try again.
function removeCgroups(dirs: string[]) {
  for (const dir of dirs) {
    for (let i = 0; i < 100 && existsSync(dir); i++) {
      try {
        rmdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
        sleep(10);
      }
    }
  }
}

main(process.argv.slice(2));
