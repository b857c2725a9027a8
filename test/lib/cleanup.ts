/*
 * cleanup.ts - every test leaves the machine as it found it, and the suite
 * proves it. The project's rule: a test cleans up after itself even when it
 * fails (no leftover cgroups, mounts, network namespaces, veths, bridges,
 * nft tables or state dirs), and a leak check at the end of the suite
 * (test/integration/leaks.test.ts) makes a leftover a failure. Two ways to
 * see one: by name (below), and by comparing the host with a snapshot taken
 * before the tests (the end of this file).
 *
 * Naming makes leftovers findable without any in-memory registry, so a check
 * in another process (leaks.test.ts) sees them too:
 *   - every temp dir lives under TEST_BASE (<tmpdir>/runts-test/<run prefix>/...)
 *   - every container id, cgroup path and netns name contains RUN_PREFIX
 *     ("rtt-<6 hex>", one per test process); the runtime also gets it in its
 *     environment (RUNTS_TEST_RUN), which its helper processes inherit.
 * RUN_DIR/.owner names the test process. Other runs of this suite may be going
 * on at the same time on a shared machine: what belongs to a run whose owner is
 * still alive is theirs, never reported and never touched.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostMounts, mountsUnder, processAlive, processStartTime, runtimeProcesses, type HostProcess } from './host.ts';

export const TEST_BASE = join(tmpdir(), 'runts-test');
export const ID_MARK = 'rtt-';
export const RUN_PREFIX = `${ID_MARK}${randomBytes(3).toString('hex')}`;
export const RUN_DIR = join(TEST_BASE, RUN_PREFIX);

const RUN_MARK = /rtt-[0-9a-f]{6}/g;

export function ensureRunDir(): string {
  if (!existsSync(RUN_DIR)) {
    mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
    writeFileSync(join(RUN_DIR, '.owner'), `${process.pid} ${processStartTime(process.pid)}\n`);
  }
  return RUN_DIR;
}

/* A run is live while the test process that created its RUN_DIR runs. */
function runIsLive(prefix: string): boolean {
  if (prefix === RUN_PREFIX) return true;
  try {
    const [pid, start] = readFileSync(join(TEST_BASE, prefix, '.owner'), 'utf8').trim().split(' ');
    return processAlive(Number(pid), start);
  } catch {
    return false; // no owner file: its run finished (or crashed) and this is left over
  }
}

/* Does a thing carrying these marks count, for this scope? */
function inScope(text: string, scope: LeakScope['scope']): boolean {
  const marks: string[] = text.match(RUN_MARK) ?? [];
  if (scope === 'run') return marks.includes(RUN_PREFIX);
  return marks.some((m) => m === RUN_PREFIX || !runIsLive(m));
}

export interface Leak {
  kind: 'mount' | 'process' | 'cgroup' | 'state' | 'netns' | 'tempdir' | 'link' | 'nft' | 'iptables' | 'device';
  what: string;
}

/*
 * The host's shared device nodes: every process writes to /dev/null, so a
 * runtime that chowns a container's stdio without checking what it is
 * changes the host's (runc's issue 3674). root:root, rw for everyone.
 */
export const HOST_DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom'];

export function changedHostDevices(paths: string[] = HOST_DEVICES): string[] {
  return paths.flatMap((p) => {
    const st = statSync(p);
    const mode = st.mode & 0o7777;
    return st.uid === 0 && st.gid === 0 && mode === 0o666 ? [] : [`${p} is ${st.uid}:${st.gid} mode ${mode.toString(8)}, not 0:0 mode 666`];
  });
}

export function formatLeaks(leaks: Leak[]): string {
  return leaks.map((l) => `  ${l.kind}: ${l.what}`).join('\n');
}

/* ---- cleanup stack ---- */

export class Cleanup {
  private steps: { what: string; fn: () => unknown }[] = [];

  add(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }

  /* Runs every step (last added first) even when some throw; returns the errors. */
  async run(): Promise<Error[]> {
    const errors: Error[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.fn();
      } catch (e) {
        errors.push(new Error(`cleanup "${step.what}": ${(e as Error).message}`));
      }
    }
    return errors;
  }
}

/* ---- safe removal ---- */

function lazyUnmount(path: string): void {
  spawnSync('umount', ['-l', path], { stdio: 'ignore' });
}

