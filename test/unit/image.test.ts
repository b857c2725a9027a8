/*
 * image.test.ts - the image store and the front end's pure parts, without
 * root: entry-name cleaning, escape refusal, digest verification while
 * streaming, platform selection, the image-to-config.json rules, and the
 * `run` dispatch between the OCI and the front-end forms.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { routeRun } from '../../src/cli/image-commands.ts';
import { capabilitySet, commandOf, DEFAULT_CAPABILITIES, imageSpec, mergeEnv, parseBytes, volumeMount } from '../../src/frontend/spec.ts';
import { hostPlatform, selectPlatform } from '../../src/image/archive.ts';
import { ImageStore, normalizeName } from '../../src/image/store.ts';
import { cleanEntryName, compressionOf, unpackLayer } from '../../src/image/unpack.ts';
import { tarOf as fixtureTarOf, type TarEntry } from '../integration/image-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'runts-image-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Owned by whoever runs the test: unpacking chowns, and this test runs without root. */
const tarOf = (entries: TarEntry[]) => fixtureTarOf(entries, { uid: process.getuid!(), gid: process.getgid!() });

test('entry names are cleaned; climbing out of the layer is refused', () => {
  assert.deepEqual(cleanEntryName('./a//b/'), ['a', 'b']);
  assert.deepEqual(cleanEntryName('/etc/passwd'), ['etc', 'passwd']);
  assert.deepEqual(cleanEntryName('a/../b'), ['b']);
  assert.throws(() => cleanEntryName('../x'), /escapes the layer root/);
  assert.throws(() => cleanEntryName('a/../../x'), /escapes the layer root/);
});

test('a layer entry through a symlink is refused and writes nothing outside', async () => {
  const outside = join(dir, 'outside');
  const dest = join(dir, 'dest-symlink');
  for (const d of [outside, dest]) rmSync(d, { recursive: true, force: true });
  mkdirSync(outside);
  mkdirSync(dest);
  const file = join(dir, 'evil.tar');
  writeFileSync(file, await tarOf([{ name: 'a', type: 'symlink', linkname: outside }, { name: 'a/pwned', body: 'x' }]));
  await assert.rejects(unpackLayer(file, dest), /goes through the symlink a: refused/);
  assert.deepEqual(readdirSync(outside), []);
});

test('a hard link to a file the layer does not hold names the entry, not "corrupt (gzip)"', async () => {
  const dest = join(dir, 'dest-link');
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest);
  const file = join(dir, 'dangling-link.tar');
  writeFileSync(file, await tarOf([{ name: 'b', type: 'link', linkname: 'missing' }]));
  await assert.rejects(unpackLayer(file, dest), /layer .*dangling-link\.tar: layer entry "b": hard link to "missing", which is not in the layer before it$/);
});

test('a whiteout of no file (.wh.., .wh..., a/.wh.) is refused before it removes anything', async () => {
  for (const [i, name] of ['.wh..', '.wh...', 'a/.wh.'].entries()) {
    const dest = join(dir, `dest-wh-${i}`);
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(join(dest, 'a'), { recursive: true });
    const file = join(dir, `wh-${i}.tar`);
    writeFileSync(file, await tarOf([{ name: 'a/keep', body: 'x' }, { name }]));
    await assert.rejects(unpackLayer(file, dest), /a whiteout of no file/, name);
    assert.deepEqual(readdirSync(join(dest, 'a')), ['keep'], name);
  }
});

test('gzip, zstd and plain layers unpack to the same files and the same diff id', async () => {
  const plain = await tarOf([{ name: 'd', type: 'directory' }, { name: 'd/f', body: 'hello' }, { name: 'd/h', type: 'link', linkname: 'd/f' }]);
  for (const [kind, data] of [['none', plain], ['gzip', gzipSync(plain)], ['zstd', zstdCompressSync(plain)]] as const) {
    const file = join(dir, `layer-${kind}`);
    writeFileSync(file, data);
    assert.equal(compressionOf(file), kind);
    const dest = join(dir, `out-${kind}`);
    mkdirSync(dest);
    const r = await unpackLayer(file, dest, sha(plain));
    assert.equal(r.diffId, sha(plain));
    assert.equal(readFileSync(join(dest, 'd/h'), 'utf8'), 'hello');
  }
});

