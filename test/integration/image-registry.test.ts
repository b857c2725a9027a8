/*
 * image-registry.test.ts - `runts pull` against real registries: Debian's
 * docker-registry, started by this file on loopback with its storage in the
 * run's temp dir, and filled by skopeo from OCI layouts the test builds (one
 * image with whiteouts, a multi-platform index, an index for another
 * platform only). skopeo also pulls what runts pulled, as a cross-check.
 *
 * A second docker-registry wants bearer tokens: this file runs the token
 * service it trusts (node:http; JWTs signed with a key whose self-signed
 * certificate, made by openssl, is the registry's root bundle), and skopeo
 * pushes through it too. A registry this file fakes streams a large layer
 * slowly, so a pull can be killed midway; a 4 MB tmpfs fills up under a
 * store; and a pseudo-terminal (script) shows the progress display.
 *
 * The registries listen on 127.0.0.1 over plain HTTP, as a local registry
 * does: `runts pull` and `runts run` reach them with no flag.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { basename, join } from 'node:path';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { ensureRunDir, RUN_PREFIX } from '../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { hasCommand, isRoot, mountsUnder, processStartTime, waitFor, fileSkip } from '../lib/host.ts';
import { describeResult, runLogged, RUNTS_BIN, type RuntsResult } from '../lib/runtime.ts';
import { startRegistry as startLibRegistry, stopRegistries } from '../lib/registry.ts';
import { BUSYBOX, busyboxLayer, config, hostArch, ociIndexLayout, ociLayout, sha, tarOf, whiteoutLayer } from './image-fixtures.ts';

const missing = ['docker-registry', 'skopeo', 'openssl', 'script'].filter((c) => !hasCommand(c));
// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const skip = fileSkip('registry tests', !isRoot() ? 'needs root' : missing.length ? `needs ${missing.join(', ')} (scripts/setup.sh installs them)` : !existsSync(BUSYBOX) ? 'needs `npm run build`' : false);

const base = join(ensureRunDir(), 'registry');
const store = join(base, 'store');
const servers: Server[] = [];
let host = '';

after(async () => {
  await stopRegistries();
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await runts(['network', 'prune']);
  rmSync(base, { recursive: true, force: true });
});
checkLeaksAfterFile();

// Asynchronous on purpose: the token service and the fake registry answer from this process.
function runts(args: string[]): Promise<RuntsResult> {
  // a bridge, subnet and IPAM file of the test's own (network.test.ts tests networking itself)
  const env = { RUNTS_STORE: store, RUNTS_NET_BRIDGE: `${RUN_PREFIX}g`, RUNTS_NET_SUBNET: '10.234.0.0/24', RUNTS_NET_STATE: join(base, 'net'), RUNTS_NET_CONFIG: join(base, 'networks') };
  return runLogged(RUNTS_BIN, ['--root', join(base, 'state'), ...args], { env, timeoutMs: 120_000 });
}
async function ok(args: string[]): Promise<RuntsResult> {
  const r = await runts(args);
  assert.equal(r.code, 0, describeResult(r));
  return r;
}
async function skopeo(...args: string[]): Promise<string> {
  const r = await runLogged('skopeo', ['--insecure-policy', ...args], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, describeResult(r));
  return r.stdout;
}
const push = (layoutDir: string, name: string, opts: { all?: boolean; to?: string; creds?: string } = {}) => skopeo('copy',
  ...(opts.all ? ['--all'] : []), ...(opts.creds ? ['--dest-creds', opts.creds] : []), '--dest-tls-verify=false', `oci:${layoutDir}:push`, `docker://${opts.to ?? host}/${name}`);
const imagesJson = (root = store) => (existsSync(join(root, 'images.json')) ? readFileSync(join(root, 'images.json'), 'utf8') : '');
/** Every blob of a store holds what its name says: nothing partial, nothing corrupt. */
function assertBlobsVerify(root: string) {
  const dir = join(root, 'blobs/sha256');
  for (const hex of existsSync(dir) ? readdirSync(dir) : []) assert.equal(sha(readFileSync(join(dir, hex))), hex, `blob ${hex} of ${root}`);
}
const tmpEntries = (root: string) => (existsSync(join(root, 'tmp')) ? readdirSync(join(root, 'tmp')) : []);
/** A layer of `mb` megabytes that does not compress. */
const bigLayer = (mb: number) => tarOf([{ name: 'big', body: randomBytes(Math.floor(mb * 0.75e6)).toString('base64') }]);

