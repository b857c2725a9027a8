/*
 * image.test.ts - images for real: OCI layouts and `docker save` archives the
 * test builds itself (from the built-in busybox rootfs, plus a layer with
 * whiteouts and an opaque directory), imported into a temporary store,
 * stacked with real OverlayFS mounts and run as real containers through
 * `runts run IMAGE`.
 *
 * Every store, container and mount carries this run's mark (RUN_PREFIX), so
 * the file's leak check sees anything left behind, even after a failure.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ensureRunDir, RUN_PREFIX } from '../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { fileSkip, isRoot, lacks, missingCommands } from '../lib/host.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';
import { BUSYBOX, busyboxLayer, dockerSave, middleLayer, ociLayout, sha, tarOf, tree, treeDiff, whiteoutLayer } from './image-fixtures.ts';
import { lgetxattr } from '../../src/sys/libc.ts';

// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const skip = fileSkip('image tests', !isRoot() ? 'needs root' : !existsSync(BUSYBOX) ? 'needs `npm run build` (dist/images/busybox)' : false);

const base = join(ensureRunDir(), 'images');
const store = join(base, 'store');
const stateRoot = join(base, 'state');
const names: string[] = [];
const cname = (n: string) => { const name = `${RUN_PREFIX}-${n}`; names.push(name); return name; };

after(() => {
  for (const n of names) runts(['container', 'rm', '-f', n]);
  runts(['network', 'prune']);
  rmSync(base, { recursive: true, force: true });
});
checkLeaksAfterFile();

interface Result { code: number; stdout: string; stderr: string }
function runts(args: string[], opts: { detachedOut?: string } = {}): Result {
  // a bridge, subnet and IPAM file of the test's own (network.test.ts tests networking itself)
  const env: NodeJS.ProcessEnv = { ...process.env, RUNTS_STORE: store, RUNTS_NET_BRIDGE: `${RUN_PREFIX}f`, RUNTS_NET_SUBNET: '10.233.0.0/24', RUNTS_NET_STATE: join(base, 'net'), RUNTS_NET_CONFIG: join(base, 'networks') };
  delete env.NODE_TEST_CONTEXT;
  let fd: number | undefined;
  if (opts.detachedOut) fd = openSync(opts.detachedOut, 'a');
  try {
    const r = spawnSync(RUNTS_BIN, ['--root', stateRoot, ...args], { env, encoding: 'utf8', timeout: 60_000, stdio: fd === undefined ? 'pipe' : ['ignore', 'pipe', fd] });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
function ok(args: string[], opts: { detachedOut?: string } = {}): string {
  const r = runts(args, opts);
  assert.equal(r.code, 0, `runts ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

const mountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(dir));
const layerDirs = () => (existsSync(join(store, 'layers')) ? readdirSync(join(store, 'layers')).sort() : []);
const imagesJson = () => (existsSync(join(store, 'images.json')) ? readFileSync(join(store, 'images.json'), 'utf8') : '');

/* ---- the tests ---- */

let layout: ReturnType<typeof ociLayout>;

test('an OCI layout loads: whiteouts become 0/0 char devices, layers stack in OverlayFS', { skip }, async () => {
  const [bb, mid, wh] = [busyboxLayer(), await middleLayer(), await whiteoutLayer()];
  layout = ociLayout(join(base, 'layout'), 'test/stack:1', [{ tar: bb, compress: 'gzip' }, { tar: mid, compress: 'zstd' }, { tar: wh }]);
  const out = ok(['load', layout.dir]);
  assert.match(out, /^Loaded image: test\/stack:1 \(sha256:[0-9a-f]{64}\)$/m);
  const whDir = join(store, 'layers', sha(wh), 'diff');
  const motd = lstatSync(join(whDir, 'etc/motd'));
  assert.ok(motd.isCharacterDevice() && motd.rdev === 0, 'etc/.wh.motd is a 0/0 character device');
  assert.ok(lstatSync(join(whDir, 'srv/fifo')).isFIFO());
  assert.equal(existsSync(join(whDir, 'opq/.wh..wh..opq')), false);

  const name = cname('stack');
  const r = ok(['run', '--rm', '--name', name, 'test/stack:1', 'sh', '-c',
    'echo hi; ls /opq; cat /srv/link; test -e /etc/motd || echo motd-hidden; echo $FROM_IMAGE; hostname']);
  assert.equal(r, `hi\nnew\nnewmotd-hidden\nyes\n${name.slice(0, 12)}\n`);
  assert.equal(existsSync(join(store, 'containers', name)), false, '--rm removes the container dir');
  assert.deepEqual(mountsUnder(store), []);
});

