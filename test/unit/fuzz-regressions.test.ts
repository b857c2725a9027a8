// What the fuzzers (test/fuzz/) found, kept found: every input in
// test/fuzz/regressions/<target>/ once broke its target's contract and must
// now give an outcome the contract allows; then each bug, written small,
// with the error it must give. The contracts: test/fuzz/targets.ts.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RuntsError } from '../../src/errors.ts';
import { parseManifest } from '../../src/image/registry.ts';
import { BLOCK, FIELD } from '../../src/image/tar.ts';
import { readTar } from '../../src/image/tar-read.ts';
import { parseSpec, validateProcess } from '../../src/oci/validate.ts';
import { fixChecksum } from '../fuzz/tar-mutate.ts';
import { TS_TARGETS } from '../fuzz/targets.ts';

const REGRESSIONS = join(import.meta.dirname, '../fuzz/regressions');

for (const [name, target] of Object.entries(TS_TARGETS)) {
  const dir = join(REGRESSIONS, name);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => !f.includes('.')).sort() : [];
  test(`fuzz regressions, ${name}: ${files.length} inputs that once broke it now keep its contract`, async () => {
    assert.ok(files.length > 0, `inputs in ${dir}`);
    for (const f of files) {
      const outcome = await target.run(readFileSync(join(dir, f)));
      assert.equal(typeof outcome, 'string', f);
    }
  });
}

// ---- config.json ------------------------------------------------------------