/** A docker-registry of this file's own, on a free loopback port; `extra` is more of its YAML config. */
const startRegistry = (name: string, extra = '') => startLibRegistry(join(base, name), extra);

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

before(async () => {
  if (skip) return;
  mkdirSync(base, { recursive: true });
  host = await startRegistry('plain');
});

test('pull from a local registry, run it, and agree with skopeo on the manifest', { skip }, async () => {
  await push(ociLayout(join(base, 'stack'), 'push', [{ tar: busyboxLayer(), compress: 'gzip' }, { tar: await whiteoutLayer() }]).dir, 'test/stack:1');
  const first = await ok(['pull', '--insecure', `${host}/test/stack:1`]);
  assert.match(first.stdout, new RegExp(`^Pulled ${host}/test/stack:1 \\(sha256:[0-9a-f]{64}\\)`));
  assert.match(first.stderr, /^[0-9a-f]{12}: downloaded \d+\.\d MB$/m);
  assert.match(first.stderr, /^[0-9a-f]{12}: done$/m);
  assert.doesNotMatch(first.stderr, /\x1b/, 'plain lines when stderr is not a terminal');
  assert.equal((await ok(['run', '--rm', `${host}/test/stack:1`, 'echo', 'hi'])).stdout, 'hi\n');
  const [info] = JSON.parse((await ok(['inspect', `${host}/test/stack:1`])).stdout) as { Digest: string }[];
  const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${host}/test/stack:1`)) as { Digest: string };
  assert.equal(info!.Digest, inspected.Digest);
  // pulling again fetches no layer
  const again = await ok(['pull', '--insecure', `${host}/test/stack:1`]);
  assert.doesNotMatch(again.stderr, /download/);
  assert.equal(again.stderr.match(/: already exists$/gm)?.length, 2);
});

test('an index: the image for this machine is chosen; an index for another platform only is refused', { skip }, async () => {
  const mine = await tarOf([{ name: 'arch', body: hostArch }]);
  const other = await tarOf([{ name: 'arch', body: 's390x' }]);
  await push(ociIndexLayout(join(base, 'multi'), 'push', [{ architecture: 's390x', layers: [busyboxLayer(), other] }, { architecture: hostArch, layers: [busyboxLayer(), mine] }]).dir, 'test/multi:1', { all: true });
  await ok(['pull', '--insecure', `${host}/test/multi:1`]);
  assert.equal((await ok(['run', '--rm', `${host}/test/multi:1`, 'cat', '/arch'])).stdout, hostArch);
  await push(ociIndexLayout(join(base, 'foreign'), 'push', [{ architecture: 's390x', layers: [other] }]).dir, 'test/foreign:1', { all: true });
  const before = imagesJson();
  const r = await runts(['pull', '--insecure', `${host}/test/foreign:1`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`no image for linux/${hostArch} \\(the index has linux/s390x\\)`));
  assert.equal(imagesJson(), before);
});

test('unknown images, a corrupt blob in the registry and a wrong scheme are clear errors that change nothing', { skip }, async () => {
  const before = imagesJson();
  const unknown = await runts(['pull', '--insecure', `${host}/test/nothing:1`]);
  assert.match(unknown.stderr, /404 Not Found \(MANIFEST_UNKNOWN: manifest unknown\): no such image/);
  const unique = await tarOf([{ name: 'unique', body: 'x'.repeat(4096) }]);
  const layout = ociLayout(join(base, 'corrupt'), 'push', [{ tar: unique, compress: 'gzip' }]);
  await push(layout.dir, 'test/corrupt:1');
  const blob = layout.layerDigests[0]!.slice(7);
  const blobData = join(base, 'plain/data/docker/registry/v2/blobs/sha256', blob.slice(0, 2), blob, 'data');
  const data = readFileSync(blobData);
  data[100] = data[100]! ^ 0xff;
  writeFileSync(blobData, data);
  const corrupt = await runts(['pull', '--insecure', `${host}/test/corrupt:1`]);
  assert.notEqual(corrupt.code, 0);
  assert.match(corrupt.stderr, /digest mismatch/);
  assert.equal(imagesJson(), before);
  assert.equal(existsSync(join(store, 'blobs/sha256', blob)), false);
  assert.deepEqual(tmpEntries(store), []);
  const tls = await runts(['pull', '--tls-verify=true', `${host}/test/stack:1`]);
  assert.match(tls.stderr, /cannot reach https:/);
});

test('a registry on loopback needs no flag: pull over plain HTTP; run pulls what the store lacks, and only then', { skip }, async () => {
  const root = join(base, 'no-flag');
  await push(ociLayout(join(base, 'busybox'), 'push', [{ tar: busyboxLayer(), compress: 'gzip' }]).dir, 'busybox');
  const port = host.split(':')[1]!;
  const pulled = await ok(['pull', '--store', join(base, 'no-flag-localhost'), `localhost:${port}/busybox`]);
  assert.match(pulled.stdout, new RegExp(`^Pulled localhost:${port}/busybox:latest \\(sha256:[0-9a-f]{64}\\)`));

  const first = await ok(['run', '--rm', '--store', root, `${host}/busybox`, 'echo', 'hi']);
  assert.equal(first.stdout, 'hi\n');
  assert.match(first.stderr, new RegExp(`^no image ${host}/busybox in the store: pulling it$`, 'm'));
  assert.match(first.stderr, /^[0-9a-f]{12}: done$/m, 'the pull\'s progress, on stderr');
  assert.match((await ok(['images', '--store', root])).stdout, new RegExp(`${host}/busybox\\s+latest\\s`));
  const stored = await ok(['run', '--rm', '--store', root, `${host}/busybox`, 'echo', 'stored']);
  assert.deepEqual([stored.stdout, stored.stderr], ['stored\n', ''], 'in the store: no pull');
  const always = await ok(['run', '--rm', '--pull', 'always', '--store', root, `${host}/busybox`, 'echo', 'always']);
  assert.equal(always.stdout, 'always\n');
  assert.match(always.stderr, /^[0-9a-f]{12}: already exists$/m, '--pull always asks the registry again');

  const before = imagesJson(root);
  const missing = await runts(['run', '--rm', '--store', root, `${host}/test/nothing:1`, 'true']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr.trim().split('\n').at(-1)!, new RegExp(`^runts: GET http://${host}/v2/test/nothing/manifests/1: 404 Not Found \\(MANIFEST_UNKNOWN: manifest unknown\\): no such image or blob$`));
  const https = await runts(['run', '--rm', '--tls-verify=true', '--store', root, `${host}/test/other:1`, 'true']);
  assert.match(https.stderr, new RegExp(`runts: cannot reach https://${host}/v2/test/other/manifests/1: ERR_SSL_WRONG_VERSION_NUMBER$`, 'm'));
  assert.equal(imagesJson(root), before, 'a failed pull changes nothing');
  assert.deepEqual(readdirSync(join(root, 'containers')), [], 'and makes no container');
});