test('a wrong diff id and a truncated layer are errors', async () => {
  const plain = await tarOf([{ name: 'f', body: 'x'.repeat(5000) }]);
  const file = join(dir, 'layer-diffid');
  writeFileSync(file, plain);
  const dest = join(dir, 'out-diffid');
  mkdirSync(dest);
  await assert.rejects(unpackLayer(file, dest, `sha256:${'0'.repeat(64)}`), /diff id mismatch/);
  const cut = join(dir, 'layer-cut.gz');
  writeFileSync(cut, gzipSync(plain).subarray(0, 60));
  const dest2 = join(dir, 'out-cut');
  mkdirSync(dest2);
  await assert.rejects(unpackLayer(cut, dest2), /corrupt or truncated/);
  const cutPlain = join(dir, 'layer-cut.tar');
  writeFileSync(cutPlain, plain.subarray(0, 2048));
  mkdirSync(join(dir, 'out-cut-plain'));
  await assert.rejects(unpackLayer(cutPlain, join(dir, 'out-cut-plain')), /^RuntsError: layer .*layer-cut\.tar: truncated tar: the stream ends inside the data of "f"/);
});

test('a blob whose digest does not match is not kept', async () => {
  const store = new ImageStore(join(dir, 'store'));
  const data = Buffer.from('some bytes');
  await assert.rejects(store.putBlob(Readable.from([data]), `sha256:${'1'.repeat(64)}`, 'layer x'), /layer x: digest mismatch/);
  assert.equal(store.hasBlob(sha(data)), false);
  assert.deepEqual(readdirSync(join(dir, 'store/tmp')), []);
  const ok = await store.putBlob(Readable.from([data]), sha(data));
  assert.equal(ok.digest, sha(data));
  assert.equal(existsSync(store.blobPath(sha(data))), true);
});