/*
 * rm -rf that never follows a mount: whatever is still mounted below dir
 * (a leaked bind of a host dir, say) is unmounted first, and reported.
 * Removing through a bind mount would delete the host's files.
 */
export function safeRemove(dir: string): Leak[] {
  if (!existsSync(dir)) return [];
  const leaks: Leak[] = [];
  for (let pass = 0; pass < 5; pass++) {
    const left = mountsUnder(dir);
    if (left.length === 0) break;
    for (const m of left) {
      if (pass === 0) leaks.push({ kind: 'mount', what: `${m.mountPoint} (${m.fsType})` });
      lazyUnmount(m.mountPoint);
    }
  }
  if (mountsUnder(dir).length > 0) throw new Error(`refusing to remove ${dir}: mounts remain below it`);
  rmSync(dir, { recursive: true, force: true });
  return leaks;
}

/* ---- finding leftovers ---- */

const CGROUP_ROOT = '/sys/fs/cgroup';

/* Cgroup directories whose name contains mark, in every mounted hierarchy. */
export function cgroupDirsMatching(mark: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      const p = join(dir, name);
      let isDir = false;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        continue;
      }
      if (!isDir) continue;
      if (name.includes(mark)) found.push(p);
      else if (depth < 6) walk(p, depth + 1);
    }
  };
  const cgroupMounts = hostMounts().filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2');
  for (const m of cgroupMounts) if (m.mountPoint.startsWith(CGROUP_ROOT)) walk(m.mountPoint, 0);
  return [...new Set(found)];
}

export function netnsMatching(mark: string): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.includes(mark));
  } catch {
    return [];
  }
}

/* Network interfaces (bridges, veths) and nft tables named after a mark ('-' is '_' in a table name). */
export function linksMatching(mark: string): string[] {
  try {
    return readdirSync('/sys/class/net').filter((n) => n.includes(mark));
  } catch {
    return [];
  }
}
export function nftTablesMatching(mark: string): string[] {
  const r = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').map((l) => l.trim().split(' ')).filter((w) => w[0] === 'table' && w[2]?.replace(/_/g, '-').includes(mark)).map((w) => `${w[1]} ${w[2]}`);
}

/* Entries in a runtime's default state dirs: tests always pass --root, so none may appear. */
function defaultStateEntries(mark: string): string[] {
  const found: string[] = [];
  for (const dir of ['/run/runts', '/run/runc']) {
    try {
      for (const n of readdirSync(dir)) if (n.includes(mark)) found.push(join(dir, n));
    } catch {
      /* no such dir */
    }
  }
  return found;
}

export interface LeakScope {
  /* 'run': what this test process created; 'all': also what finished runs left */
  scope: 'run' | 'all';
}

export function formatProcess(p: HostProcess): string {
  return `${p.pid} ${p.comm} (${p.cmdline})`;
}

/* Runtime helpers and probes that belong to the scope. */
export function leakedProcesses(scope: LeakScope['scope']): HostProcess[] {
  return runtimeProcesses().filter((p) => inScope(p.marks.join(' '), scope));
}

export function leakCheck({ scope }: LeakScope = { scope: 'all' }): Leak[] {
  const leaks: Leak[] = [];
  for (const m of mountsUnder(TEST_BASE)) {
    if (inScope(m.mountPoint, scope)) leaks.push({ kind: 'mount', what: `${m.mountPoint} (${m.fsType})` });
  }
  for (const p of leakedProcesses(scope)) leaks.push({ kind: 'process', what: formatProcess(p) });
  for (const c of cgroupDirsMatching(ID_MARK)) if (inScope(c, scope)) leaks.push({ kind: 'cgroup', what: c });
  for (const n of netnsMatching(ID_MARK)) if (inScope(n, scope)) leaks.push({ kind: 'netns', what: n });
  for (const l of linksMatching(ID_MARK)) if (inScope(l, scope)) leaks.push({ kind: 'link', what: l });
  for (const t of nftTablesMatching(ID_MARK)) if (inScope(t.replace(/_/g, '-'), scope)) leaks.push({ kind: 'nft', what: t });
  for (const s of defaultStateEntries(ID_MARK)) if (inScope(s, scope)) leaks.push({ kind: 'state', what: s });
  for (const d of changedHostDevices()) leaks.push({ kind: 'device', what: d });
  if (existsSync(TEST_BASE)) {
    for (const n of readdirSync(TEST_BASE)) {
      if (n !== RUN_PREFIX && scope === 'all' && inScope(n, scope)) leaks.push({ kind: 'tempdir', what: join(TEST_BASE, n) });
    }
  }
  if (existsSync(RUN_DIR)) {
    const left = readdirSync(RUN_DIR).filter((n) => n !== '.owner');
    if (left.length) leaks.push({ kind: 'tempdir', what: `${RUN_DIR}: ${left.join(', ')}` });
  }
  return leaks;
}

