/*
 * image-registry.test.ts - `runts pull` against a real registry: Debian's
 * docker-registry, started by this file on loopback with its storage in the
 * run's temp dir, and filled by skopeo from OCI layouts the test builds (one
 * image with whiteouts, a multi-platform index, an index for another
 * platform only). skopeo also pulls what runts pulled, as a cross-check.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureRunDir, RUN_PREFIX } from '../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { hasCommand, isRoot } from '../lib/host.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';
import { BUSYBOX, busyboxLayer, hostArch, ociIndexLayout, ociLayout, tarOf, whiteoutLayer } from './image-fixtures.ts';

const missing = ['docker-registry', 'skopeo'].filter((c) => !hasCommand(c));
const skip = !isRoot() ? 'needs root' : missing.length ? `needs ${missing.join(', ')} (scripts/setup.sh installs them)` : !existsSync(BUSYBOX) ? 'needs `npm run build`' : false;
if (skip && process.env.CI === 'true') throw new Error(`registry tests: ${skip}`);

const base = join(ensureRunDir(), 'registry');
const store = join(base, 'store');
let registry: ChildProcess | undefined;
let host = '';

after(async () => {
  if (registry?.exitCode === null) {
    const gone = new Promise((r) => registry!.once('exit', r));
    registry.kill('SIGTERM');
    await gone;
  }
  runts(['network', 'prune']);
  rmSync(base, { recursive: true, force: true });
});
checkLeaksAfterFile();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    }).on('error', reject);
  });
}

interface Result { code: number; stdout: string; stderr: string }
function runts(args: string[]): Result {
  // a bridge, subnet and IPAM file of the test's own (network.test.ts tests networking itself)
  const env: NodeJS.ProcessEnv = { ...process.env, RUNTS_STORE: store, RUNTS_NET_BRIDGE: `${RUN_PREFIX}g`, RUNTS_NET_SUBNET: '10.234.0.0/24', RUNTS_NET_STATE: join(base, 'net'), RUNTS_NET_CONFIG: join(base, 'networks') };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(RUNTS_BIN, ['--root', join(base, 'state'), ...args], { env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
function ok(args: string[]): string {
  const r = runts(args);
  assert.equal(r.code, 0, `runts ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
function skopeo(...args: string[]) {
  const r = spawnSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `skopeo ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const push = (layoutDir: string, name: string, all = false) => skopeo('copy', ...(all ? ['--all'] : []), '--dest-tls-verify=false', `oci:${layoutDir}:push`, `docker://${host}/${name}`);
const imagesJson = () => (existsSync(join(store, 'images.json')) ? readFileSync(join(store, 'images.json'), 'utf8') : '');

before(async () => {
  if (skip) return;
  mkdirSync(base, { recursive: true });
  host = `127.0.0.1:${await freePort()}`;
  writeFileSync(join(base, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(base, 'data')}\nhttp:\n  addr: ${host}\n`);
  registry = spawn('docker-registry', ['serve', join(base, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  registry.stderr!.on('data', (d) => { log += d; });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) break;
    } catch { /* not listening yet */ }
    if (registry.exitCode !== null || i > 600) throw new Error(`docker-registry did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});

test('pull from a local registry, run it, and agree with skopeo on the manifest', { skip }, async () => {
  push(ociLayout(join(base, 'stack'), 'push', [{ tar: busyboxLayer(), compress: 'gzip' }, { tar: await whiteoutLayer() }]).dir, 'test/stack:1');
  const out = ok(['pull', '--insecure', `${host}/test/stack:1`]);
  assert.match(out, new RegExp(`^Pulled ${host}/test/stack:1 \\(sha256:[0-9a-f]{64}\\)`));
  assert.equal(ok(['run', '--rm', `${host}/test/stack:1`, 'echo', 'hi']), 'hi\n');
  const [info] = JSON.parse(ok(['inspect', `${host}/test/stack:1`])) as { Digest: string }[];
  const inspected = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${host}/test/stack:1`)) as { Digest: string };
  assert.equal(info!.Digest, inspected.Digest);
  // pulling again fetches no layer
  const again = runts(['pull', '--insecure', `${host}/test/stack:1`]);
  assert.equal(again.code, 0);
  assert.doesNotMatch(again.stderr, /downloaded/);
});

test('an index: the image for this machine is chosen; an index for another platform only is refused', { skip }, async () => {
  const mine = await tarOf([{ name: 'arch', body: hostArch }]);
  const other = await tarOf([{ name: 'arch', body: 's390x' }]);
  push(ociIndexLayout(join(base, 'multi'), 'push', [{ architecture: 's390x', layers: [busyboxLayer(), other] }, { architecture: hostArch, layers: [busyboxLayer(), mine] }]).dir, 'test/multi:1', true);
  ok(['pull', '--insecure', `${host}/test/multi:1`]);
  assert.equal(ok(['run', '--rm', `${host}/test/multi:1`, 'cat', '/arch']), hostArch);
  push(ociIndexLayout(join(base, 'foreign'), 'push', [{ architecture: 's390x', layers: [other] }]).dir, 'test/foreign:1', true);
  const before = imagesJson();
  const r = runts(['pull', '--insecure', `${host}/test/foreign:1`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`no image for linux/${hostArch} \\(the index has linux/s390x\\)`));
  assert.equal(imagesJson(), before);
});

test('unknown images, a corrupt blob in the registry and a wrong scheme are clear errors that change nothing', { skip }, async () => {
  const before = imagesJson();
  const unknown = runts(['pull', '--insecure', `${host}/test/nothing:1`]);
  assert.match(unknown.stderr, /404 Not Found.*no such image/);
  const unique = await tarOf([{ name: 'unique', body: 'x'.repeat(4096) }]);
  const layout = ociLayout(join(base, 'corrupt'), 'push', [{ tar: unique, compress: 'gzip' }]);
  push(layout.dir, 'test/corrupt:1');
  const blob = layout.layerDigests[0]!.slice(7);
  const blobData = join(base, 'data/docker/registry/v2/blobs/sha256', blob.slice(0, 2), blob, 'data');
  const data = readFileSync(blobData);
  data[100] = data[100]! ^ 0xff;
  writeFileSync(blobData, data);
  const corrupt = runts(['pull', '--insecure', `${host}/test/corrupt:1`]);
  assert.notEqual(corrupt.code, 0);
  assert.match(corrupt.stderr, /digest mismatch/);
  assert.equal(imagesJson(), before);
  assert.equal(existsSync(join(store, 'blobs/sha256', blob)), false);
  assert.deepEqual(readdirSync(join(store, 'tmp')), []);
  const tls = runts(['pull', `${host}/test/stack:1`]);
  assert.match(tls.stderr, /cannot reach https:/);
});