const SERVICE = 'runts-test-registry';
const ISSUER = 'runts-test-token-service';
/** Who may do what: pusher anything, alice pull test/private only, anyone else nothing. */
const USERS: Record<string, { password: string; may: (repo: string) => string[] }> = {
  pusher: { password: 'push-pw', may: () => ['pull', 'push'] },
  alice: { password: 'secret', may: (repo) => (repo === 'test/private' ? ['pull'] : []) },
};

/**
 * A token service as registries use (the distribution token spec): basic
 * credentials in, a JWT out whose `access` claim grants, of each scope
 * asked, what the user may do; no credentials get a token granting nothing.
 */
async function tokenService(dir: string): Promise<{ realm: string; cert: string; asked: string[] }> {
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', cert, '-days', '1', '-subj', '/CN=runts test token service'], { stdio: 'pipe' });
  const key = createPrivateKey(readFileSync(keyFile));
  const x5c = [new X509Certificate(readFileSync(cert)).raw.toString('base64')];
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const asked: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const [user, password] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':');
    asked.push(`${user || '(anonymous)'} ${url.searchParams.getAll('scope').join(' ')}`);
    if (url.pathname !== '/token' || url.searchParams.get('service') !== SERVICE) { res.writeHead(400); return res.end('wrong path or service'); }
    if (user && USERS[user]?.password !== password) { res.writeHead(401, { 'content-type': 'text/plain' }); return res.end('incorrect username or password'); }
    const access = url.searchParams.getAll('scope').map((scope) => {
      const [type, ...rest] = scope.split(':');
      const actions = rest.pop()!.split(',');
      const name = rest.join(':');
      const may = user ? USERS[user]!.may(name) : [];
      return { type, name, actions: actions.filter((a) => may.includes(a)) };
    });
    const now = Math.floor(Date.now() / 1000);
    const signed = `${part({ typ: 'JWT', alg: 'RS256', x5c })}.${part({ iss: ISSUER, sub: user ?? '', aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access })}`;
    const token = `${signed}.${sign('sha256', Buffer.from(signed), key).toString('base64url')}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }));
  });
  return { realm: `http://${await listen(server)}/token`, cert, asked };
}