const refused = (fn: () => unknown, code: string, message: RegExp) => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RuntsError, `a RuntsError, not ${(err as Error).name}: ${(err as Error).message}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
};

const deepValue = (n: number): unknown => { let v: unknown = []; for (let i = 1; i < n; i++) v = [v]; return v; };

test('config: JSON nested past the stack is refused as invalid JSON, not a RangeError', () => {
  const deep = (n: number) => `{"ociVersion":"1.2.0","x":${'['.repeat(n)}${']'.repeat(n)}}`;
  refused(() => parseSpec(deep(100000)), 'EINVAL_CONFIG', /^config\.json: invalid JSON: nested too deeply to read$/);
  // broken as well as deep: V8's own message names the place
  refused(() => parseSpec(`{"x":${'['.repeat(100000)}1}`), 'EINVAL_CONFIG', /^config\.json: invalid JSON: .*position 100006/);
  // deep, but within what V8 reads: refused at a fixed depth, the same every time
  // (found: a config that passed once overflowed the stack when checked again)
  for (let i = 0; i < 3; i++) refused(() => parseSpec(deep(1000)), 'EINVAL_CONFIG', /^x(\[0\]){63}: nested more than 64 levels deep$/);
  refused(() => parseSpec(deep(63)), 'EINVAL_CONFIG', /^root: required$/);
  refused(() => validateProcess({ args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 }, env: [[[[1]]]], x: deepValue(70) }),
    'EINVAL_CONFIG', /^process\.x(\[0\]){63}: nested more than 64 levels deep$/);
});

// ---- tar --------------------------------------------------------------------

/** One ustar header; `fields` are raw bytes or text put at their offsets. */
function header(fields: Partial<Record<keyof typeof FIELD, string | Buffer>>, typeflag = '0'): Buffer {
  const b = Buffer.alloc(BLOCK);
  const all = { name: 'f', mode: '0000644\0', uid: '0000000\0', gid: '0000000\0', size: '00000000000\0', mtime: '14530000000\0', ...fields };
  for (const [key, value] of Object.entries(all)) Buffer.from(value as string | Buffer).copy(b, FIELD[key as keyof typeof FIELD][0]);
  b.write(typeflag, FIELD.typeflag[0], 'latin1');
  b.write('ustar\x0000', FIELD.magic[0], 8, 'latin1');
  fixChecksum(b, 0);
  return b;
}

/** A PAX header with these records, then a file entry. */
function withPax(records: Record<string, string>): Buffer {
  const body = Buffer.concat(Object.entries(records).map(([k, v]) => {
    const rest = Buffer.byteLength(` ${k}=${v}\n`);
    let len = rest + 1;
    while (len !== rest + String(len).length) len = rest + String(len).length;
    return Buffer.from(`${len} ${k}=${v}\n`);
  }));
  const padded = Buffer.concat([body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK)]);
  return Buffer.concat([header({ size: `${body.length.toString(8).padStart(11, '0')}\0` }, 'x'), padded, header({}), Buffer.alloc(2 * BLOCK)]);
}

/** base-256 (GNU): the top bit set, then big-endian two's complement over the field. */
function base256(length: number, value: bigint): Buffer {
  const b = Buffer.alloc(length);
  let v = BigInt.asUintN(8 * length, value);
  for (let i = length - 1; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn);
  if (value >= 0n) b[0]! |= 0x80;
  return b;
}

async function* stream(archive: Buffer) {
  yield archive;
}

async function entries(archive: Buffer) {
  const out = [];
  for await (const e of readTar(stream(archive))) out.push({ name: e.name, uid: e.uid, gid: e.gid, size: e.size, mode: e.mode, mtime: e.mtime });
  return out;
}

const tarRefused = (archive: Buffer, message: RegExp) => assert.rejects(entries(archive), (err: unknown) => {
  assert.ok(err instanceof RuntsError, `a RuntsError, not ${(err as Error).name}: ${(err as Error).message}`);
  assert.equal(err.code, 'EIMAGE');
  assert.match(err.message, message);
  return true;
});

test('tar: a negative base-256 number is corrupt, but for a time before 1970', async () => {
  const end = Buffer.alloc(2 * BLOCK);
  for (const field of ['size', 'mode', 'uid', 'gid', 'devmajor', 'devminor'] as const) {
    await tarRefused(Buffer.concat([header({ [field]: base256(FIELD[field][1], -1n) }), end]), new RegExp(`^corrupt tar: the ${field} of the header at byte 0 is negative: -1$`));
  }
  const [old] = await entries(Buffer.concat([header({ mtime: base256(12, -86400n) }), end]));
  assert.equal(old!.mtime.toISOString(), '1969-12-31T00:00:00.000Z');
  // and a large one still reads
  const [big] = await entries(Buffer.concat([header({ uid: base256(8, 3_000_000_000n) }), end]));
  assert.equal(big!.uid, 3_000_000_000);
});

test('tar: ids past uid_t and times past what a Date holds are corrupt', async () => {
  await tarRefused(withPax({ uid: '4294967295' }), /^corrupt tar: the uid of the entry at byte 1024 \("f"\) is 4294967295, past the largest id \(4294967294\)$/);
  await tarRefused(withPax({ gid: '9007199254740991' }), /^corrupt tar: the gid of the entry at byte 1024 \("f"\) is 9007199254740991/);
  await tarRefused(Buffer.concat([header({ uid: base256(8, 1n << 40n) }), Buffer.alloc(2 * BLOCK)]), /the uid of the entry at byte 0 \("f"\) is 1099511627776/);
  await tarRefused(withPax({ mtime: '9007199254740' }), /^corrupt tar: the mtime of the entry at byte 1024 \("f"\) is out of range: 9007199254740$/);
  const [e] = await entries(withPax({ uid: '4294967294', mtime: '-8640000000000' }));
  assert.equal(e!.uid, 4294967294);
  assert.equal(e!.mtime.getTime(), -8.64e15);
});

test('tar: a libarchive xattr name that is not URL-encoded is corrupt, not a URIError', async () => {
  await tarRefused(withPax({ 'LIBARCHIVE.xattr.user.%zz': 'eA==' }), /^corrupt tar: PAX "LIBARCHIVE\.xattr\.user\.%zz": the xattr name is not URL-encoded$/);
  const archive = withPax({ 'LIBARCHIVE.xattr.user.a%3Db': 'eA==' });
  for await (const e of readTar(stream(archive))) assert.deepEqual([...e.xattrs], [['user.a=b', Buffer.from('x')]]);
});

// ---- registry manifests -------------------------------------------------------

const D = (c: string) => `sha256:${c.repeat(64)}`;
const manifestRefused = (doc: unknown, message: RegExp, contentType: string | null = null) =>
  refused(() => parseManifest(Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), 'latest', contentType), 'EIMAGE', message);

test('manifest: a document that is not an object is refused, not a TypeError', () => {
  for (const doc of ['null', '14', 'true', '"sha256:abc"', '[]']) manifestRefused(doc, /^manifest latest: not a JSON object$/);
  manifestRefused({ mediaType: 7 }, /^manifest latest: mediaType is not a string$/);
});

test('manifest: an index must list descriptors with digests, platforms as os and architecture', () => {
  const index = (manifests: unknown) => ({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
  manifestRefused(index(undefined), /^manifest latest: an index without a manifests list$/);
  manifestRefused(index(null), /an index without a manifests list/);
  manifestRefused(index({ length: 1 }), /an index without a manifests list/);
  manifestRefused(index([null]), /^manifest latest: manifests\[0\]: not a descriptor with a digest$/);
  manifestRefused(index([{ digest: D('a') }, { digest: '../../../v2/other/manifests/x' }]), /manifests\[1\]: not a descriptor with a digest/);
  manifestRefused(index([{ digest: [D('a')] }]), /manifests\[0\]: not a descriptor with a digest/);
  manifestRefused(index([{ digest: D('a'), platform: { os: 'linux', architecture: [[[]]] } }]), /^manifest latest: manifests\[0\]\.platform: not an os and an architecture$/);
  manifestRefused(index([{ digest: D('a'), platform: 'linux/amd64' }]), /manifests\[0\]\.platform/);
  // what a registry sends still reads; another algorithm is not this parser's to refuse
  const ok = parseManifest(Buffer.from(JSON.stringify(index([{ digest: D('a'), platform: { os: 'linux', architecture: 'amd64' } }, { digest: `sha512:${'b'.repeat(128)}` }]))), 'latest', null);
  assert.equal(ok.json.manifests.length, 2);
});

test('manifest: an image manifest must have a config and layers with sha256 digests', () => {
  const image = (config: unknown, layers: unknown) => ({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers });
  manifestRefused(image({ digest: D('c') }, undefined), /^manifest latest: no config or layers \(schema 1 manifests are not supported\)$/);
  manifestRefused({ schemaVersion: 1, fsLayers: [] }, /no config or layers/);
  manifestRefused(image(D('c'), []), /no config or layers/);
  manifestRefused(image({ digest: [D('c')] }, []), /^manifest latest: config: not a sha256 digest: \(none\)$/);
  manifestRefused(image({ digest: `${D('c')}0` }, []), /^manifest latest: config: not a sha256 digest: sha256:c{64}0$/);
  manifestRefused(image({ digest: D('c') }, [{ digest: D('1') }, {}]), /^manifest latest: layers\[1\]: not a sha256 digest: \(none\)$/);
  manifestRefused(image({ digest: D('c') }, [null]), /layers\[0\]: not a sha256 digest/);
  const ok = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: D('c') }, layers: [{ digest: D('1'), size: 3 }] })), 'latest', 'application/vnd.oci.image.manifest.v1+json; charset=utf-8');
  assert.equal(ok.json.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(ok.json.layers[0]!.digest, D('1'));
});
