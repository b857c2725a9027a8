/**
 * targets.ts - the TypeScript fuzz targets and the contract each checks.
 * (The fourth target, the executor's plan decoder, is plan-decoder.c.)
 *
 *   config    parseSpec (src/oci/validate.ts) on any text: a Spec, or a
 *             RuntsError that names the field; a Spec it returns validates
 *             again (what `runts` hands on is a fixed point of the checks)
 *   tar       readTar (src/image/tar-read.ts) on any byte stream, fed in
 *             uneven chunks: entries, or a RuntsError EIMAGE naming the
 *             problem. Each entry is one unpack can apply: a size that is
 *             a whole number and exactly the bytes its body streams, ids
 *             a uid_t holds, a mode and device numbers >= 0, a real mtime
 *   manifest  parseManifest (src/image/registry.ts) on any answer: a
 *             manifest or index pull can follow, or a RuntsError. An index
 *             yields, through selectPlatform, a descriptor whose digest
 *             follows the OCI digest grammar (it goes into the next URL); a
 *             manifest has a config and layers with sha256 digests
 *
 * Anything else thrown is a finding; so is a hang or a heap that grows past
 * the worker's limit (run.ts watches both).
 */
import { isIndex, selectPlatform } from '../../src/image/archive.ts';
import { parseManifest } from '../../src/image/registry.ts';
import { readTar } from '../../src/image/tar-read.ts';
import { parseSpec, validateSpec } from '../../src/oci/validate.ts';
import { RuntsError } from '../../src/errors.ts';
import { outcomeOf, type Target } from './engine.ts';
import { jsonDictionary, jsonMutators } from './json.ts';
import { TAR_MUTATORS } from './tar-mutate.ts';

/** A broken invariant: not an error the target may throw. */
export class Violation extends Error {
  override name = 'Violation';
  /** what was broken, without the values: findings of one kind are one finding */
  readonly kind: string;
  constructor(kind: string, detail: string, options?: ErrorOptions) {
    super(`${kind}: ${detail}`, options);
    this.kind = kind;
  }
}

/** The errors a target may throw: a RuntsError, of one of `codes` when given, never EINTERNAL (a bug). */
function expected(err: unknown, codes?: string[]): string {
  if (err instanceof RuntsError && err.code !== 'EINTERNAL' && (!codes || codes.includes(err.code)) && err.message) {
    return outcomeOf(`${err.code} ${err.message}`);
  }
  throw err;
}

export const configTarget: Target = {
  name: 'config',
  run(input) {
    let spec;
    try {
      spec = parseSpec(input.toString('utf8'));
    } catch (err) {
      return expected(err, ['EINVAL_CONFIG']);
    }
    try {
      validateSpec(spec);
    } catch (err) {
      throw new Violation('a validated config fails validation again', (err as Error).message, { cause: err });
    }
    return 'ok';
  },
};

/** The input in chunks of uneven sizes, the same for the same input (a finding replays). */
async function* chunked(input: Buffer): AsyncGenerator<Buffer> {
  let state = input.length * 2654435761 >>> 0;
  for (let at = 0; at < input.length;) {
    state = (state * 1103515245 + 12345) >>> 0;
    const n = [1, 7, 511, 512, 513, 4096, 65536][state % 7]!;
    yield input.subarray(at, at + n);
    at += n;
  }
}

const UID_MAX = 0xfffffffe; // (uid_t)-1 means "unchanged" to chown(2)

export const tarTarget: Target = {
  name: 'tar',
  async run(input) {
    const types = new Set<string>();
    let n = 0;
    try {
      for await (const e of readTar(chunked(input))) {
        const where = `entry ${n} (${JSON.stringify(e.name)})`;
        if (!Number.isSafeInteger(e.size) || e.size < 0) throw new Violation('size not a whole number >= 0', `${where}: size ${e.size}`);
        for (const key of ['uid', 'gid'] as const) {
          if (!Number.isSafeInteger(e[key]) || e[key] < 0 || e[key] > UID_MAX) throw new Violation(`${key} not a uid_t`, `${where}: ${key} ${e[key]}`);
        }
        for (const key of ['mode', 'devmajor', 'devminor'] as const) {
          const n = e[key] ?? 0;
          if (!Number.isSafeInteger(n) || n < 0) throw new Violation(`${key} not a whole number >= 0`, `${where}: ${key} ${n}`);
        }
        if (Number.isNaN(e.mtime.getTime())) throw new Violation('an invalid mtime', where);
        types.add(e.type);
        // read two bodies in three; leave the third for the reader to skip
        if (n++ % 3 !== 2) {
          let got = 0;
          for await (const chunk of e.body) got += chunk.length;
          if (got !== e.size) throw new Violation('a body that is not its size', `${where}: its body streamed ${got} bytes, its size is ${e.size}`);
        }
      }
    } catch (err) {
      return expected(err, ['EIMAGE']);
    }
    return `ok ${[...types].sort().join(',')}`;
  },
  mutators: TAR_MUTATORS,
  dictionary: ['ustar\u000000', 'ustar  \u0000', '././@PaxHeader', '././@LongLink', 'SCHILY.xattr.', 'LIBARCHIVE.xattr.', 'path=', 'size=', '.wh.', '.wh..wh..opq'],
};

const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** what may go into the next URL: the OCI digest grammar */
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const CONTENT_TYPES = [null, 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json; charset=utf-8', 'text/plain', ''];

export const manifestTarget: Target = {
  name: 'manifest',
  run(input) {
    const contentType = CONTENT_TYPES[input.length % CONTENT_TYPES.length]!;
    let json;
    try {
      json = parseManifest(input, 'latest', contentType).json;
    } catch (err) {
      return expected(err, ['EIMAGE']);
    }
    if (isIndex(json)) {
      let chosen;
      try {
        chosen = selectPlatform(json, 'fuzz');
      } catch (err) {
        return expected(err, ['ENOTFOUND', 'EIMAGE']);
      }
      if (typeof chosen?.digest !== 'string' || !ANY_DIGEST.test(chosen.digest)) throw new Violation('an index entry without a digest chosen', `digest ${JSON.stringify(chosen?.digest)?.slice(0, 200)}`);
      return 'ok index';
    }
    if (typeof json.config?.digest !== 'string' || !DIGEST.test(json.config.digest)) throw new Violation('a manifest without a config digest accepted', `config digest ${JSON.stringify(json.config?.digest)?.slice(0, 200)}`);
    if (!Array.isArray(json.layers)) throw new Violation('a manifest without a list of layers accepted', `layers ${JSON.stringify(json.layers)?.slice(0, 200)}`);
    for (const l of json.layers as unknown[]) {
      const d = (l as { digest?: unknown } | null)?.digest;
      if (typeof d !== 'string' || !DIGEST.test(d)) throw new Violation('a layer without a digest accepted', `digest ${JSON.stringify(d)?.slice(0, 200)}`);
    }
    return `ok manifest ${Math.min(json.layers.length, 3)}`;
  },
};

export const TS_TARGETS: Record<string, Target> = { config: configTarget, tar: tarTarget, manifest: manifestTarget };

/** JSON targets learn their words from their seeds. */
export function withSeeds(target: Target, seeds: Buffer[]): Target {
  if (target.mutators) return target;
  const dictionary = jsonDictionary(seeds);
  return { ...target, mutators: jsonMutators(dictionary), dictionary: [...dictionary.map((w) => JSON.stringify(w)), 'null', 'true', '{}', '[]', '"', ',', ':', '\\u0000', '\\ud800'] };
}