test('token auth against docker-registry: the right credentials pull; wrong ones, none, and a repository not granted are refused', { skip }, async () => {
  const dir = join(base, 'token-service');
  const { realm, cert, asked } = await tokenService(dir);
  const registry = await startRegistry('token', `auth:\n  token:\n    realm: ${realm}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${cert}\n`);
  const layout = ociLayout(join(dir, 'layout'), 'push', [{ tar: await tarOf([{ name: 'private', body: 'for alice' }]), compress: 'gzip' }]);
  for (const name of ['test/private:1', 'test/secret:1']) await push(layout.dir, name, { to: registry, creds: 'pusher:push-pw' });
  const before = imagesJson();

  const wrong = await runts(['pull', '--insecure', '--creds', 'alice:wrong', `${registry}/test/private:1`]);
  assert.notEqual(wrong.code, 0);
  assert.ok(wrong.stderr.includes(`registry ${registry}: token service ${realm} refused the credentials of alice for repository:test/private:pull: 401 Unauthorized (incorrect username or password)`), wrong.stderr);

  const anonymous = await runts(['pull', '--insecure', `${registry}/test/private:1`]);
  assert.notEqual(anonymous.code, 0);
  assert.match(anonymous.stderr, /401 Unauthorized \(UNAUTHORIZED: authentication required\)/);
  assert.ok(anonymous.stderr.includes(`GET http://${registry}/v2/test/private/manifests/1: `), anonymous.stderr);
  assert.ok(anonymous.stderr.includes(`access denied with an anonymous token from ${realm} for repository:test/private:pull`), anonymous.stderr);

  const notGranted = await runts(['pull', '--insecure', '--creds', 'alice:secret', `${registry}/test/secret:1`]);
  assert.notEqual(notGranted.code, 0);
  assert.ok(notGranted.stderr.includes(`access denied with a token for alice from ${realm} for repository:test/secret:pull`), notGranted.stderr);
  assert.equal(imagesJson(), before, 'refused pulls change nothing');

  await ok(['pull', '--insecure', '--creds', 'alice:secret', `${registry}/test/private:1`]);
  assert.ok(asked.includes('alice repository:test/private:pull'), asked.join('\n'));
  assert.match((await ok(['images'])).stdout, new RegExp(`${registry}/test/private\\s+1\\s`));
  assertBlobsVerify(store);
});

/** A registry of this file's own serving one image, `<repo>:1`; its layers trickle out (3 MB/s) while `slow` is set. */
async function fakeRegistry(repo: string, layerTars: Buffer[]): Promise<{ host: string; slow: boolean }> {
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer) => { blobs.set(`sha256:${sha(b)}`, b); return { digest: `sha256:${sha(b)}`, size: b.length }; };
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...put(config(layerTars.map(sha))) },
    layers: layerTars.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(l) })),
  }));
  const trickle = async (res: ServerResponse, body: Buffer) => {
    for (let at = 0; at < body.length && !res.destroyed; at += 64 << 10) {
      res.write(body.subarray(at, at + (64 << 10)));
      await new Promise((r) => setTimeout(r, 20));
    }
    res.end();
  };
  const fake = { host: '', slow: true };
  fake.host = await listen(createServer((req, res) => {
    res.on('error', () => { /* the client was killed */ });
    const path = req.url!.replace(`/v2/${repo}/`, '');
    const body = path === 'manifests/1' ? manifest : blobs.get(path.replace('blobs/', ''));
    if (!body) { res.writeHead(404); return res.end(); }
    res.writeHead(200, { 'content-type': path === 'manifests/1' ? 'application/vnd.oci.image.manifest.v1+json' : 'application/octet-stream', 'content-length': body.length });
    if (fake.slow && body.length > 1 << 20) void trickle(res, body);
    else res.end(body);
  }));
  return fake;
}

