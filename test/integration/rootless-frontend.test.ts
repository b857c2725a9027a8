/*
 * The front end rootless: a real unprivileged user, made by this file
 * (test/lib/rootless.ts), pulls a layered image from a local docker-registry
 * and runs it with `runts run IMAGE`: output, exit status and env; a
 * whiteout and an opaque directory of an upper layer; files owned by root,
 * by a group and by uid 1000 inside, by the user's subordinate ids on disk;
 * `-d`, exec, logs, stop, commit and rm; `-p` through pasta reached from the
 * host; --network none and host; pasta ending with the container, even when
 * its init is killed; and the refusals (no subordinate ids, a taken name, a
 * port below 1024, a bridge) that leave nothing behind.
 *
 * Design: docs/design/rootless.md, "The front end".
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, chownSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { fileSkip, hasCommand, mountsUnder, waitFor } from '../lib/host.ts';
import { freePort, startRegistry, stopRegistries } from '../lib/registry.ts';
import { createRootlessUser, rootlessPrerequisites, type RootlessUser } from '../lib/rootless.ts';
import { describeResult, runLogged } from '../lib/runtime.ts';
import { BUSYBOX, busyboxLayer, middleLayer, ociLayout, tarOf, whiteoutLayer } from './image-fixtures.ts';

const missing = ['docker-registry', 'skopeo', 'pasta', 'unshare'].filter((c) => !hasCommand(c));
const skip = fileSkip('rootless front-end tests', rootlessPrerequisites() || (missing.length ? `needs ${missing.join(', ')} (packages docker-registry, skopeo, passt, util-linux)` : !existsSync(BUSYBOX) ? 'needs `npm run build`' : false));

let alice: RootlessUser; // with a subuid/subgid range
let bob: RootlessUser; // without
let image = '';

/** The user's environment for the front end: a data home of its own (the store goes in it). */
const dataHome = (u: RootlessUser) => join(u.dir, 'data');
const storeOf = (u: RootlessUser) => join(dataHome(u), 'runts');
const as = (u: RootlessUser, args: string[], hide?: string[]) => u.run(u.runts, args, { env: { XDG_DATA_HOME: dataHome(u) }, timeoutMs: 120_000, hide });
const ok = async (u: RootlessUser, args: string[]) => {
  const r = await as(u, args);
  assert.ok(r.code === 0 && !r.timedOut, `runts ${args.join(' ')}: ${describeResult(r)}`);
  return r;
};

before(async () => {
  if (skip) return;
  alice = createRootlessUser({ subids: true });
  bob = createRootlessUser({ subids: false });
  for (const u of [alice, bob]) {
    mkdirSync(dataHome(u), { mode: 0o700 });
    chownSync(dataHome(u), u.uid, u.gid);
  }
  // busybox; a layer adding /opq/old and /etc/motd and one hiding both; files of root:42 and of 1000
  const host = await startRegistry(join(alice.dir, 'registry'));
  const layers = [
    { tar: busyboxLayer(), compress: 'gzip' as const }, { tar: await middleLayer() }, { tar: await whiteoutLayer() },
    { tar: await tarOf([{ name: 'etc/shadow', body: 'root:*:19000:0:99999:7:::\n', mode: 0o640 }], { uid: 0, gid: 42 }) },
    { tar: await tarOf([{ name: 'home', type: 'directory' }, { name: 'home/u1000', body: 'mine\n' }], { uid: 1000, gid: 1000 }) },
  ];
  const layout = ociLayout(join(alice.dir, 'layout'), 'push', layers);
  const push = await runLogged('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layout.dir}:push`, `docker://${host}/rootless/stack:1`], { timeoutMs: 120_000 });
  assert.equal(push.code, 0, describeResult(push));
  image = `${host}/rootless/stack:1`;
});
after(async () => {
  try {
    await stopRegistries();
  } finally {
    try { alice?.remove(); } finally { bob?.remove(); }
  }
});
checkLeaksAfterFile(); // after the users are gone

/** The user's live pasta processes (pasta runs as passt.avx2 and the like; a zombie has ended, its parent may not have reaped it yet). */
const pastas = (u: RootlessUser) => u.processes().filter((pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^\d+ \(pas[^)]*\) [^Z]/.test(stat);
  } catch {
    return false;
  }
});
/** Everything a container leaves: state, mounts under the store, pasta. */
function assertNothingLeft(u: RootlessUser, what: string) {
  const state = existsSync(join(u.xdg, 'runts')) ? readdirSync(join(u.xdg, 'runts')) : [];
  assert.deepEqual(state, [], `${what}: no state left`);
  assert.deepEqual(mountsUnder(u.dir).map((m) => m.mountPoint), [], `${what}: no mount left`);
  assert.deepEqual(pastas(u), [], `${what}: no pasta left`);
}
const containers = (u: RootlessUser) => (existsSync(join(storeOf(u), 'containers')) ? readdirSync(join(storeOf(u), 'containers')) : []);

