/*
 * host.ts - what the host looks like from the test process: mount table,
 * namespaces, processes, commands. Everything here reads /proc directly so a
 * leak check does not depend on the runtime under test.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';

export interface MountEntry {
  id: number;
  parent: number;
  dev: string;
  root: string;
  mountPoint: string;
  options: string;
  optional: string[];
  fsType: string;
  source: string;
  superOptions: string;
}

/* Same parse as the probe's emit_mounts, so host and container tables compare. */
export function parseMountinfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 7 || dash < 0) continue;
    mounts.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      dev: f[2] ?? '',
      root: f[3] ?? '',
      mountPoint: unescapeMountPath(f[4] ?? ''),
      options: f[5] ?? '',
      optional: f.slice(6, dash),
      fsType: f[dash + 1] ?? '',
      source: f[dash + 2] ?? '',
      superOptions: f[dash + 3] ?? '',
    });
  }
  return mounts;
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function hostMounts(pid: number | 'self' = 'self'): MountEntry[] {
  return parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

/* Mounts at or below dir, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string, mounts = hostMounts()): MountEntry[] {
  const d = dir.replace(/\/+$/, '');
  return mounts
    .filter((m) => m.mountPoint === d || m.mountPoint.startsWith(d + '/'))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length || b.id - a.id);
}

export function isMountPoint(path: string): boolean {
  return hostMounts().some((m) => m.mountPoint === path);
}

/* "net:[4026531833]" for the test process's own namespace of that kind. */
export function hostNamespace(kind: string): string {
  return readlinkSync(`/proc/self/ns/${kind}`);
}

/* Kernel start time (clock ticks since boot) identifies a pid across reuse. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export function processAlive(pid: number, startTime?: string | null): boolean {
  const now = processStartTime(pid);
  if (now === null) return false;
  if (startTime && now !== startTime) return false;
  /* a zombie is dead for our purposes, its parent just has not reaped it */
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export interface HostProcess {
  pid: number;
  comm: string;
  cmdline: string;
  marks: string[]; // every "rtt-xxxxxx" run prefix found in its cmdline, environ, cwd, fds or cgroups
}

function readOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/* The run prefixes (see cleanup.ts) a process carries anywhere we can look. */
function runMarks(pid: string): string[] {
  const texts = [readOr(`/proc/${pid}/cmdline`), readOr(`/proc/${pid}/environ`), readOr(`/proc/${pid}/cgroup`)];
  try {
    texts.push(readlinkSync(`/proc/${pid}/cwd`));
    for (const fd of readdirSync(`/proc/${pid}/fd`)) texts.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
  } catch {
    /* exited, or a kernel thread */
  }
  return [...new Set(texts.join('\n').match(/rtt-[0-9a-f]{6}/g) ?? [])];
}

/*
 * Processes of a runtime under test: runts-init names its stages
 * "runts:[0:PARENT]" and "runts:[1:INIT]" (native/runts-init.c); runc names them "runc:[2:INIT]" and its init runs as
 * "runc init"; and the probe itself. Other people's containers run on a shared
 * machine too, so each carries the run prefixes it can be attributed to;
 * only attributed processes are ever reported or killed.
 */
export function runtimeProcesses(): HostProcess[] {
  const found: HostProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const comm = readOr(`/proc/${name}/comm`).trim();
    const cmdline = readOr(`/proc/${name}/cmdline`).replace(/\0/g, ' ').trim();
    const candidate =
      comm.startsWith('runts:') || cmdline.startsWith('runts:') || comm === 'probe' ||
      comm.startsWith('runc:[') || cmdline.startsWith('runc init');
    if (!candidate || !processAlive(Number(name))) continue;
    found.push({ pid: Number(name), comm, cmdline, marks: runMarks(name) });
  }
  return found;
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export interface ShResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/* Run a host command; throws with its stderr unless allowFail. */
export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): ShResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: 60_000 });
  const res = { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
  if (!opts.allowFail && res.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
  }
  return res;
}

/* Poll until fn returns a truthy value; a bound, not a timing assertion. */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string | (() => string), timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(delay);
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/* ---- prerequisites: a failure in CI, a reported skip elsewhere ---- */

/*
 * The project's rule for a test that needs root, a package or a host
 * feature: in CI (which installs every package scripts/setup.sh names) a
 * missing one is a failure; on a developer's machine the test is reported
 * as skipped, with the reason. Never a pass. "CI" is the same predicate as
 * scripts/test.sh's: CI=true or CI=1.
 */
export function inCI(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/*
 * For a whole file: `const skip = fileSkip('image tests', !isRoot() && 'needs root')`,
 * then `test(name, { skip }, ...)`. Throws in CI when why is set; returns why
 * (a skip reason node:test reports) or false.
 */
export function fileSkip(what: string, why: string | false | null | undefined): string | false {
  if (!why) return false;
  if (inCI()) throw new Error(`${what}: ${why} (in CI a missing prerequisite is a failure)`);
  return why;
}

/*
 * Inside a test: `if (lacks(t, !hasCommand('umoci') && 'needs umoci')) return;`.
 * In CI a missing prerequisite fails the test; elsewhere the test is marked
 * skipped with the reason and the caller returns. True when it must stop.
 */
export function lacks(t: TestContext, why: string | false | null | undefined): boolean {
  if (!why) return false;
  if (inCI()) throw new Error(`${why} (in CI a missing prerequisite is a failure; scripts/setup.sh installs the packages)`);
  t.skip(why);
  return true;
}

/* The commands of names this host lacks, as one reason ('needs umoci, setcap'), or false. */
export function missingCommands(...names: string[]): string | false {
  const missing = names.filter((n) => !hasCommand(n));
  return missing.length ? `needs ${missing.join(', ')}` : false;
}
