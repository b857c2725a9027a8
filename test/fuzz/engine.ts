/**
 * engine.ts - a small mutation fuzzer for the TypeScript targets.
 *
 * No coverage instrumentation: the feedback is the target's OUTCOME, a
 * short label of what it did with an input ("ok", or the error message
 * with its numbers and quoted values blanked). An input that gives an
 * outcome not seen before joins the corpus, so the fuzzer keeps the inputs
 * that reach each distinct check of a parser and mutates from there.
 *
 * Mutations, stacked 1 to 5 at a time on an input taken from the corpus:
 *   bytes   flip a bit, set a byte (random or interesting), insert, delete,
 *           duplicate or overwrite a range, splice with another input,
 *           insert a dictionary token, replace a decimal number
 *   custom  the target's own: JSON-aware (json.ts) or tar-aware (tar-mutate.ts)
 *
 * A FINDING is anything the target's contract forbids: it throws anything
 * else than the errors it may throw, breaks an invariant, runs longer than
 * the hang limit (the watchdog in run.ts sees the execution counter stop)
 * or outgrows the worker's heap. Findings are saved with the input.
 */
import { createHash } from 'node:crypto';

/** What a target does with one input. */
export interface Target {
  name: string;
  /** Runs the input; returns the outcome label, or throws: a finding. */
  run(input: Buffer): string | Promise<string>;
  /** Structure-aware mutators, used for about half of the mutations. */
  mutators?: Mutator[];
  /** Tokens worth inserting (field names, keywords, magic values). */
  dictionary?: string[];
}

export type Mutator = (input: Buffer, rng: Rng, ctx: MutationContext) => Buffer | undefined;

export interface MutationContext {
  /** another corpus input, for splices */
  other(): Buffer;
  dictionary: string[];
}

/** Largest input the mutators make: a bound on the work of one execution. */
export const MAX_INPUT = 64 << 10;

/** xorshift32: fast, seedable, good enough to pick mutations. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = (seed ^ 0x9e3779b9) >>> 0 || 1;
    for (let i = 0; i < 8; i++) this.next();
  }
  /** 32 random bits, as an unsigned number */
  next(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }
  /** an integer in [0, n) */
  below(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }
  /** small numbers far more often than large ones */
  size(max: number): number {
    const bits = this.below(Math.ceil(Math.log2(max + 1)) + 1);
    return Math.min(max, this.below(2 ** bits) + 1);
  }
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x30, 0x37, 0x38, 0x2f, 0x2e, 0x22, 0x5c, 0x25];
const INTERESTING_NUMBERS = [
  '0', '-0', '1', '-1', '7', '8', '255', '256', '4096', '65535', '65536', '2147483647', '2147483648', '-2147483649',
  '4294967295', '4294967296', '9007199254740991', '9007199254740993', '9223372036854775807', '9223372036854775808',
  '18446744073709551615', '18446744073709551616', '1e308', '1e309', '-1e309', '0.5', '1.0', '1e-400', '077', '0x10',
];

const concat = (...parts: Buffer[]) => Buffer.concat(parts);

