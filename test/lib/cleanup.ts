/*
 * cleanup.ts - every test leaves the machine as it found it, and the suite
 * proves it (TESTING.md: "a leak check at the end of the suite makes
 * leftovers a failure").
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
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
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
  kind: 'mount' | 'process' | 'cgroup' | 'state' | 'netns' | 'tempdir' | 'link' | 'nft';
  what: string;
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