test('pull and run --rm as a user: output, exit status, env; the store is under $XDG_DATA_HOME/runts', { skip }, async () => {
  const pulled = await ok(alice, ['pull', image]);
  assert.match(pulled.stdout, /^Pulled .*rootless\/stack:1 \(sha256:[0-9a-f]{64}\)$/m);
  assert.ok(existsSync(join(storeOf(alice), 'images.json')), 'the store is in the user\'s data home');
  assert.equal(statSync(storeOf(alice)).uid, alice.uid, 'and it is the user\'s');
  const r = await as(alice, ['run', '--rm', '-e', 'GREETING=hi', image, 'sh', '-c', 'echo "$GREETING $FROM_IMAGE $(id -u)"; exit 7']);
  assert.equal(r.code, 7, describeResult(r));
  assert.equal(r.stdout, 'hi yes 0\n');
  assert.deepEqual(containers(alice), [], '--rm leaves no container');
  assertNothingLeft(alice, 'run --rm');
});

test('layers unpacked as a user: whiteouts and opaque dirs hide lower files; owners are right inside and subordinate ids on disk', { skip }, async () => {
  const r = await ok(alice, ['run', '--rm', '--network', 'none', image, 'sh', '-c',
    'for f in /etc/motd /opq/old /opq/new; do [ -e $f ] && echo "$f there" || echo "$f gone"; done; stat -c "%n %u:%g %a" /etc/shadow /home/u1000 /bin/busybox']);
  assert.equal(r.stdout, '/etc/motd gone\n/opq/old gone\n/opq/new there\n/etc/shadow 0:42 640\n/home/u1000 1000:1000 644\n/bin/busybox 0:0 755\n');
  // on disk: container uid N > 0 is the N-th id of the user's range, root is the user
  const layers = join(storeOf(alice), 'layers');
  const file = readdirSync(layers).map((l) => join(layers, l, 'diff/home/u1000')).find(existsSync)!;
  assert.equal(statSync(file).uid, alice.subuid!.start + 999);
  const shadow = readdirSync(layers).map((l) => join(layers, l, 'diff/etc/shadow')).find(existsSync)!;
  assert.deepEqual([statSync(shadow).uid, statSync(shadow).gid], [alice.uid, alice.subuid!.start + 41]);
});

test('-d, exec, logs, -p through pasta from the host, stop, commit, rm: pasta ends with the container', { skip }, async () => {
  const port = await freePort();
  const name = 'web';
  await ok(alice, ['run', '-d', '--name', name, '-p', `${port}:80`, image, 'sh', '-c',
    'mkdir /www && echo hello-rootless > /www/index.html && echo started && exec httpd -f -p 80 -h /www']);
  const body = await waitFor(async () => {
    try { return await (await fetch(`http://127.0.0.1:${port}/`)).text(); } catch { return undefined; }
  }, `the container's port 80 on the host's 127.0.0.1:${port}`);
  assert.equal(body, 'hello-rootless\n');
  assert.equal(pastas(alice).length, 1, 'one pasta for the container');
  const e = await as(alice, ['exec', name, 'sh', '-c', 'cat /www/index.html; exit 4']);
  assert.equal(e.code, 4, describeResult(e));
  assert.equal(e.stdout, 'hello-rootless\n');
  assert.equal((await ok(alice, ['logs', name])).stdout, 'started\n');
  assert.match((await ok(alice, ['ps'])).stdout, new RegExp(`^${name} .* running$`, 'm'));
  await ok(alice, ['stop', '-t', '1', name]);
  await waitFor(() => pastas(alice).length === 0, 'pasta to end with the container');
  await assert.rejects(fetch(`http://127.0.0.1:${port}/`), 'nothing listens on the port any more');
  assert.match((await ok(alice, ['ps', '-a'])).stdout, new RegExp(`^${name} .* exited \\(\\d+\\)$`, 'm'));
  // commit as the user: the upper layer (owned by subordinate ids) becomes an image
  const committed = (await ok(alice, ['commit', name, 'alice/web:1'])).stdout.trim();
  assert.match(committed, /^sha256:[0-9a-f]{64}$/);
  assert.equal((await ok(alice, ['run', '--rm', '--network', 'none', 'alice/web:1', 'cat', '/www/index.html'])).stdout, 'hello-rootless\n');
  await ok(alice, ['rm', name]);
  assert.deepEqual(containers(alice), []);
  assertNothingLeft(alice, 'stop, commit, rm');
});

