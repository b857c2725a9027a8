/*
 * context.ts - `containerTest(name, fn)`: a node:test test that gets a
 * per-test context with its own temp dir and state root (--root), helpers
 * for the lifecycle verbs, and a cleanup that force-deletes its containers,
 * undoes its host changes and fails the test on anything left behind.
 *
 *   containerTest('hostname is set', async (c) => {
 *     const p = await c.probe({ hostname: 'rtt-host' });
 *     assert.equal(p.hostname, 'rtt-host');
 *   });
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { makeBundle, withArgs, type Bundle, type BundleOptions, type ConfigPatch } from './bundle.ts';
import {
  Cleanup, cgroupDirsMatching, ensureRunDir, formatLeaks, formatProcess, leakCheck, leakedProcesses, removeCgroupTree,
  RUN_DIR, RUN_PREFIX, safeRemove, sweepLeaks, type Leak,
} from './cleanup.ts';
import { hasCommand, isRoot, lacks, mountsUnder, processAlive, processStartTime, sh, waitFor } from './host.ts';
import { parseProbe, parseProbeJson, probeBinary, type ProbeReport, type StatEntry } from './probe.ts';
import { describeResult, runtimeAvailable, runts, type RuntsOptions, type RuntsResult } from './runtime.ts';

export interface ContainerState {
  ociVersion: string;
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped' | string;
  pid: number;
  bundle: string;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export interface Container {
  id: string;
  bundle: Bundle;
  pid: number;
  outFile: string; // the container's stdout (what create/run -d were given)
  output(): string;
}

export interface CreateOptions {
  id?: string;
  flags?: string[]; // extra create flags, e.g. ['--no-pivot']
  extraFds?: number[];
}

let testSeq = 0;

export class Ctx {
  readonly t: TestContext;
  readonly dir: string;
  readonly root: string;
  private readonly cleanup = new Cleanup();
  private readonly pids: { pid: number; start: string | null; id: string }[] = [];
  private idSeq = 0;
  private dirSeq = 0;

  constructor(t: TestContext) {
    this.t = t;
    const slug = t.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 40);
    this.dir = join(ensureRunDir(), `${++testSeq}-${slug}`);
    mkdirSync(this.dir, { mode: 0o755 });
    this.root = join(this.dir, 'state');
    mkdirSync(this.root, { mode: 0o700 });
  }

  /* A container id unique to this run: rtt-<run>-<test>-<n>. */
  newId(): string {
    return `${RUN_PREFIX}-${testSeq}-${++this.idSeq}`;
  }

  tempDir(name: string): string {
    const d = join(this.dir, `${name}-${++this.dirSeq}`);
    mkdirSync(d, { recursive: true, mode: 0o755 });
    return d;
  }

  bundle(patch?: ConfigPatch, opts?: BundleOptions): Bundle {
    return makeBundle(join(this.dir, `bundle-${++this.dirSeq}`), patch, opts);
  }

  /* mount(8) on the host (args before the target), undone at cleanup. */
  hostMount(target: string, ...args: string[]): void {
    sh('mount', [...args, target]);
    this.defer(`umount ${target}`, () => sh('umount', ['-l', target]));
  }

  /* Register an undo step; steps run last-registered first, even after failure. */
  defer(what: string, fn: () => unknown): void {
    this.cleanup.add(what, fn);
  }

  runts(args: string[], opts: Partial<RuntsOptions> = {}): Promise<RuntsResult> {
    return runts(args, { ...opts, root: this.root });
  }

  /* Any verb that may leave a container behind registers its force-delete first. */
  private track(id: string): void {
    this.defer(`delete --force ${id}`, async () => {
      await this.runts(['delete', '--force', id]);
    });
  }

  private async recordPid(id: string): Promise<number> {
    const st = await this.state(id);
    this.pids.push({ pid: st.pid, start: processStartTime(st.pid), id });
    return st.pid;
  }

  /* create, without asserting success: for error tests. */
  async tryCreate(bundle: Bundle, opts: CreateOptions = {}): Promise<{ id: string; result: RuntsResult; outFile: string }> {
    const id = opts.id ?? this.newId();
    const outFile = join(this.dir, `stdout-${++this.dirSeq}`);
    this.track(id);
    const result = await this.runts(['create', '--bundle', bundle.dir, ...(opts.flags ?? []), id], {
      stdoutFile: outFile,
      extraFds: opts.extraFds,
    });
    return { id, result, outFile };
  }

  async create(bundle: Bundle, opts: CreateOptions = {}): Promise<Container> {
    const { id, result, outFile } = await this.tryCreate(bundle, opts);
    assertOk(result);
    const pid = await this.recordPid(id);
    return { id, bundle, pid, outFile, output: () => readFileSync(outFile, 'utf8') };
  }

  /* run in the foreground (or with --detach in flags); does not assert. */
  async run(bundle: Bundle, opts: CreateOptions = {}): Promise<RuntsResult & { id: string; outFile: string }> {
    const id = opts.id ?? this.newId();
    const outFile = join(this.dir, `stdout-${++this.dirSeq}`);
    this.track(id);
    const result = await this.runts(['run', '--bundle', bundle.dir, ...(opts.flags ?? []), id], {
      stdoutFile: outFile,
      extraFds: opts.extraFds,
    });
    if (opts.flags?.includes('--detach') && result.code === 0) await this.recordPid(id);
    return { ...result, id, outFile };
  }

  async start(id: string): Promise<void> {
    assertOk(await this.runts(['start', id]));
  }

  async state(id: string): Promise<ContainerState> {
    const r = await this.runts(['state', id]);
    assertOk(r);
    return JSON.parse(r.stdout) as ContainerState;
  }

  async kill(id: string, ...args: string[]): Promise<void> {
    assertOk(await this.runts(['kill', id, ...args]));
  }

  async delete(id: string, ...flags: string[]): Promise<void> {
    assertOk(await this.runts(['delete', ...flags, id]));
  }

  async list(): Promise<ContainerState[]> {
    const r = await this.runts(['list', '--format', 'json']);
    assertOk(r);
    return (JSON.parse(r.stdout || 'null') ?? []) as ContainerState[];
  }

  async waitForStatus(id: string, status: string): Promise<void> {
    let last = '';
    await waitFor(async () => {
      const r = await this.runts(['state', id]);
      last = r.code === 0 ? (JSON.parse(r.stdout) as ContainerState).status : describeResult(r);
      return last === status;
    }, () => `${id} to be ${status} (last: ${last})`);
  }

  /* Wait until the container's stdout matches, e.g. the sleeping probe's {"sleeping":N}. */
  async waitForOutput(ct: Container, pattern: RegExp): Promise<string> {
    return waitFor(() => (pattern.test(ct.output()) ? ct.output() : undefined), () => `${ct.id} output to match ${pattern} (got: ${JSON.stringify(ct.output())})`);
  }

  /* Run the probe in the foreground with this config; assert success and parse. */
  async probe(patch?: ConfigPatch, opts?: BundleOptions & CreateOptions): Promise<ProbeReport> {
    const r = await this.run(this.bundle([withArgs('--'), patch ?? {}], opts), opts);
    assertOk(r);
    return parseProbe(r.stdout, describeResult(r));
  }

  /* Run a probe subcommand (stat, write, read, ls) and parse its one JSON object. */
  async probeCmd<T>(patch: ConfigPatch | undefined, args: string[], opts?: BundleOptions): Promise<T> {
    const r = await this.run(this.bundle([patch ?? {}, withArgs(...args)], opts));
    assertOk(r);
    return parseProbeJson<T>(r.stdout, describeResult(r));
  }

  async probeStat(patch: ConfigPatch | undefined, ...paths: string[]): Promise<Record<string, StatEntry>> {
    return (await this.probeCmd<{ stat: Record<string, StatEntry> }>(patch, ['stat', ...paths])).stat;
  }

  /* "ok" or an errno name */
  async probeWrite(patch: ConfigPatch | undefined, path: string, data?: string): Promise<string> {
    return (await this.probeCmd<{ write: string }>(patch, ['write', path, ...(data ? [data] : [])])).write;
  }

  async probeRead(patch: ConfigPatch | undefined, path: string): Promise<{ read?: string; error?: string }> {
    return this.probeCmd(patch, ['read', path]);
  }

  async probeLs(patch: ConfigPatch | undefined, dir: string): Promise<{ ls?: string[]; error?: string }> {
    return this.probeCmd(patch, ['ls', dir]);
  }

  /*
   * After a failed verb nothing of the container may remain: no state entry,
   * nothing in `list`, no mounts below the test dir, no runtime helper alive.
   */
  async assertNothingLeft(): Promise<void> {
    assert.deepEqual(readdirSync(this.root), [], 'state root must be empty');
    assert.deepEqual((await this.list()).map((s) => s.id), [], '`list` must be empty');
    assert.deepEqual(mountsUnder(this.dir).map((m) => m.mountPoint), [], 'no mounts may remain below the test dir');
    assert.deepEqual(leakedProcesses('run').map(formatProcess), [], 'no runtime helper process may remain');
    for (const p of this.pids) assert.ok(!processAlive(p.pid, p.start), `container process ${p.pid} still alive`);
  }

  /* Undo everything, then report what the undo could not prove gone. */
  async finish(): Promise<{ errors: Error[]; leaks: Leak[] }> {
    const errors = await this.cleanup.run();
    const leaks: Leak[] = [];
    for (const p of this.pids) {
      if (processAlive(p.pid, p.start)) {
        leaks.push({ kind: 'process', what: `container ${p.id} pid ${p.pid} survived delete --force` });
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (const p of leakedProcesses('run')) {
      leaks.push({ kind: 'process', what: formatProcess(p) });
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    try {
      const left = readdirSync(this.root);
      if (left.length) leaks.push({ kind: 'state', what: `${this.root}: ${left.join(', ')}` });
    } catch {
      /* root removed by the runtime: fine */
    }
    for (const cg of cgroupDirsMatching(RUN_PREFIX)) {
      leaks.push({ kind: 'cgroup', what: cg });
      removeCgroupTree(cg);
    }
    try {
      leaks.push(...safeRemove(this.dir));
    } catch (e) {
      errors.push(e as Error);
    }
    return { errors, leaks };
  }
}

/* ---- prerequisites: a failure in CI, a reported skip elsewhere (host.ts, inCI) ---- */

function missingPrerequisites(needs: string[]): string[] {
  const missing: string[] = [];
  if (!isRoot()) missing.push('root');
  const noRuntime = runtimeAvailable();
  if (noRuntime) missing.push(noRuntime);
  for (const cmd of ['cc', ...needs]) if (!hasCommand(cmd)) missing.push(`command ${cmd}`);
  return missing;
}

let probeChecked = false;

export interface ContainerTestOptions {
  needs?: string[]; // host commands the test uses, e.g. ['ip', 'python3']
}

export function containerTest(name: string, fn: (c: Ctx) => Promise<void>, opts: ContainerTestOptions = {}): void {
  test(name, async (t) => {
    const missing = missingPrerequisites(opts.needs ?? []);
    if (missing.length) {
      if (lacks(t, `missing ${missing.join(', ')}`)) return;
    }
    if (!probeChecked) {
      probeBinary(); // build errors surface here, once, with the compiler's message
      probeChecked = true;
    }
    // node:test reports a test that called t.skip() as skipped even when it
    // then fails: the test's skip is held back until cleanup found nothing
    let skipped: string | undefined;
    const c = new Ctx(deferSkip(t, (why) => (skipped = why)));
    let failure: unknown;
    try {
      await fn(c);
    } catch (e) {
      failure = e;
    }
    const { errors, leaks } = await c.finish();
    if (failure) {
      // the test's own failure comes first; what it left was still removed, and is named here
      if (leaks.length || errors.length) t.diagnostic(`also: ${[...errors.map((e) => e.message), formatLeaks(leaks)].join('\n')}`);
      throw failure;
    }
    if (errors.length) throw new AggregateError(errors, `cleanup failed:\n${errors.map((e) => `  ${e.message}`).join('\n')}`);
    if (leaks.length) assert.fail(`the test left things behind:\n${formatLeaks(leaks)}`);
    if (skipped !== undefined) t.skip(skipped);
  });
}

/* t, whose skip() only records its reason (containerTest reports it once the test passed). */
function deferSkip(t: TestContext, record: (why: string) => void): TestContext {
  return new Proxy(t, {
    get(target, prop) {
      if (prop === 'skip') return (why?: string) => record(why ?? '');
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/*
 * Call once at the top of every test file: after its last test, nothing this
 * process created may remain (mounts, helpers, cgroups, netns, temp dirs).
 */
export function checkLeaksAfterFile(): void {
  after(() => {
    const leaks = leakCheck({ scope: 'run' });
    sweepLeaks(leaks);
    safeRemove(RUN_DIR);
    if (leaks.length) assert.fail(`leftovers after this file:\n${formatLeaks(leaks)}`);
  });
}

/* ---- result assertions ---- */

export function assertOk(r: RuntsResult, what?: string): void {
  assert.ok(r.code === 0 && !r.timedOut, `${what ? `${what}: ` : ''}${describeResult(r)}`);
}

/*
 * The CLI contract for errors: non-zero exit, one line on stderr, and that
 * line names what was wrong (each pattern must match it).
 */
export function assertFails(r: RuntsResult, ...patterns: (RegExp | string)[]): void {
  assert.ok(!r.timedOut, `timed out: ${describeResult(r)}`);
  assert.notEqual(r.code, 0, `expected failure: ${describeResult(r)}`);
  const lines = r.stderr.trim().split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `expected one error line on stderr, got ${lines.length}: ${r.stderr}`);
  for (const p of patterns) {
    const ok = typeof p === 'string' ? r.stderr.includes(p) : p.test(r.stderr);
    assert.ok(ok, `stderr should mention ${p}: ${r.stderr.trim()}`);
  }
}

/*
 * The outcome of a process started with cwd=/proc/self/fd/N (CVE-2024-21626):
 * it ran with a cwd inside its root, or the chdir was refused for a reason
 * that names the path (runts: "chdir to /proc/self/fd/3: not a directory";
 * runc: 'chdir to cwd ("/proc/self/fd/3") set in config.json failed: not a
 * directory'). Any other failure is a broken runtime, not a refusal.
 */
export function assertCwdContained(r: RuntsResult, n: number): void {
  if (r.code === 0) {
    const p = parseProbe(r.stdout, describeResult(r));
    assert.ok(p.cwd?.startsWith('/') && !p.cwdError, `fd ${n}: cwd is outside the root (${p.cwd ?? p.cwdError})`);
    return;
  }
  const refusal = new RegExp(`chdir to .*/proc/self/fd/${n}\\b.*: (not a directory|no such file or directory)$`, 'im');
  assert.match(r.stderr.trim(), refusal, `fd ${n}: neither ran nor was refused by the chdir: ${describeResult(r)}`);
}