test('names default to :latest; platform selection names what an index offers', () => {
  assert.equal(normalizeName('busybox'), 'busybox:latest');
  assert.equal(normalizeName('localhost:5000/app'), 'localhost:5000/app:latest');
  assert.equal(normalizeName('localhost:5000/app:1'), 'localhost:5000/app:1');
  const me = hostPlatform();
  const d = (architecture: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${architecture.padEnd(64, '0').slice(0, 64)}`, size: 1, platform: { os: 'linux', architecture } });
  assert.equal(selectPlatform({ schemaVersion: 2, manifests: [d('s390x'), d(me.architecture)] }, 'x').platform!.architecture, me.architecture);
  assert.throws(() => selectPlatform({ schemaVersion: 2, manifests: [d('s390x'), d('ppc64le')] }, 'index y'), /index y: no image for linux\/.*the index has linux\/s390x, linux\/ppc64le/);
});

test('the image config becomes a config.json with the secure defaults', () => {
  const config = { rootfs: { type: 'layers', diff_ids: [] }, config: { Entrypoint: ['/bin/ep'], Cmd: ['default'], Env: ['A=1', 'B=2'], WorkingDir: '/srv' } };
  assert.deepEqual(commandOf(config, []), ['/bin/ep', 'default']);
  assert.deepEqual(commandOf(config, ['x', 'y']), ['/bin/ep', 'x', 'y']);
  assert.throws(() => commandOf({ rootfs: config.rootfs }, []), /no command/);
  assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B=3']), ['A=1', 'B=3']);
  assert.deepEqual(volumeMount('/h:/c:ro'), { destination: '/c', type: 'bind', source: '/h', options: ['rbind', 'rprivate', 'ro'] });
  assert.throws(() => volumeMount('rel:/c'), /absolute/);
  const spec = imageSpec(config, [], { env: ['B=9'], volumes: [], readOnly: true }, 'web');
  assert.deepEqual(spec.process!.args, ['/bin/ep', 'default']);
  assert.equal(spec.process!.cwd, '/srv');
  assert.ok(spec.process!.env!.includes('B=9') && spec.process!.env!.includes('A=1'));
  assert.deepEqual(spec.process!.capabilities!.bounding, DEFAULT_CAPABILITIES);
  assert.equal(spec.process!.noNewPrivileges, true);
  assert.equal(spec.root!.readonly, true);
  assert.equal(spec.linux!.seccomp!.defaultAction, 'SCMP_ACT_ERRNO');
  assert.deepEqual(spec.linux!.namespaces!.map((n) => n.type).sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts']);
  assert.ok(spec.linux!.maskedPaths!.includes('/proc/kcore'));
  const user = imageSpec(config, [], { env: [], volumes: [], user: { uid: 1000, gid: 1000 } }, 'web');
  assert.deepEqual(user.process!.capabilities!.effective, []);
});

test('run is the OCI verb with --bundle or ./config.json, the front end otherwise; ps and rm likewise', () => {
  const argv = (...a: string[]) => ['node', 'runts', ...a];
  const env = (cwdHasConfig: boolean) => ({ cwdHasConfig, isFrontEndContainer: (n: string) => n.startsWith('fe-') });
  assert.deepEqual(routeRun(argv('run', 'busybox', 'echo', '-b'), env(false)), argv('run-image', 'busybox', 'echo', '-b'));
  assert.deepEqual(routeRun(argv('--root', '/r', 'run', '--rm', '-e', 'A=1', 'img'), env(false)), argv('--root', '/r', 'run-image', '--rm', '-e', 'A=1', 'img'));
  assert.deepEqual(routeRun(argv('run', '-b', '/bundle', 'id'), env(false)), argv('run', '-b', '/bundle', 'id'));
  assert.deepEqual(routeRun(argv('run', '--bundle=/b', 'id'), env(false)), argv('run', '--bundle=/b', 'id'));
  assert.deepEqual(routeRun(argv('run', 'id'), env(true)), argv('run', 'id'));
  assert.deepEqual(routeRun(argv('state', 'run'), env(false)), argv('state', 'run'));
  assert.deepEqual(routeRun(argv('ps', '-a'), env(false)), argv('container', 'ls', '-a'));
  assert.deepEqual(routeRun(argv('ps', 'oci-id'), env(false)), argv('ps', 'oci-id'));
  assert.deepEqual(routeRun(argv('ps', '--format', '{{.Names}}'), env(false)), argv('container', 'ls', '--format', '{{.Names}}'));
  assert.deepEqual(routeRun(argv('ps', '-f', 'json', 'oci-id'), env(false)), argv('ps', '-f', 'json', 'oci-id'));
  assert.deepEqual(routeRun(argv('rm', '-f', 'fe-web'), env(false)), argv('container', 'rm', '-f', 'fe-web'));
  assert.deepEqual(routeRun(argv('rm', 'fe-web', 'oci-id'), env(false)), argv('rm', 'fe-web', 'oci-id'));
  assert.deepEqual(routeRun(argv('delete', 'oci-id'), env(false)), argv('delete', 'oci-id'));
});

test('capability, security and resource flags', () => {
  assert.deepEqual(capabilitySet([], ['ALL']), []);
  assert.deepEqual(capabilitySet(['chown'], ['ALL']), ['CAP_CHOWN']);
  assert.ok(!capabilitySet([], ['CAP_KILL', 'setuid']).includes('CAP_KILL'));
  assert.ok(capabilitySet(['NET_ADMIN']).includes('CAP_NET_ADMIN'));
  assert.ok(capabilitySet(['ALL']).length > 35);
  assert.throws(() => capabilitySet(['CAP_NOPE']), /unknown capability CAP_NOPE/);
  assert.equal(parseBytes('--memory', '64m'), 64 * 1024 * 1024);
  assert.equal(parseBytes('--memory', '1g'), 1024 ** 3);
  assert.equal(parseBytes('--memory', '4096'), 4096);
  assert.throws(() => parseBytes('--memory', 'lots'), /--memory lots/);
  const config = { rootfs: { type: 'layers', diff_ids: [] }, config: { Cmd: ['sh'] } };
  const spec = imageSpec(config, [], { env: [], volumes: [], memory: 1 << 26, cpus: 1.5, pidsLimit: 10, seccomp: 'unconfined', noNewPrivileges: false, capDrop: ['ALL'], tty: true }, 'web');
  assert.deepEqual(spec.linux!.resources!.memory, { limit: 1 << 26 });
  assert.deepEqual(spec.linux!.resources!.cpu, { period: 100000, quota: 150000 });
  assert.deepEqual(spec.linux!.resources!.pids, { limit: 10 });
  assert.equal(spec.linux!.seccomp, undefined);
  assert.equal(spec.process!.noNewPrivileges, false);
  assert.equal(spec.process!.terminal, true);
  assert.deepEqual(spec.process!.capabilities!.bounding, []);
  assert.throws(() => imageSpec(config, [], { env: [], volumes: [], cpus: 0 }, 'web'), /--cpus 0/);
});