test('a pull killed midway through a large layer: the next pull removes what it left and succeeds', { skip }, async () => {
  const root = join(base, 'killed');
  const big = await bigLayer(12);
  const fake = await fakeRegistry('test/slow', [big]);
  // work in progress of a process that runs (this one): no pull may touch it
  const live = join(root, 'tmp', `blob-${process.pid}-${processStartTime(process.pid)}-0123456789ab`);
  mkdirSync(live, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, RUNTS_TEST_RUN: RUN_PREFIX };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(RUNTS_BIN, ['--root', join(base, 'state'), 'pull', '--insecure', '--store', root, `${fake.host}/test/slow:1`], { stdio: 'ignore', env });
  const exited = once(child, 'exit');
  const partial = await waitFor(() => tmpEntries(root).filter((n) => n.startsWith(`blob-${child.pid}-`))
    .map((n) => join(root, 'tmp', n, 'data')).find((f) => existsSync(f) && statSync(f).size > 1 << 20), 'the pull to be 1 MB into the layer');
  child.kill('SIGKILL');
  assert.deepEqual(await exited, [null, 'SIGKILL']);
  const left = statSync(partial).size;
  assert.ok(left < big.length, `killed midway: ${left} of ${big.length} bytes`);

  fake.slow = false;
  const again = await ok(['pull', '--insecure', '--store', root, `${fake.host}/test/slow:1`]);
  assert.match(again.stderr, /: downloaded 12\.\d MB$/m, 'the layer starts again from zero');
  assert.deepEqual(tmpEntries(root), [basename(live)], 'the killed pull\'s partial blob is gone; the live process\'s work is kept');
  rmSync(live, { recursive: true });
  assertBlobsVerify(root);
  assert.match((await ok(['images', '--store', root])).stdout, new RegExp(`${fake.host}/test/slow\\s+1\\s`));
});

test('a full disk: a clear ENOSPC error naming what failed, and the store as it was', { skip }, async () => {
  const dir = join(base, 'full');
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0755', `${RUN_PREFIX}-full`, dir]);
  try {
    const root = join(dir, 'store');
    await push(ociLayout(join(base, 'small'), 'push', [{ tar: await tarOf([{ name: 'small', body: 'fits' }]) }]).dir, 'test/small:1');
    await ok(['pull', '--insecure', '--store', root, `${host}/test/small:1`]);
    const before = imagesJson(root);
    // two 3 MB layers downloading at once: the one that hits the limit stops the other
    await push(ociLayout(join(base, 'big'), 'push', [{ tar: await bigLayer(3) }, { tar: await bigLayer(3) }]).dir, 'test/big:1');
    const full = await runts(['pull', '--insecure', '--store', root, `${host}/test/big:1`]);
    assert.notEqual(full.code, 0);
    const error = full.stderr.trim().split('\n').at(-1)!;
    assert.match(error, new RegExp(`^runts: store layer sha256:[0-9a-f]{64}: image store ${root} is full: ENOSPC: no space left on device`));
    assert.equal(imagesJson(root), before);
    assert.deepEqual(tmpEntries(root), []);
    assertBlobsVerify(root);
  } finally {
    execFileSync('umount', [dir]);
  }
  assert.deepEqual(mountsUnder(dir), []);
});

test('on a terminal: one line per layer redrawn in place, at most ten times a second, cut to the width, the final state left', { skip }, async () => {
  const fake = await fakeRegistry('test/tty', [await bigLayer(2), await bigLayer(3)]);
  for (const columns of [80, 30]) {
    const pull = `stty cols ${columns} rows 20; exec ${RUNTS_BIN} --root ${join(base, 'state')} pull --insecure --store ${join(base, `tty-${columns}`)} ${fake.host}/test/tty:1`;
    const started = Date.now();
    const r = await runLogged('script', ['-qec', pull, '/dev/null'], { timeoutMs: 120_000 });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, describeResult(r));
    const redraws = r.stdout.match(/\x1b\[2A/g)?.length ?? 0;
    assert.ok(redraws >= 5 && redraws <= seconds * 10 + 5, `${redraws} redraws of the two layer lines in ${seconds} s`);
    if (columns === 80) assert.match(r.stdout, /[0-9a-f]{12}: downloading \[=+>? *\] \d+\.\d MB\/3\.0 MB +\d+%/);
    // what each line shows: after its last carriage return, without escape codes
    const shown = r.stdout.split('\n').map((l) => l.replace(/\r$/, '').split('\r').at(-1)!.replace(/\x1b\[\d*[A-Za-z]/g, ''));
    for (const line of shown) assert.ok(line.length < columns || line.startsWith('Pulled'), `wider than ${columns} columns: ${JSON.stringify(line)}`);
    const last = r.stdout.slice(r.stdout.lastIndexOf('\x1b[2A'));
    assert.equal(last.match(/[0-9a-f]{12}: done/g)?.length, 2, JSON.stringify(last));
    assert.match(last, new RegExp(`Pulled ${fake.host}/test/tty:1`));
  }
});
