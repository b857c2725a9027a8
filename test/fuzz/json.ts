/**
 * json.ts - JSON-aware mutators for the fuzz engine (engine.ts): parse the
 * input, change one node, write it back. A byte mutation of a config.json
 * is mostly a syntax error; these keep the document valid JSON and change
 * what the validator sees: a value of another type, a missing or an extra
 * member, a subtree from another input, a number at an edge of its range,
 * a string from the dictionary (names the runtime-spec uses).
 *
 * Values JSON.stringify cannot write (integers past 2^53, exponents out of
 * range, deep nesting) go in as raw text behind a marker string.
 */
import { MAX_INPUT, type Mutator, type Rng } from './engine.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

const RAW = '\u0001raw:';
const RAW_VALUES = [
  '18446744073709551615', '18446744073709551616', '9223372036854775807', '-9223372036854775808', '9007199254740993',
  '1e309', '-1e309', '1e-400', '-0', '0.0000001', '123456789012345678901234567890',
];

/** The document, unless it is not JSON or nests deeper than 100 (walking that would cost more than it finds). */
function parse(input: Buffer): Json | undefined {
  let depth = 0, inString = false;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) { if (++depth > 100) return undefined; }
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  try { return JSON.parse(input.toString('utf8')) as Json; } catch { return undefined; }
}

/** The document as text; undefined when it outgrows what the engine runs (MAX_INPUT). */
function serialize(value: Json, rng: Rng): Buffer | undefined {
  let text = JSON.stringify(value, null, rng.chance(0.2) ? 2 : undefined);
  if (text.length > MAX_INPUT) return undefined;
  text = text.replace(/"\\u0001raw:((?:[^"\\]|\\.)*)"/g, (_, raw: string) => JSON.parse(`"${raw}"`) as string);
  return Buffer.from(text, 'utf8');
}

/** Paths into the document, the root included: the first 2000, none deeper than 32. */
function paths(value: Json, at: Path = [], out: Path[] = []): Path[] {
  if (out.length >= 2000) return out;
  out.push(at);
  if (at.length >= 32) return out;
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...at, i], out));
  else if (value && typeof value === 'object') for (const k of Object.keys(value)) paths(value[k]!, [...at, k], out);
  return out;
}

function get(value: Json, path: Path): Json {
  let v: Json = value;
  for (const k of path) v = (v as Record<string | number, Json>)[k]!;
  return v;
}

/** Sets the node at path (an own property, even for "__proto__"); the root is replaced by returning it. */
function set(root: Json, path: Path, v: Json): Json {
  if (!path.length) return v;
  const parent = get(root, path.slice(0, -1)) as Record<string | number, Json>;
  Object.defineProperty(parent, path.at(-1)!, { value: v, enumerable: true, writable: true, configurable: true });
  return root;
}

function interesting(rng: Rng, dictionary: string[]): Json {
  switch (rng.below(12)) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: return rng.pick([0, -1, 1, 2 ** 31, 2 ** 32, -(2 ** 31) - 1, 2 ** 53 - 1, 0.5, -0.5, 65536, 4294967295]);
    case 3: return `${RAW}${rng.pick(RAW_VALUES)}`;
    case 4: return rng.pick(['', ' ', '/', '..', '../../etc/passwd', '\u0000', 'a\u0000b', '\uffff', '\ud800', '%zz', '='.repeat(3)]);
    case 5: return 'x'.repeat(rng.size(20000));
    case 6: return [];
    case 7: return {};
    case 8: return [null];
    case 9: {
      const n = rng.size(20000);
      return `${RAW}${'['.repeat(n)}${']'.repeat(n)}`;
    }
    default: return dictionary.length ? rng.pick(dictionary) : 'x';
  }
}

