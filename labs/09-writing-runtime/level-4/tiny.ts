/*
 * tiny.ts - the planner of tiny. Level 4: a network.
 *
 *   node tiny.ts plan [--bundle DIR] ID    print the plan
 *   node tiny.ts run  [--bundle DIR] ID    carry it out with tiny-exec
 *
 * It reads the part of config.json this level understands, decides every
 * step, and hands the plan to tiny-exec (beside this file) on its fd 3.
 * The plan is text, one step per line; the format is in tiny-exec.c.
 *
 * Containers From Scratch, chapter 9 (docs/09-writing-runtime.md).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Config {
  process: { args: string[]; env?: string[]; cwd: string };
  root: { path: string };
  hostname?: string;
  annotations?: Record<string, string>;
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux?: {
    namespaces?: { type: string }[];
    resources?: { memory?: { limit?: number }; pids?: { limit?: number } };
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

// One field: spaces, %, newlines and anything unusual become %XX; "" is "-".
const field = (s: string | number) =>
  s === '' ? '-' : String(s) === '-' ? '%2D' : String(s).replace(/[^\w./:=,+@{}-]/gu, encodeURIComponent);
const step = (op: string, ...fields: (string | number)[]) => [op, ...fields.map(field)].join(' ');

export function plan(config: Config, bundle: string, id: string): string[] {
  const root = resolve(bundle, config.root.path);
  const namespaces = (config.linux?.namespaces ?? []).map((n) => {
    if (!NAMESPACES[n.type]) throw new Error(`namespace ${n.type}: not supported`);
    return NAMESPACES[n.type]!;
  });
  const steps = [`# tiny plan for ${id}`];
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
  for (const e of config.process.env ?? []) steps.push(step('env', e));
  steps.push(step('chdir', config.process.cwd));
  steps.push(step('exec', ...config.process.args));
  return steps;
}

function main(argv: string[]) {
  let bundle = '.';
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--bundle' || argv[i] === '-b') bundle = argv[++i]!;
    else rest.push(argv[i]!);
  }
  const [verb, id] = rest;
  if (!verb || !id || !['plan', 'run'].includes(verb)) {
    console.error('usage: tiny plan|run [--bundle DIR] ID');
    process.exit(2);
  }
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as Config;
  const lines = plan(config, resolve(bundle), id);
  if (verb === 'plan') {
    console.log(lines.join('\n'));
    return;
  }
  // run: the executor inherits our stdin, stdout and stderr; fd 3 carries the plan
  const exec = spawn(join(import.meta.dirname, 'tiny-exec'), [], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
  exec.stdio[3]!.write(lines.join('\n') + '\nend\n');
  exec.on('exit', (code, signal) => {
    removeCgroups(config, id);
    process.exit(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
  });
}

// The container is gone: its cgroups go too. Right after the last process
// exits, the kernel may still count it for a moment: EBUSY, try again.
function removeCgroups(config: Config, id: string) {
  for (const { dir } of cgroups(config, id)) {
    for (let i = 0; i < 100 && existsSync(dir); i++) {
      try {
        rmdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      }
    }
  }
}

main(process.argv.slice(2));
