/**
 * run.ts - runs the fuzz targets, each for a bounded time, and fails on any
 * finding. What is fuzzed, and the contract each target checks:
 *
 *   plan-decoder  the executor's plan decoder, native/runts-init.c
 *                 (libFuzzer + ASan + UBSan: plan-decoder.c, Makefile)
 *   config        the config.json validator, src/oci/validate.ts
 *   tar           the tar reader, src/image/tar-read.ts
 *   manifest      the registry client's manifest parsing, src/image/registry.ts
 *                 (these three: targets.ts, with the mutation fuzzer of engine.ts)
 *
 *   node test/fuzz/run.ts [--seconds 25] [--jobs 2] [--only tar,config]
 *                         [--tap FILE] [--seed N]
 *   node test/fuzz/run.ts --replay TARGET FILE...   run inputs once, say what each does
 *
 * Seeds are made fresh by seeds.ts; the inputs in regressions/<target>/
 * (each once a finding, since fixed) are replayed first and join the seeds.
 * A finding is saved as crashes/<target>/<kind>-<hash> with a .txt that
 * says what happened; the run then fails. Targets run `--jobs` at a time.
 * The TypeScript targets run in a worker thread with a bounded heap; a
 * watchdog takes an execution that does not end within HANG_SECONDS for a
 * hang, and a worker that runs out of heap for unbounded memory, and saves
 * the input either way. Without clang the plan decoder is skipped, unless
 * CI=true, where that is a failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { findingOf, fuzz, hashOf, MAX_INPUT, type Finding, type RunStats } from './engine.ts';
import { makeSeeds, TARGETS, type Target } from './seeds.ts';

const HERE = import.meta.dirname;
const REPO = join(HERE, '../..');
const CRASHES = join(HERE, 'crashes');
const REGRESSIONS = join(HERE, 'regressions');
const HANG_SECONDS = 10;
const HEAP_MB = 512;

interface WorkerInput { target: string; seedDir: string; seconds: number; seed: number; shared: SharedArrayBuffer }
type WorkerMessage = { type: 'finding'; finding: Omit<Finding, 'input'> & { input: Uint8Array } } | { type: 'done'; stats: RunStats };

// ---- the worker: one TypeScript target -------------------------------------

async function workerMain(data: WorkerInput): Promise<void> {
  const { TS_TARGETS, withSeeds } = await import('./targets.ts');
  const seeds = readInputs(data.seedDir);
  const target = withSeeds(TS_TARGETS[data.target]!, seeds);
  // shared with the watchdog: [0] executions, [1] length of the current input,
  // [2] 1 while the target runs it (0: mutating), then the input's bytes
  const counter = new Int32Array(data.shared, 0, 3);
  const current = new Uint8Array(data.shared, 12);
  const stats = await fuzz(target, seeds, {
    seconds: data.seconds,
    seed: data.seed,
    onExec(input, execs) {
      const n = Math.min(input.length, MAX_INPUT);
      current.set(input.subarray(0, n));
      Atomics.store(counter, 1, n);
      Atomics.store(counter, 0, execs);
      Atomics.store(counter, 2, 1);
    },
    onExecEnd() {
      Atomics.store(counter, 2, 0);
    },
    onFinding(f) {
      parentPort!.postMessage({ type: 'finding', finding: { ...f, input: new Uint8Array(f.input) } } satisfies WorkerMessage);
    },
  });
  parentPort!.postMessage({ type: 'done', stats } satisfies WorkerMessage);
}

// ---- the main thread ----------------------------------------------------------

/** Input files: not notes (.txt, .md), not hidden. */
const isInput = (f: string) => !/\.(txt|md)$/.test(f) && !f.startsWith('.');

function readInputs(dir: string): Buffer[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().filter(isInput).map((f) => readFileSync(join(dir, f)));
}