function mutateNumber(n: number, rng: Rng): Json {
  switch (rng.below(7)) {
    case 0: return n + 1;
    case 1: return n - 1;
    case 2: return -n;
    case 3: return n * 2 ** rng.below(40);
    case 4: return n + 0.5;
    case 5: return String(n);
    default: return `${RAW}${rng.pick(RAW_VALUES)}`;
  }
}

function mutateString(s: string, rng: Rng, dictionary: string[]): Json {
  switch (rng.below(7)) {
    case 0: return s + rng.pick(['/', '.', ' ', '\n', '\u0000', ',', '=', ':', '-1', 'x']);
    case 1: return s.slice(0, rng.below(s.length + 1));
    case 2: return s.toUpperCase() === s ? s.toLowerCase() : s.toUpperCase();
    case 3: return s.repeat(rng.size(Math.max(1, Math.floor(4096 / (s.length + 1)))));
    case 4: return Number.isNaN(Number(s)) ? s : Number(s);
    case 5: return `/${s}`;
    default: return dictionary.length ? rng.pick(dictionary) : s;
  }
}

/** Keys and strings of the seeds: the words a target understands. */
export function jsonDictionary(seeds: Buffer[]): string[] {
  const words = new Set<string>();
  const walk = (v: Json) => {
    if (typeof v === 'string' && v.length < 80) words.add(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { words.add(k); walk(x); }
  };
  for (const s of seeds) { const v = parse(s); if (v !== undefined) walk(v); }
  return [...words];
}

/** The JSON mutators; `dictionary` holds the words of the format. */
export function jsonMutators(dictionary: string[]): Mutator[] {
  const onNode = (f: (node: Json, rng: Rng, root: Json, path: Path) => Json | undefined): Mutator => (input, rng) => {
    const root = parse(input);
    if (root === undefined) return undefined;
    const all = paths(root);
    const path = rng.pick(all);
    const out = f(get(root, path), rng, root, path);
    return out === undefined ? undefined : serialize(set(root, path, out), rng);
  };
  return [
    onNode((_, rng) => interesting(rng, dictionary)),
    onNode((node, rng) => {
      if (typeof node === 'number') return mutateNumber(node, rng);
      if (typeof node === 'string') return mutateString(node, rng, dictionary);
      if (typeof node === 'boolean') return rng.chance(0.5) ? !node : String(node);
      return undefined;
    }),
    // remove a member or an element
    onNode((node, rng) => {
      if (Array.isArray(node) && node.length) { node.splice(rng.below(node.length), 1); return node; }
      if (node && typeof node === 'object' && !Array.isArray(node)) {
        const keys = Object.keys(node);
        if (keys.length) delete node[rng.pick(keys)];
        return node;
      }
      return undefined;
    }),
    // add a member (a known key) or repeat an element
    onNode((node, rng) => {
      if (Array.isArray(node)) {
        const item = node.length ? rng.pick(node) : interesting(rng, dictionary);
        const room = Math.floor(MAX_INPUT / 4 / ((JSON.stringify(item) ?? '').length + 1));
        for (let n = Math.min(room, rng.chance(0.1) ? rng.size(200) : 1); n > 0; n--) node.push(item);
        return node;
      }
      if (node && typeof node === 'object') {
        const key = rng.chance(0.05) ? '__proto__' : dictionary.length ? rng.pick(dictionary) : 'x';
        Object.defineProperty(node, key, { value: interesting(rng, dictionary), enumerable: true, writable: true, configurable: true });
        return node;
      }
      return undefined;
    }),
    // wrap in an array or an object
    onNode((node, rng) => (rng.chance(0.5) ? [node] : { [dictionary.length ? rng.pick(dictionary) : 'x']: node })),
    // a subtree of another input in its place
    (input, rng, ctx) => {
      const root = parse(input), donor = parse(ctx.other());
      if (root === undefined || donor === undefined) return undefined;
      return serialize(set(root, rng.pick(paths(root)), structuredClone(get(donor, rng.pick(paths(donor))))), rng);
    },
  ];
}
