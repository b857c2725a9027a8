/*
 * image-registry.test.ts - the registry client against a small registry
 * served by this test on loopback: the bearer-token flow (401 with a
 * challenge, a token from the realm with basic credentials, the retry),
 * plain basic auth, and registries that answer 401, 404 or 500. References
 * are parsed as Docker parses them; a registry on this machine is reached
 * over HTTPS first, then plain HTTP, with no flag, and the host is told
 * apart from others as Docker does.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { PullEvent } from '../../src/image/progress.ts';
import { isLoopbackRegistry, parseReference, pull } from '../../src/image/registry.ts';
import { ImageStore } from '../../src/image/store.ts';
import { tarOf } from '../integration/image-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'runts-registry-unit-'));
const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blobs = new Map<string, Buffer>();
const manifests = new Map<string, Buffer>();
let server: Server;
let host = '';
const seen: string[] = [];

before(async () => {
  const layerTar = await tarOf([{ name: 'hello', body: 'world' }], { uid: process.getuid!(), gid: process.getgid!() });
  const layer = gzipSync(layerTar);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [digest(layerTar)] } }));
  blobs.set(digest(layer), layer);
  blobs.set(digest(config), config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(layer), size: layer.length }],
  }));
  manifests.set('1', manifest);

  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const auth = req.headers.authorization ?? '';
    seen.push(`${req.method} ${url.pathname}${url.search} ${auth.split(' ')[0] ?? ''}`);
    const deny = (challenge: string) => { res.writeHead(401, { 'www-authenticate': challenge }); res.end('{"errors":[{"code":"UNAUTHORIZED"}]}'); };
    if (url.pathname === '/token') {
      if (auth !== `Basic ${Buffer.from('alice:secret').toString('base64')}`) { res.writeHead(401); return res.end(); }
      if (url.searchParams.get('scope') !== 'repository:token/app:pull' || url.searchParams.get('service') !== 'fake') { res.writeHead(400); return res.end(); }
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ token: 'tok-123' }));
    }
    const m = /^\/v2\/(\w+)\/app\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
    if (!m) { res.writeHead(404); return res.end(); }
    const [, repo, kind, ref] = m;
    if (repo === 'broken') { res.writeHead(500); return res.end('internal trouble'); }
    if (repo === 'token' && auth !== 'Bearer tok-123') return deny(`Bearer realm="http://${host}/token",service="fake",scope="repository:token/app:pull"`);
    if (repo === 'basic' && auth !== `Basic ${Buffer.from('bob:pw').toString('base64')}`) return deny('Basic realm="fake"');
    const body = kind === 'manifests' ? manifests.get(ref!) : blobs.get(ref!);
    if (!body) { res.writeHead(404); return res.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'); }
    res.writeHead(200, { 'content-type': kind === 'manifests' ? 'application/vnd.oci.image.manifest.v1+json' : 'application/octet-stream' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('references parse as Docker parses them', () => {
  assert.deepEqual(parseReference('busybox'), { registry: 'registry-1.docker.io', repository: 'library/busybox', reference: 'latest', name: 'busybox:latest' });
  assert.deepEqual(parseReference('localhost:5000/a/b:1'), { registry: 'localhost:5000', repository: 'a/b', reference: '1', name: 'localhost:5000/a/b:1' });
  const d = `sha256:${'a'.repeat(64)}`;
  assert.equal(parseReference(`quay.io/x/y@${d}`).reference, d);
  assert.throws(() => parseReference('UPPER/case'), /invalid image reference/);
});

test('the bearer-token flow: challenge, token with basic credentials, retry', async () => {
  const store = new ImageStore(join(dir, 'token'));
  const events: PullEvent[] = [];
  const image = await pull(store, `${host}/token/app:1`, { insecure: true, username: 'alice', password: 'secret', progress: (e) => events.push(e) });
  assert.deepEqual(image.names, [`${host}/token/app:1`]);
  assert.equal(image.manifest, digest(manifests.get('1')!));
  assert.ok(seen.some((s) => s.startsWith('GET /token?') && s.endsWith('Basic')));
  assert.ok(seen.some((s) => s.startsWith('GET /v2/token/app/blobs/') && s.endsWith('Bearer')));
  assert.ok(events.some((e) => e.type === 'layer' && e.phase === 'downloaded'));
  await assert.rejects(pull(new ImageStore(join(dir, 'token2')), `${host}/token/app:1`, { insecure: true }), /token service .*: 401/);
});

test('basic auth; 401, 404 and 500 are clear errors', async () => {
  const store = new ImageStore(join(dir, 'basic'));
  await pull(store, `${host}/basic/app:1`, { insecure: true, username: 'bob', password: 'pw' });
  await assert.rejects(pull(store, `${host}/basic/app:1`, { insecure: true }), /asks for credentials/);
  await assert.rejects(pull(store, `${host}/basic/app:1`, { insecure: true, username: 'bob', password: 'wrong' }), (e: Error & { code?: string }) => e.code === 'EPERM' && /401/.test(e.message));
  await assert.rejects(pull(store, `${host}/token/app:2`, { insecure: true, username: 'alice', password: 'secret' }), (e: Error & { code?: string }) => e.code === 'ENOTFOUND' && /404/.test(e.message));
  await assert.rejects(pull(store, `${host}/broken/app:1`, { insecure: true }), /500 Internal Server Error \(internal trouble\)/);
});

test('a registry on this machine: localhost, 127.0.0.0/8 and [::1], with any port, and nothing else', () => {
  for (const host of ['localhost', 'localhost:5000', 'LOCALHOST:5000', '127.0.0.1', '127.0.0.1:5000', '127.1.2.3:80', '127.1:5000', '[::1]', '[::1]:5000', '[0:0::1]:5000']) {
    assert.equal(isLoopbackRegistry(host), true, host);
  }
  for (const host of ['registry-1.docker.io', 'quay.io:443', '10.0.0.1:5000', '128.0.0.1', '127.0.0.1.example.com', 'localhost.example.com',
    'example.com@127.0.0.1', '127.0.0.1@example.com', '[::2]:5000', '[::ffff:10.0.0.1]', '0.0.0.0:5000', '']) {
    assert.equal(isLoopbackRegistry(host), false, host);
  }
});

test('a loopback registry without TLS is reached over plain HTTP with no flag; --tls-verify=true (insecure: false) insists on HTTPS', async () => {
  const port = host.split(':')[1];
  for (const [name, registry] of [['ip', host], ['localhost', `localhost:${port}`]] as const) {
    const image = await pull(new ImageStore(join(dir, `fallback-${name}`)), `${registry}/plain/app:1`);
    assert.deepEqual(image.names, [`${registry}/plain/app:1`]);
  }
  await assert.rejects(pull(new ImageStore(join(dir, 'https-only')), `${host}/plain/app:1`, { insecure: false }),
    /cannot reach https:\/\/127\.0\.0\.1:\d+\/v2\/plain\/app\/manifests\/1: ERR_SSL_WRONG_VERSION_NUMBER$/);
});

test('a loopback registry that answers neither way: one error naming both attempts', async () => {
  const closed = await new Promise<number>((resolve) => {
    const srv = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
  await assert.rejects(pull(new ImageStore(join(dir, 'closed')), `127.0.0.1:${closed}/plain/app:1`),
    new RegExp(`cannot reach http://127\\.0\\.0\\.1:${closed}/v2/plain/app/manifests/1: ECONNREFUSED \\(and over HTTPS: ECONNREFUSED\\)`));
});