/* Best effort: remove what leakCheck found, so the next run starts clean. */
export function sweepLeaks(leaks: Leak[]): void {
  for (const l of leaks.filter((x) => x.kind === 'process')) {
    const pid = Number(l.what.split(' ')[0]);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const l of leaks.filter((x) => x.kind === 'mount')) lazyUnmount(l.what.replace(/ \(.*\)$/, ''));
  for (const l of leaks.filter((x) => x.kind === 'cgroup')) removeCgroupTree(l.what);
  for (const l of leaks.filter((x) => x.kind === 'netns')) spawnSync('ip', ['netns', 'delete', l.what], { stdio: 'ignore' });
  for (const l of leaks.filter((x) => x.kind === 'link')) spawnSync('ip', ['link', 'delete', l.what], { stdio: 'ignore' });
  for (const l of leaks.filter((x) => x.kind === 'nft')) spawnSync('nft', ['delete', 'table', ...l.what.split(' ')], { stdio: 'ignore' });
  for (const l of leaks.filter((x) => x.kind === 'state')) rmSync(l.what, { recursive: true, force: true });
  for (const l of leaks.filter((x) => x.kind === 'tempdir')) {
    const dir = l.what.replace(/: .*$/, '');
    try {
      safeRemove(dir);
    } catch {
      /* still mounted: leave it for a human */
    }
  }
}

/* Kill what is inside, then rmdir children before parents. */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    try {
      if (statSync(p).isDirectory()) removeCgroupTree(p);
    } catch {
      /* raced */
    }
  }
  try {
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      if (processAlive(Number(pid))) process.kill(Number(pid), 'SIGKILL');
    }
  } catch {
    /* no procs file or no permission */
  }
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      spawnSync('sleep', ['0.02']);
    }
  }
}

/* ---- the host before and after: what the suite changed, whatever its name ---- */

/*
 * Naming finds what carries this run's mark; what runts or a client names
 * for itself does not: a host veth (rv<hash>), an unnamed front-end
 * container's cgroup (runts-<hex>), containerd's cgroups, a workload
 * process, a mount outside the test dir, an iptables rule. So the suite also
 * compares the whole host before and after: scripts/test.sh takes a
 * snapshot before the tests (test/lib/snapshot-host.ts writes SNAPSHOT_FILE)
 * and leaks.test.ts, run last, compares the host with it. Anything of these
 * kinds that appeared is a leak:
 *   - mounts: every mount of the host's mount table (mount point, type, source; counted,
 *     so a second mount on the same point counts too)
 *   - cgroups: every directory of every hierarchy under /sys/fs/cgroup
 *   - links (bridges, veths), named network namespaces, nft tables, iptables
 *     and ip6tables rules and user chains
 *   - processes a runtime or a client of the suite runs: runts-init (its
 *     stages, "runts:[0:PARENT]"), the probe, containerd and its shims,
 *     conmon, the registry, qemu; and any process in a runtime's cgroup
 *     (a path with a part named runts*, libpod* or rtt-*)
 *   - entries of the default state and store directories (/run/runts,
 *     /var/lib/runts, /run/runc, /var/lib/cni): tests always choose their own
 * The parents a runtime makes for cgroupsPath (runts/, containerd's namespace,
 * podman's libpod_parent) may stay, empty: runc leaves them too; only what is
 * below them counts. So may iptables-nft's own tables (ip filter, ip nat, ...),
 * made on their first use: their rules are compared one by one.
 *
 * On a machine shared with other work, RUNTS_TEST_LEAK_IGNORE (a regular
 * expression) leaves out what matches it; CI sets nothing, nothing else runs there.
 */