test('the overlay root equals umoci unpack of the same image, file by file', { skip }, async (t) => {
  if (lacks(t, missingCommands('umoci'))) return;
  // umoci 0.4 reads no zstd
  const cmp = ociLayout(join(base, 'cmp'), 'cmp', [{ tar: busyboxLayer(), compress: 'gzip' }, { tar: await middleLayer(), compress: 'gzip' }, { tar: await whiteoutLayer() }]);
  const bundle = join(base, 'umoci-bundle');
  const r = spawnSync('umoci', ['unpack', '--image', `${cmp.dir}:cmp`, bundle], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  ok(['load', '--name', 'test/cmp:1', cmp.dir]);
  const name = cname('cmp');
  ok(['run', '-d', '--name', name, 'test/cmp:1', 'sleep', '60']);
  try {
    const ours = tree(join(store, 'containers', name, 'merged'));
    const theirs = tree(join(bundle, 'rootfs'));
    assert.deepEqual(treeDiff(ours, theirs), []);
    assert.ok(ours.size > 100);
  } finally {
    ok(['container', 'rm', '-f', name]);
    ok(['rmi', 'test/cmp:1']);
  }
});

test('a file capability (a binary xattr) survives load byte for byte, as umoci unpacks it', { skip }, async (t) => {
  if (lacks(t, missingCommands('umoci', 'setcap', 'python3'))) return;
  const src = join(base, 'caps-src');
  mkdirSync(join(src, 'bin'), { recursive: true });
  writeFileSync(join(src, 'bin/capable'), '#!/bin/sh\n', { mode: 0o755 });
  execFileSync('setcap', ['cap_net_raw,cap_net_bind_service+ep', join(src, 'bin/capable')]);
  const cap = lgetxattr(join(src, 'bin/capable'), 'security.capability');
  const capLayer = execFileSync('tar', ['-C', src, '--xattrs', '--xattrs-include=*', '--format=pax', '--numeric-owner', '-cf', '-', 'bin']);
  assert.ok(capLayer.includes('SCHILY.xattr.security.capability='), 'GNU tar wrote no capability');

  const layout = ociLayout(join(base, 'caps'), 'caps', [{ tar: busyboxLayer(), compress: 'gzip' }, { tar: capLayer, compress: 'gzip' }]);
  ok(['load', '--name', 'test/caps:1', layout.dir]);
  try {
    const ours = join(store, 'layers', sha(capLayer), 'diff');
    assert.ok(lgetxattr(join(ours, 'bin/capable'), 'security.capability').equals(cap), 'the unpacked layer\'s capability differs');

    const bundle = join(base, 'umoci-caps');
    const r = spawnSync('umoci', ['unpack', '--image', `${layout.dir}:caps`, bundle], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lgetxattr(join(bundle, 'rootfs/bin/capable'), 'security.capability').equals(cap), 'umoci unpacked another capability');
    assert.equal(tree(ours).get('bin/capable'), tree(join(bundle, 'rootfs')).get('bin/capable'));
  } finally {
    ok(['rmi', 'test/caps:1']);
  }
});

test('the image Cmd runs by default; a failing command gives its exit status', { skip }, () => {
  assert.equal(ok(['run', '--rm', '--name', cname('cmd'), 'test/stack:1']), 'default-cmd\n');
  const r = runts(['run', '--rm', '--name', cname('exit'), 'test/stack:1', 'sh', '-c', 'exit 7']);
  assert.equal(r.code, 7);
});

test('the secure defaults, and the flags that change them', { skip }, () => {
  const status = ok(['run', '--rm', '--name', cname('defaults'), 'test/stack:1', 'sh', '-c', 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; touch /proc/sysrq-trigger 2>/dev/null || echo proc-ro']);
  assert.match(status, /CapEff:\s+00000000800405fb/);
  assert.match(status, /CapBnd:\s+00000000800405fb/);
  assert.match(status, /NoNewPrivs:\s+1/);
  assert.match(status, /Seccomp:\s+2/);
  assert.match(status, /^proc-ro$/m, 'the read-only /proc paths');
  const hostDir = join(base, 'volume');
  mkdirSync(hostDir, { recursive: true });
  writeFileSync(join(hostDir, 'in'), 'from-host');
  const r = runts(['run', '--rm', '--name', cname('flags'), '--user', '1000:1000', '--hostname', 'box', '--read-only', '-v', `${hostDir}:/data:ro`, 'test/stack:1',
    'sh', '-c', 'id -u; id -g; hostname; cat /data/in; echo; touch /x 2>/dev/null || echo root-ro; touch /data/y 2>/dev/null || echo vol-ro; grep CapEff /proc/self/status']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^1000\n1000\nbox\nfrom-host\nroot-ro\nvol-ro\nCapEff:\s+0+\n$/);
});

test('capability, seccomp, resource and terminal flags', { skip }, (t) => {
  const out = ok(['run', '--rm', '--name', cname('caps'), '--cap-drop', 'ALL', '--cap-add', 'chown', '--pids-limit', '10', '--security-opt', 'seccomp=unconfined',
    '--security-opt', 'no-new-privileges=false', 'test/stack:1', 'sh', '-c', 'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max']);
  assert.match(out, /CapEff:\s+0000000000000001\nNoNewPrivs:\s+0\nSeccomp:\s+0\n10\n$/);
  assert.match(runts(['run', '--rm', '-d', '-t', 'test/stack:1', 'sh']).stderr, /--tty with --detach/);
  assert.match(runts(['run', '--rm', '--cap-add', 'NOPE', 'test/stack:1', 'true']).stderr, /unknown capability CAP_NOPE/);
  assert.deepEqual(readdirSync(join(store, 'containers')), [], 'bad flags create nothing');
  // the terminal part needs script(1) for a terminal of its own
  if (lacks(t, missingCommands('script'))) return;
  const tty = spawnSync('script', ['-qec', `${RUNTS_BIN} --root ${stateRoot} run --rm -t --name ${cname('tty')} test/stack:1 sh -c 'tty; exit 3'`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, RUNTS_STORE: store, RUNTS_NET_BRIDGE: `${RUN_PREFIX}f`, RUNTS_NET_SUBNET: '10.233.0.0/24', RUNTS_NET_STATE: join(base, 'net'), RUNTS_NET_CONFIG: join(base, 'networks') }, timeout: 60_000 });
  assert.equal(tty.status, 3, tty.stderr);
  assert.match(tty.stdout, /\/dev\/pts\/\d+/);
});

test('writes go to the upper layer; without --rm they stay until container rm', { skip }, () => {
  const name = cname('keep');
  ok(['run', '--name', name, '-e', 'X=from-flag', '-w', '/tmp', 'test/stack:1', 'sh', '-c', 'echo $X > written; pwd > where']);
  const upper = join(store, 'containers', name, 'upper');
  assert.equal(readFileSync(join(upper, 'tmp/written'), 'utf8'), 'from-flag\n');
  assert.equal(readFileSync(join(upper, 'tmp/where'), 'utf8'), '/tmp\n');
  assert.deepEqual(mountsUnder(store), [], 'a stopped container keeps no mount');
  assert.match(ok(['ps', '-a']), new RegExp(`${name}\\s+test/stack:1 .*exited`), 'ps without an id lists the front end\'s containers');
  assert.equal(ok(['run', '--rm', '--name', cname('fresh'), 'test/stack:1', 'sh', '-c', 'test -e /tmp/written && echo leaked || echo clean']), 'clean\n');
  const taken = runts(['run', '--name', name, 'test/stack:1', 'true']);
  assert.notEqual(taken.code, 0);
  assert.match(taken.stderr, /already in use/);
  ok(['rm', name]); // a front-end container: `rm` removes its snapshot too
  assert.equal(existsSync(join(store, 'containers', name)), false);
});

test('two containers of one image share its layers', { skip }, async () => {
  const [a, b] = [cname('share-a'), cname('share-b')];
  const out = join(base, 'detached.out');
  for (const n of [a, b]) assert.equal(ok(['run', '-d', '--name', n, 'test/stack:1', 'sleep', '60'], { detachedOut: out }), `${n}\n`);
  const lower = (n: string) => mountsUnder(join(store, 'containers', n)).map((l) => /lowerdir=([^,]+)/.exec(l)![1]);
  assert.equal(lower(a).length, 1);
  assert.deepEqual(lower(a), lower(b));
  assert.match(ok(['container', 'ls']), new RegExp(`${a}.*running`));
  const busy = runts(['rmi', 'test/stack:1']);
  assert.match(busy.stderr, /is used by container/);
  ok(['stop', '-t', '1', a]);
  assert.match(ok(['container', 'ls', '-a']), new RegExp(`${a}.*exited`));
  const [inspected] = JSON.parse(ok(['inspect', b])) as { State: { Status: string } }[];
  assert.equal(inspected!.State.Status, 'running');
  // rmi --force takes the name away, never the layers a container stands on
  ok(['run', '-d', '--name', cname('logger'), 'test/stack:1', 'sh', '-c', 'echo to-the-log; echo err >&2']);
  ok(['load', '--name', 'test/doomed:1', layout.dir]);
  ok(['rmi', 'test/stack:1']); // only untags: test/doomed:1 still names it
  ok(['rmi', '-f', 'test/doomed:1']);
  assert.equal(ok(['exec', b, 'cat', '/opq/new']), 'new', 'the running container still reads its layers');
  ok(['load', layout.dir]); // back for the next tests
  let log = '';
  for (let i = 0; i < 200 && !log.includes('err'); i++) {
    log = ok(['logs', `${RUN_PREFIX}-logger`]);
    if (!log.includes('err')) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(log, 'to-the-log\nerr\n');
  ok(['container', 'rm', '-f', a, b, `${RUN_PREFIX}-logger`]);
  assert.deepEqual(mountsUnder(store), []);
});

test('a corrupt blob is refused and changes nothing', { skip }, async () => {
  const before = { images: imagesJson(), layers: layerDirs() };
  const bad = ociLayout(join(base, 'bad'), 'test/bad:1', [{ tar: busyboxLayer(), compress: 'gzip' }, { tar: await tarOf([{ name: 'x', body: 'unique to bad' }]) }]);
  const blob = bad.blob(bad.layerDigests[1]!);
  const data = readFileSync(blob);
  data[data.length - 1024] = data[data.length - 1024]! ^ 0xff;
  writeFileSync(blob, data);
  const r = runts(['load', bad.dir]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /digest mismatch/);
  assert.equal(imagesJson(), before.images);
  assert.deepEqual(layerDirs(), before.layers);
  assert.deepEqual(readdirSync(join(store, 'tmp')), []);
  const unknown = runts(['run', '--rm', '--pull', 'never', 'test/nothing:1', 'true']);
  assert.match(unknown.stderr, /no such image: test\/nothing:1 \(--pull never: /);
});

test('save writes an OCI layout that load (and skopeo) read back as the same image', { skip }, (t) => {
  const [before] = JSON.parse(ok(['inspect', 'test/stack:1'])) as { Id: string; Digest: string }[];
  const file = join(base, 'stack.tar');
  ok(['save', 'test/stack:1', '-o', file]);
  assert.match(runts(['save', 'test/stack:1', '-o', file]).stderr, /already exists/);
  assert.match(ok(['load', '--name', 'test/copy:1', file]), new RegExp(`Loaded image: test/copy:1 \\(${before!.Id}\\)`));
  const [after] = JSON.parse(ok(['inspect', 'test/copy:1'])) as { Id: string; Digest: string; RepoTags: string[] }[];
  assert.equal(after!.Digest, before!.Digest);
  assert.deepEqual(after!.RepoTags.sort(), ['test/copy:1', 'test/stack:1']);
  // the last part: skopeo reads what save wrote
  if (lacks(t, missingCommands('skopeo'))) return;
  const dir = join(base, 'stack-layout');
  ok(['save', 'test/copy:1', '-o', dir]);
  const r = spawnSync('skopeo', ['inspect', `oci:${dir}:1`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { Digest: string }).Digest, before!.Digest);
});

test('docker save archives load; rmi frees exactly the layers no image uses', { skip }, async () => {
  const shared = busyboxLayer();
  const [one, two] = [await tarOf([{ name: 'one', body: '1' }]), await tarOf([{ name: 'two', body: '2' }])];
  const file = join(base, 'saved.tar');
  await dockerSave(file, [{ tags: ['test/one:latest'], layers: [shared, one] }, { tags: ['test/two:latest'], layers: [shared, two], extra: { Entrypoint: ['cat'] } }]);
  assert.match(ok(['load', file]), /Loaded image: test\/one:latest[\s\S]*Loaded image: test\/two:latest/);
  assert.equal(ok(['run', '--rm', '--name', cname('two'), 'test/two', '/two']), '2');
  const inspect = JSON.parse(ok(['inspect', 'test/two'])) as { RootFS: { Layers: string[] }; Config: { Entrypoint: string[] } }[];
  assert.deepEqual(inspect[0]!.Config.Entrypoint, ['cat']);
  assert.deepEqual(inspect[0]!.RootFS.Layers, [`sha256:${sha(shared)}`, `sha256:${sha(two)}`]);
  const json = JSON.parse(ok(['images', '--format', 'json'])) as { RepoTags: string[] }[];
  assert.deepEqual(json.flatMap((i) => i.RepoTags).sort(), ['test/copy:1', 'test/one:latest', 'test/stack:1', 'test/two:latest']);

  ok(['rmi', 'test/one']);
  assert.ok(layerDirs().includes(sha(shared)), 'the shared layer stays while test/two uses it');
  assert.ok(!layerDirs().includes(sha(one)));
  ok(['rmi', 'test/two', 'test/stack:1', 'test/copy:1']);
  assert.deepEqual(layerDirs(), []);
  assert.deepEqual(readdirSync(join(store, 'blobs/sha256')), []);
});