/** The generic byte mutators: they know nothing of the format. */
export const BYTE_MUTATORS: Mutator[] = [
  function flipBit(b, rng) {
    if (!b.length) return undefined;
    const out = Buffer.from(b);
    out[rng.below(out.length)]! ^= 1 << rng.below(8);
    return out;
  },
  function setByte(b, rng) {
    if (!b.length) return undefined;
    const out = Buffer.from(b);
    out[rng.below(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.below(256);
    return out;
  },
  function insertBytes(b, rng) {
    const at = rng.below(b.length + 1);
    const n = rng.size(rng.chance(0.1) ? 4096 : 16);
    const fill = rng.chance(0.5) ? Buffer.alloc(n, rng.pick(INTERESTING_BYTES)) : Buffer.from(Array.from({ length: n }, () => rng.below(256)));
    return concat(b.subarray(0, at), fill, b.subarray(at));
  },
  function deleteRange(b, rng) {
    if (!b.length) return undefined;
    const at = rng.below(b.length);
    const n = rng.size(b.length - at);
    return concat(b.subarray(0, at), b.subarray(at + n));
  },
  function duplicateRange(b, rng) {
    if (!b.length) return undefined;
    const from = rng.below(b.length);
    const n = rng.size(Math.min(b.length - from, 1024));
    const at = rng.below(b.length + 1);
    const copies = rng.chance(0.1) ? rng.size(64) : 1;
    return concat(b.subarray(0, at), ...Array.from({ length: copies }, () => b.subarray(from, from + n)), b.subarray(at));
  },
  function truncate(b, rng) {
    return b.length ? b.subarray(0, rng.below(b.length)) : undefined;
  },
  function splice(b, rng, ctx) {
    const o = ctx.other();
    return concat(b.subarray(0, rng.below(b.length + 1)), o.subarray(rng.below(o.length + 1)));
  },
  function overwriteFromOther(b, rng, ctx) {
    const o = ctx.other();
    if (!b.length || !o.length) return undefined;
    const from = rng.below(o.length);
    const n = rng.size(Math.min(o.length - from, 512));
    const at = rng.below(b.length);
    const out = Buffer.from(b);
    o.copy(out, at, from, from + n);
    return out;
  },
  function insertToken(b, rng, ctx) {
    if (!ctx.dictionary.length) return undefined;
    const at = rng.below(b.length + 1);
    return concat(b.subarray(0, at), Buffer.from(rng.pick(ctx.dictionary)), b.subarray(at));
  },
  function replaceNumber(b, rng) {
    const text = b.toString('latin1');
    const numbers = [...text.matchAll(/-?\d+(\.\d+)?/g)];
    if (!numbers.length) return undefined;
    const m = rng.pick(numbers);
    return concat(b.subarray(0, m.index), Buffer.from(rng.pick(INTERESTING_NUMBERS)), b.subarray(m.index + m[0].length));
  },
];

/**
 * An outcome label: numbers, quoted values and hex blanked, so "step 12:
 * bad value \"x\"" and "step 3: bad value \"y\"" are one outcome.
 */
export function outcomeOf(message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.)*"/g, 'S')
    .replace(/'[^']*'/g, 'S')
    .replace(/sha256:[0-9a-f]*/g, 'D')
    .replace(/0x[0-9a-f]+/gi, 'N')
    .replace(/\d+/g, 'N')
    .slice(0, 72);
}

export const hashOf = (b: Buffer) => createHash('sha1').update(b).digest('hex').slice(0, 16);

/** A finding: what broke the contract, with the input that did it. */
export interface Finding {
  target: string;
  input: Buffer;
  /** error name and message, or the invariant broken */
  what: string;
  stack: string;
  /** what tells two findings apart: the kind of error and where it was thrown */
  signature: string;
}

export function findingOf(target: string, input: Buffer, err: unknown): Finding {
  const e = err instanceof Error ? err : new Error(String(err));
  const what = `${e.name}: ${e.message}`;
  // the first frame in runts's own code, else the first frame at all
  const frames = (e.stack ?? '').split('\n').filter((l) => l.trim().startsWith('at '));
  const frame = frames.find((l) => l.includes('/src/')) ?? frames[0] ?? '';
  const where = frame.replace(/^\s*at\s+/, '').replace(/:\d+\)?$/, '').replace(/\(?[^ ]*\/(src|test)\//, '$1/');
  // a broken invariant is told apart by its kind, not by the values in its message
  const kind = (e as { kind?: unknown }).kind;
  // a stack overflow is thrown wherever the stack happens to end
  const overflow = e instanceof RangeError && e.message.includes('call stack');
  const signature = typeof kind === 'string' ? `${e.name}: ${kind}` : `${e.name}: ${outcomeOf(e.message).slice(0, 80)}${overflow ? '' : ` @ ${where}`}`;
  return { target, input, what, stack: e.stack ?? what, signature };
}

export interface RunStats {
  target: string;
  execs: number;
  seconds: number;
  seeds: number;
  corpus: number;
  outcomes: number;
  /** unique findings (by signature) */
  findings: number;
  /** the longest execution and the longest mutation, in ms */
  slowestExec: number;
  slowestMutation: number;
}

export interface FuzzOptions {
  seconds: number;
  seed: number;
  /** called before each execution with the input (run.ts keeps it for the watchdog) */
  onExec?: (input: Buffer, execs: number) => void;
  /** called after each execution */
  onExecEnd?: () => void;
  /** called once per new finding signature */
  onFinding: (f: Finding) => void;
}

/** Fuzzes `target` from `seeds` until the time is up. */
export async function fuzz(target: Target, seeds: Buffer[], opts: FuzzOptions): Promise<RunStats> {
  const rng = new Rng(opts.seed);
  const corpus = seeds.length ? [...seeds] : [Buffer.alloc(0)];
  const outcomes = new Set<string>();
  const signatures = new Set<string>();
  const dictionary = target.dictionary ?? [];
  const ctx: MutationContext = { other: () => rng.pick(corpus), dictionary };
  const custom = target.mutators ?? [];
  let execs = 0, slowestExec = 0, slowestMutation = 0;
  const started = Date.now();
  const deadline = started + opts.seconds * 1000;

  const exec = async (input: Buffer): Promise<void> => {
    execs++;
    opts.onExec?.(input, execs);
    let outcome: string;
    const t0 = performance.now();
    try {
      outcome = await target.run(input);
    } catch (err) {
      slowestExec = Math.max(slowestExec, performance.now() - t0);
      opts.onExecEnd?.();
      const f = findingOf(target.name, input, err);
      if (!signatures.has(f.signature)) {
        signatures.add(f.signature);
        opts.onFinding(f);
      }
      return;
    }
    slowestExec = Math.max(slowestExec, performance.now() - t0);
    opts.onExecEnd?.();
    if (!outcomes.has(outcome)) {
      outcomes.add(outcome);
      if (corpus.length < 10000) corpus.push(input);
    }
  };

  // the seeds first, as they are: each is an outcome of its own
  for (const s of corpus.slice()) await exec(s);
  const base = corpus.length;
  while (Date.now() < deadline) {
    const t0 = performance.now();
    let input = rng.pick(corpus);
    const stack = 1 + rng.below(5);
    for (let i = 0; i < stack; i++) {
      const useCustom = custom.length > 0 && rng.chance(0.5);
      const m = rng.pick(useCustom ? custom : BYTE_MUTATORS);
      let out: Buffer | undefined;
      const tm = performance.now();
      try { out = m(input, rng, ctx); } catch { /* a mutator that cannot handle this input (too deep to walk) */ }
      if (process.env.FUZZ_DEBUG && performance.now() - tm > 100) console.error(`slow mutator ${m.name || custom.indexOf(m)} ${Math.round(performance.now() - tm)} ms on ${input.length} bytes -> ${out?.length}`);
      if (out) input = out;
    }
    if (input.length > MAX_INPUT) input = input.subarray(0, MAX_INPUT);
    slowestMutation = Math.max(slowestMutation, performance.now() - t0);
    await exec(input);
  }
  return {
    target: target.name, execs, seconds: (Date.now() - started) / 1000, seeds: seeds.length,
    corpus: corpus.length - base + seeds.length, outcomes: outcomes.size, findings: signatures.size,
    slowestExec: Math.round(slowestExec), slowestMutation: Math.round(slowestMutation),
  };
}