test('a container whose init is killed takes its pasta with it; rm then frees the rest', { skip }, async () => {
  const name = 'crash';
  await ok(alice, ['run', '-d', '--name', name, '-p', `${await freePort()}:80`, image, 'sleep', '600']);
  assert.equal(pastas(alice).length, 1);
  const pid = Number((await ok(alice, ['inspect', '--format', '{{.State.Pid}}', name])).stdout.trim());
  assert.ok(pid > 0);
  process.kill(pid, 'SIGKILL');
  await waitFor(() => pastas(alice).length === 0, 'pasta to end after its container was killed');
  await ok(alice, ['rm', name]);
  assertNothingLeft(alice, 'a killed container');
});

test('--network none has only lo; --network host is the host\'s network namespace', { skip }, async () => {
  const none = await ok(alice, ['run', '--rm', '--network', 'none', image, 'sh', '-c', 'ls /sys/class/net']);
  assert.equal(none.stdout, 'lo\n');
  const hostNs = readlinkSync('/proc/self/ns/net');
  const host = await ok(alice, ['run', '--rm', '--network', 'host', image, 'readlink', '/proc/self/ns/net']);
  assert.equal(host.stdout.trim(), hostNs);
  const pasta = await ok(alice, ['run', '--rm', image, 'readlink', '/proc/self/ns/net']);
  assert.notEqual(pasta.stdout.trim(), hostNs, 'pasta (the default) gives a namespace of its own');
  assertNothingLeft(alice, '--network none, host');
});

/** A refusal: not 0, the message matched, and nothing new made. `hide`: host files the command must not find. */
async function refused(u: RootlessUser, args: string[], message: RegExp, hide?: string[]) {
  const before = containers(u);
  const r = await as(u, args, hide);
  assert.notEqual(r.code, 0, describeResult(r));
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.deepEqual(containers(u), before, 'no container made');
  assertNothingLeft(u, args.join(' '));
}

test('refused with one precise message, nothing left: no subordinate ids, no newuidmap, a port below 1024, a bridge, another container\'s network, a port in use, a taken name', { skip }, async () => {
  await refused(bob, ['pull', image], new RegExp(`/etc/subuid and /etc/subgid give uid ${bob.uid} \\(${bob.name}\\) none: as root, run \`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${bob.name}\``));
  assert.ok(!existsSync(storeOf(bob)), 'no store made for bob');
  // newuidmap not installed (hidden from this one command by a mount namespace of its own)
  await refused(alice, ['run', '--rm', image, 'true'], /maps uid \d+ \(.*\)'s subordinate ids through newuidmap \(setuid root; Debian package uidmap\), and it is not installed: as root, run `apt-get install uidmap`/, ['/usr/bin/newuidmap']);
  const start = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
  if (start > 80) await refused(alice, ['run', '--rm', '-p', '80:80', image, 'true'], new RegExp(`host port 80 is below ${start}, .*\\(net.ipv4.ip_unprivileged_port_start = ${start}\\)`));
  await refused(alice, ['run', '--rm', '--network', 'bridge', image, 'true'], /--network bridge: an unprivileged user's container cannot be wired to a bridge/);
  await refused(alice, ['run', '--rm', '--network', 'container:web', image, 'true'], /--network container:web: an unprivileged user's container cannot join another container's network/);
  // a port the host already holds: pasta would only warn
  const busy = createServer().listen(0, '0.0.0.0');
  await once(busy, 'listening');
  const taken = (busy.address() as { port: number }).port;
  try {
    await refused(alice, ['run', '--rm', '-p', `${taken}:80`, image, 'true'], new RegExp(`-p 0.0.0.0:${taken}->80/tcp: host port ${taken} \\(tcp\\) is already in use`));
  } finally {
    busy.close();
  }
  await ok(alice, ['run', '-d', '--name', 'taken', '--network', 'none', image, 'sleep', '600']);
  const r = await as(alice, ['run', '--name', 'taken', image, 'true']);
  assert.notEqual(r.code, 0, describeResult(r));
  assert.equal(r.stderr, 'runts: the container name taken is already in use\n');
  assert.deepEqual(readdirSync(join(alice.xdg, 'runts')), ['taken'], 'the first container alone has state');
  assert.match((await ok(alice, ['ps'])).stdout, /^taken .* running$/m, 'and it still runs');
  assert.deepEqual(pastas(alice), [], 'the refused run started no pasta');
  // a running container without a cgroup cannot be paused for commit: the error says how to commit it anyway
  const c = await as(alice, ['commit', 'taken']);
  assert.notEqual(c.code, 0);
  assert.match(c.stderr, /it has no cgroup of its own .*; `runts commit --pause=false taken` reads its changes while it runs/);
  assert.match((await ok(alice, ['commit', '--pause=false', 'taken'])).stdout, /^sha256:/);
  await ok(alice, ['rm', '-f', 'taken']);
  assertNothingLeft(alice, 'rm -f');
});