export const SNAPSHOT_FILE = join(TEST_BASE, 'host-before.json');

export interface HostSnapshot {
  mounts: string[];
  cgroups: string[];
  links: string[];
  netns: string[];
  nftTables: string[];
  iptables: string[];
  processes: { id: string; what: string }[]; // id: "pid start-time", unique across pid reuse
  state: string[];
  unavailable: string[]; // what this host could not show (a missing command)
}

/* The parents of cgroupsPath that stay, empty (containerd's is the namespace containerd.test.ts uses). */
const SHARED_CGROUP_PARENTS = new Set(['/runts', '/runts-test', '/libpod_parent', '/libpod_parent/conmon']);
/* iptables-nft's tables: made on first use and kept; the iptables detector compares their rules. */
const IPTABLES_NFT_TABLES = /^(ip|ip6) (filter|nat|mangle|raw|security)$/;
const STATE_DIRS: [string, number][] = [['/run/runts', 2], ['/var/lib/runts', 2], ['/run/runc', 1], ['/var/lib/cni', 2]];
const SUITE_PROGRAMS = /(^|\/)(runts-init|probe|attempt|containerd|containerd-shim-runc-v2|conmon|docker-registry|qemu-system-x86_64)( \(deleted\))?$/;
const RUNTIME_CGROUP = /\/(runts|libpod|rtt-)[^/]*(\/|$)/;

/* The mount points of the host's cgroup hierarchies under /sys/fs/cgroup. */
export function cgroupHierarchies(): string[] {
  return [...new Set(hostMounts().filter((m) => (m.fsType === 'cgroup' || m.fsType === 'cgroup2') && m.mountPoint.startsWith(CGROUP_ROOT)).map((m) => m.mountPoint))];
}

/* Every cgroup directory, as "<hierarchy><path>" (the hierarchy's root itself left out). */
export function allCgroupDirs(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const name of entries) {
      found.push(join(dir, name));
      if (depth < 12) walk(join(dir, name), depth + 1);
    }
  };
  for (const h of cgroupHierarchies()) walk(h, 0);
  return found;
}

function entriesBelow(dir: string, depth: number): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const p = join(dir, n);
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      /* raced */
    }
    return [p, ...(isDir && depth > 1 ? entriesBelow(p, depth - 1) : [])];
  });
}

function commandLines(cmd: string, args: string[], unavailable: string[]): string[] {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    unavailable.push(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
    return [];
  }
  return r.stdout.split('\n');
}

/* iptables-save, as "<command> -t <table> <rule or user chain>": counters and comments dropped. */
function iptablesRules(cmd: string, unavailable: string[]): string[] {
  const out: string[] = [];
  let table = '';
  for (const line of commandLines(cmd, [], unavailable)) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.startsWith('-A ')) out.push(`${cmd.replace(/-save$/, '')} -t ${table} ${line}`);
    else if (line.startsWith(':')) {
      const [chain, policy] = line.slice(1).split(' ');
      if (policy === '-') out.push(`${cmd.replace(/-save$/, '')} -t ${table} -N ${chain}`); // a user chain
      else if (policy !== 'ACCEPT') out.push(`${cmd.replace(/-save$/, '')} -t ${table} -P ${chain} ${policy}`);
    }
  }
  return out;
}

function suiteProcesses(): { id: string; what: string }[] {
  const found: { id: string; what: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let comm = '';
    let exe = '';
    let cgroup = '';
    try {
      comm = readFileSync(`/proc/${name}/comm`, 'utf8').trim();
      cgroup = readFileSync(`/proc/${name}/cgroup`, 'utf8');
      exe = readlinkSync(`/proc/${name}/exe`);
    } catch {
      /* a kernel thread (no exe), or gone */
    }
    const inRuntimeCgroup = cgroup.split('\n').map((l) => l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1)).find((path) => RUNTIME_CGROUP.test(path));
    if (!comm.startsWith('runts:') && !SUITE_PROGRAMS.test(exe) && !inRuntimeCgroup) continue;
    const start = processStartTime(Number(name));
    if (start === null || !processAlive(Number(name))) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      /* gone */
    }
    found.push({ id: `${name} ${start}`, what: `${name} ${comm} (${exe || '?'}: ${cmdline.slice(0, 200)})${inRuntimeCgroup ? ` in cgroup ${inRuntimeCgroup}` : ''}` });
  }
  return found;
}