/** Saves a finding's input and its story; returns the input's path. */
function saveFinding(target: string, kind: string, input: Buffer, story: string): string {
  const dir = join(CRASHES, target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${kind}-${hashOf(input)}`);
  writeFileSync(file, input);
  writeFileSync(`${file}.txt`, `${story}\n`);
  return relative(REPO, file);
}

interface Result { target: string; ok: boolean; skipped?: string; summary: string; findings: string[] }

function runTsTarget(target: string, seedDir: string, seconds: number, seed: number): Promise<Result> {
  const shared = new SharedArrayBuffer(12 + MAX_INPUT);
  const counter = new Int32Array(shared, 0, 3);
  const currentInput = () => Buffer.from(new Uint8Array(shared, 12, Atomics.load(counter, 1)));
  const findings: string[] = [];
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { target, seedDir, seconds, seed, shared } satisfies WorkerInput,
    resourceLimits: { maxOldGenerationSizeMb: HEAP_MB },
    stdout: false, stderr: false,
  });
  return new Promise((resolve) => {
    let stats: RunStats | undefined;
    let last = -1, still = 0;
    const watchdog = setInterval(() => {
      const execs = Atomics.load(counter, 0);
      still = execs === last ? still + 1 : 0;
      last = execs;
      if (still < HANG_SECONDS) return;
      clearInterval(watchdog);
      if (Atomics.load(counter, 2)) {
        const input = currentInput();
        findings.push(`hang: no execution ended for ${HANG_SECONDS} s: ${saveFinding(target, 'hang', input, `${target}: execution ${execs} did not end within ${HANG_SECONDS} s`)}`);
      } else {
        findings.push(`the fuzzer itself made no input for ${HANG_SECONDS} s (a mutator too slow): no input to blame`);
      }
      void worker.terminate();
    }, 1000);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'done') { stats = m.stats; return; }
      const f = m.finding;
      const path = saveFinding(target, 'crash', Buffer.from(f.input), `${f.signature}\n\n${f.stack}`);
      findings.push(`${f.what.split('\n')[0]!.slice(0, 300)}: ${path}`);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      const kind = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'oom' : 'crash';
      const input = currentInput();
      findings.push(`${kind}: ${err.message}: ${saveFinding(target, kind, input, `${target}: the worker died: ${err.stack ?? err.message}`)}`);
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      const summary = stats
        ? `${stats.execs} execs in ${stats.seconds.toFixed(1)} s (${Math.round(stats.execs / stats.seconds)}/s), ${stats.seeds} seeds, corpus ${stats.corpus}, ${stats.outcomes} distinct outcomes`
        : `stopped after ${Atomics.load(counter, 0)} execs`;
      resolve({ target, ok: !findings.length && !!stats, summary, findings });
    });
  });
}

function haveClang(): boolean {
  return spawnSync('clang', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Builds the libFuzzer target; an error message, or undefined. */
function buildPlanDecoder(): string | undefined {
  const r = spawnSync('make', ['-s', '-C', HERE], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `make -C test/fuzz failed:\n${r.stdout}${r.stderr}`;
}

const PLAN_DECODER = join(HERE, 'build/plan-decoder');

function runLibFuzzer(args: string[]): Promise<{ status: number | null; log: string }> {
  return new Promise((resolve) => {
    const child = spawn(PLAN_DECODER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d: Buffer) => { log += d; });
    child.stderr.on('data', (d: Buffer) => { log += d; });
    child.on('close', (status) => resolve({ status, log }));
  });
}

async function runPlanDecoder(seedDir: string, seconds: number, seed: number): Promise<Result> {
  const target = 'plan-decoder';
  const findings: string[] = [];
  // the regressions first, once each
  const regressions = existsSync(join(REGRESSIONS, target)) ? readdirSync(join(REGRESSIONS, target)).filter(isInput).map((f) => join(REGRESSIONS, target, f)) : [];
  if (regressions.length) {
    const r = await runLibFuzzer(regressions);
    if (r.status !== 0) findings.push(`a regression input fails again:\n${r.log.slice(-3000)}`);
  }
  const work = mkdtempSync(join(tmpdir(), 'runts-fuzz-corpus-'));
  const artifacts = join(CRASHES, target);
  mkdirSync(artifacts, { recursive: true });
  try {
    const r = await runLibFuzzer([
      `-max_total_time=${seconds}`, `-timeout=${HANG_SECONDS}`, `-rss_limit_mb=1024`, `-seed=${seed}`,
      '-print_final_stats=1', `-artifact_prefix=${artifacts}/`, work, seedDir,
    ]);
    const stat = (name: string) => Number(new RegExp(`stat::${name}:\\s+(\\d+)`).exec(r.log)?.[1] ?? NaN);
    const execs = stat('number_of_executed_units');
    const secs = stat('total_runtime') || seconds; // libFuzzer prints whole seconds
    const units = readdirSync(work).length;
    const coverage = /cov: (\d+) ft: (\d+)/g;
    let cov = '', m: RegExpExecArray | null;
    while ((m = coverage.exec(r.log))) cov = `${m[1]} edges, ${m[2]} features`;
    if (r.status !== 0) {
      const written = [...r.log.matchAll(/Test unit written to (\S+)/g)].map((x) => relative(REPO, x[1]!));
      const why = /==\d+==\s*(ERROR: .*|WARNING: .*)|SUMMARY: (.*)|plan-decoder: (.*)/.exec(r.log);
      findings.push(`${(why?.[1] ?? why?.[2] ?? why?.[3] ?? `exit status ${r.status}`).slice(0, 300)}: ${written.join(', ') || '(no input written)'}\n${r.log.slice(-3000)}`);
    }
    return {
      target, ok: !findings.length,
      summary: `${Number.isNaN(execs) ? '?' : execs} execs in ${secs} s (${Number.isNaN(execs) ? '?' : Math.round(execs / secs)}/s), ${readInputs(seedDir).length} seeds${regressions.length ? ` + ${regressions.length} regressions` : ''}, corpus ${units}, ${cov}`,
      findings,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function replay(target: string, files: string[]): Promise<number> {
  if (target === 'plan-decoder') {
    const built = buildPlanDecoder();
    if (built) { console.error(built); return 1; }
    const r = await runLibFuzzer(files);
    process.stdout.write(r.log);
    return r.status === 0 ? 0 : 1;
  }
  const { TS_TARGETS } = await import('./targets.ts');
  const t = TS_TARGETS[target];
  if (!t) { console.error(`no target ${target} (${TARGETS.join(', ')})`); return 2; }
  let status = 0;
  for (const file of files) {
    const input = readFileSync(file);
    try {
      console.log(`${file}: ${await t.run(input)}`);
    } catch (err) {
      status = 1;
      console.log(`${file}: FINDING ${findingOf(target, input, err).stack}`);
    }
  }
  return status;
}

async function main(): Promise<number> {
  if (process.argv[2] === '--replay') return replay(process.argv[3] ?? '', process.argv.slice(4));
  const seconds = Number(arg('seconds') ?? 25);
  const jobs = Math.max(1, Number(arg('jobs') ?? Math.min(2, availableParallelism())));
  const only = arg('only')?.split(',');
  const tap = arg('tap');
  const seed = Number(arg('seed') ?? Math.floor(Math.random() * 2 ** 31));
  const ci = process.env.CI === 'true' || process.env.CI === '1';
  const targets = TARGETS.filter((t) => !only || only.includes(t));
  if (!(seconds > 0) || !targets.length) { console.error('usage: run.ts [--seconds N] [--jobs N] [--only a,b] [--tap FILE] [--seed N]'); return 2; }

  const seedRoot = mkdtempSync(join(tmpdir(), 'runts-fuzz-seeds-'));
  try {
    await makeSeeds(seedRoot);
    for (const t of TARGETS) { // the regressions join the seeds
      const dir = join(REGRESSIONS, t);
      if (existsSync(dir)) for (const f of readdirSync(dir)) if (isInput(f)) copyFileSync(join(dir, f), join(seedRoot, t, `regression-${f}`));
    }
    console.log(`fuzzing ${targets.join(', ')}: ${seconds} s each, ${jobs} at a time, seed ${seed}`);
    let cSkip: string | undefined, cFail: string | undefined;
    if (targets.includes('plan-decoder')) {
      if (!haveClang()) {
        if (ci) cFail = 'clang is missing (Debian: clang, libclang-rt-14-dev)';
        else cSkip = 'no clang (Debian: clang, libclang-rt-14-dev)';
      } else cFail = buildPlanDecoder();
    }
    const queue: (() => Promise<Result>)[] = targets.map((t) => () => {
      if (t !== 'plan-decoder') return runTsTarget(t, join(seedRoot, t), seconds, seed);
      if (cSkip) return Promise.resolve({ target: t, ok: true, skipped: cSkip, summary: 'skipped', findings: [] });
      if (cFail) return Promise.resolve({ target: t, ok: false, summary: 'not built', findings: [cFail] });
      return runPlanDecoder(join(seedRoot, t), seconds, seed);
    });
    const results: Result[] = [];
    await Promise.all(Array.from({ length: jobs }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const r = await job();
        results.push(r);
        console.log(`${r.ok ? (r.skipped ? 'SKIP' : 'ok  ') : 'FAIL'} ${r.target.padEnd(12)} ${r.skipped ?? r.summary}`);
        for (const f of r.findings) console.log(`     finding: ${f}`);
      }
    }));
    results.sort((a, b) => targets.indexOf(a.target as Target) - targets.indexOf(b.target as Target));
    const failed = results.filter((r) => !r.ok).length;
    const skipped = results.filter((r) => r.skipped).length;
    if (tap) {
      const lines = ['TAP version 13'];
      results.forEach((r, i) => {
        lines.push(`${r.ok ? 'ok' : 'not ok'} ${i + 1} - fuzz ${r.target}: ${r.skipped ? '' : r.summary}${r.skipped ? ` # SKIP ${r.skipped}` : ''}`);
        for (const f of r.findings) lines.push(...f.split('\n').map((l) => `  # ${l}`));
      });
      lines.push(`1..${results.length}`, `# tests ${results.length}`, `# pass ${results.length - failed - skipped}`, `# fail ${failed}`,
        '# cancelled 0', `# skipped ${skipped}`, '# todo 0', `# seed ${seed}`);
      writeFileSync(tap, `${lines.join('\n')}\n`);
    }
    if (failed) console.log(`${failed} target(s) with findings; inputs under ${relative(process.cwd(), CRASHES) || '.'}/ (replay: node test/fuzz/run.ts --replay TARGET FILE)`);
    return failed ? 1 : 0;
  } finally {
    rmSync(seedRoot, { recursive: true, force: true });
  }
}

if (!isMainThread) await workerMain(workerData as WorkerInput);
else if (import.meta.main) process.exitCode = await main();