export function hostSnapshot(): HostSnapshot {
  const unavailable: string[] = [];
  let netns: string[] = [];
  try {
    netns = readdirSync('/run/netns');
  } catch {
    /* no named netns */
  }
  return {
    mounts: hostMounts().map((m) => `${m.mountPoint} (${m.fsType} ${m.source})`),
    cgroups: allCgroupDirs(),
    links: readdirSync('/sys/class/net'),
    netns,
    nftTables: commandLines('nft', ['list', 'tables'], unavailable).map((l) => l.trim().split(' ')).filter((w) => w[0] === 'table').map((w) => `${w[1]} ${w[2]}`),
    iptables: [...iptablesRules('iptables-save', unavailable), ...iptablesRules('ip6tables-save', unavailable)],
    processes: suiteProcesses(),
    state: STATE_DIRS.flatMap(([dir, depth]) => entriesBelow(dir, depth)),
    unavailable,
  };
}

export function saveHostSnapshot(): HostSnapshot {
  mkdirSync(TEST_BASE, { recursive: true, mode: 0o755 });
  const snap = hostSnapshot();
  writeFileSync(`${SNAPSHOT_FILE}.tmp`, JSON.stringify(snap, null, 1));
  renameSync(`${SNAPSHOT_FILE}.tmp`, SNAPSHOT_FILE);
  return snap;
}

export function loadHostSnapshot(): HostSnapshot | null {
  try {
    return JSON.parse(readFileSync(SNAPSHOT_FILE, 'utf8')) as HostSnapshot;
  } catch {
    return null;
  }
}

/* What appeared between the two snapshots (a mount counted: one more on a point is one more). */
export function hostChanges(before: HostSnapshot, after: HostSnapshot = hostSnapshot()): Leak[] {
  const added = (a: string[], b: string[]) => {
    const left = new Map<string, number>();
    for (const x of a) left.set(x, (left.get(x) ?? 0) + 1);
    return b.filter((x) => {
      const n = left.get(x) ?? 0;
      left.set(x, n - 1);
      return n <= 0;
    });
  };
  const emptyCgroup = (dir: string) => {
    try {
      return readdirSync(dir, { withFileTypes: true }).every((e) => !e.isDirectory()) && readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() === '';
    } catch {
      return false;
    }
  };
  const sharedParent = (dir: string) => {
    const h = cgroupHierarchies().find((m) => dir.startsWith(m + '/'));
    return h !== undefined && SHARED_CGROUP_PARENTS.has(dir.slice(h.length)) && emptyCgroup(dir);
  };
  const known = new Set(before.processes.map((p) => p.id));
  const leaks: Leak[] = [
    ...added(before.mounts, after.mounts).map((what) => ({ kind: 'mount' as const, what })),
    ...added(before.cgroups, after.cgroups).filter((d) => !sharedParent(d)).map((what) => ({ kind: 'cgroup' as const, what })),
    ...added(before.links, after.links).map((what) => ({ kind: 'link' as const, what })),
    ...added(before.netns, after.netns).map((what) => ({ kind: 'netns' as const, what })),
    ...added(before.nftTables, after.nftTables).filter((t) => !IPTABLES_NFT_TABLES.test(t)).map((what) => ({ kind: 'nft' as const, what })),
    ...added(before.iptables, after.iptables).map((what) => ({ kind: 'iptables' as const, what })),
    ...after.processes.filter((p) => !known.has(p.id)).map((p) => ({ kind: 'process' as const, what: p.what })),
    ...added(before.state, after.state).map((what) => ({ kind: 'state' as const, what })),
  ];
  // what carries only the marks of other runs still going on is theirs (see the top of this file)
  const theirs = (what: string) => {
    const marks: string[] = what.match(RUN_MARK) ?? [];
    return marks.length > 0 && marks.every((m) => m !== RUN_PREFIX && runIsLive(m));
  };
  const ignore = process.env.RUNTS_TEST_LEAK_IGNORE;
  return leaks.filter((l) => !theirs(l.what) && !(ignore && new RegExp(ignore).test(l.what)));
}
