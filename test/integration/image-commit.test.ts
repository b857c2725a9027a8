/*
 * image-commit.test.ts - `runts commit`, `runts export` and `runts logs -f`
 * for real: a busybox container (the built-in rootfs, plus a layer with
 * /opq/old and /etc/motd) makes changes of every kind - a new file, a
 * deleted one, a directory replaced by an opaque one, a fifo, a symlink, a
 * hard link, chmod and chown, an xattr and a file capability set from the
 * host side - and is committed; a container of the new image sees exactly
 * those changes, and umoci unpacks the saved image to the same files. The
 * empty mount points runts made (/etc/hosts of an image without one, a -v
 * target) stay out of the layer. A read-only mount that a killed export left
 * in the store's tmp/ is unmounted and removed by the next prune.
 *
 * A store and state root of the test's own; containers run with
 * `--network none` (network.test.ts tests networking), named with this
 * run's mark so the file's leak check sees anything left behind.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import { ensureRunDir, RUN_PREFIX } from '../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { fileSkip, inCI, isRoot, lacks, missingCommands, mountsUnder } from '../lib/host.ts';
import { describeResult, runtimeAvailable, runts, type RuntsResult } from '../lib/runtime.ts';
import { lgetxattr, lsetxattr } from '../../src/sys/libc.ts';
import { BUSYBOX, busyboxLayer, middleLayer, ociLayout, tree, treeDiff } from './image-fixtures.ts';

// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const skip = fileSkip('image commit tests', !isRoot() ? 'needs root' : !existsSync(BUSYBOX) ? 'needs `npm run build` (dist/images/busybox)' : runtimeAvailable() ?? false);

const base = join(ensureRunDir(), 'image-commit');
const store = join(base, 'store');
const stateRoot = join(base, 'state');
const names: string[] = [];
const cname = (n: string) => { const name = `${RUN_PREFIX}-${n}`; names.push(name); return name; };

const rt = (args: string[], opts: { stdoutFile?: string } = {}): Promise<RuntsResult> => runts(args, { root: stateRoot, env: { RUNTS_STORE: store }, ...opts });
async function ok(args: string[], opts: { stdoutFile?: string } = {}): Promise<string> {
  const r = await rt(args, opts);
  assert.ok(r.code === 0 && !r.timedOut, describeResult(r));
  return r.stdout;
}
const run = (args: string[]) => ok(['run', '--network', 'none', ...args]);

after(async () => {
  for (const n of names) await rt(['container', 'rm', '-f', n]);
  rmSync(base, { recursive: true, force: true });
});
checkLeaksAfterFile();

/** Every path in the store with its size: what "the store did not change" compares. */
function storeListing(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      out.push(`${relative(store, path)} ${e.isFile() ? statSync(path).size : ''}`);
      if (e.isDirectory() && !path.startsWith(join(store, 'containers'))) walk(path);
    }
  };
  walk(store);
  return out.sort();
}
const layerDirs = () => readdirSync(join(store, 'layers')).sort();

interface ImageEntry { id: string; names: string[]; manifest: string; layers: string[] }
const image = (name: string) => (JSON.parse(readFileSync(join(store, 'images.json'), 'utf8')) as { images: ImageEntry[] }).images.find((i) => i.names.includes(name))!;
const blob = (digest: string) => join(store, 'blobs/sha256', digest.slice(7));
/** The blob of an image's top layer (the committed one). */
function topLayerBlob(name: string): string {
  const manifest = JSON.parse(readFileSync(blob(image(name).manifest), 'utf8')) as { layers: { mediaType: string; digest: string }[] };
  assert.equal(manifest.layers.at(-1)!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  return blob(manifest.layers.at(-1)!.digest);
}

/** The changes: file, deleted file, opaque dir, fifo, symlink, hard link, chmod, chown. */
const CHANGES = [
  'echo hi > /newfile', 'rm /etc/motd', 'rm -rf /opq && mkdir /opq && echo x > /opq/new', 'mkfifo /fifo',
  'ln -s /newfile /symlink', 'ln /newfile /hardlink', 'chmod 741 /newfile', 'chown 12:34 /newfile', 'chown -h 5:6 /symlink',
  'mkdir /data && echo attr > /data/attr && echo cap > /data/capable', 'echo mine > /etc/mine',
].join('; ');
/** What a container of the committed image reports on them. */
const CHECKS = [
  'ls /opq', 'test -e /etc/motd || echo motd-gone', 'cat /newfile', 'stat -c "%a %u:%g %h" /newfile', 'test -p /fifo && echo fifo',
  'readlink /symlink', 'stat -c "%u:%g" /symlink', 'stat -c %i /newfile > /tmp/a; stat -c %i /hardlink > /tmp/b; cmp -s /tmp/a /tmp/b && echo linked',
].join('; ');
const SEEN = 'new\nmotd-gone\nhi\n741 12:34 2\nfifo\n/newfile\n5:6\nlinked\n';

let committed = ''; // the image id of the first commit
const [first, second] = [cname('first'), cname('second')];

test('commit: a container\'s changes become one layer, and a new container sees exactly them', { skip }, async (t) => {
  const layout = ociLayout(join(base, 'layout'), 'test/base:1', [{ tar: busyboxLayer(), compress: 'gzip' }, { tar: await middleLayer(), compress: 'gzip' }]);
  await ok(['load', layout.dir]);
  const volume = join(base, 'volume');
  mkdirSync(volume);
  await run(['--name', first, '-v', `${volume}:/vol`, 'test/base:1', 'sh', '-c', CHANGES]);
  // an xattr and a file capability, from the host side (busybox sets neither)
  const upper = join(store, 'containers', first, 'upper');
  lsetxattr(join(upper, 'data/attr'), 'user.note', Buffer.from('kept'));
  // without setcap (outside CI) the capability part is left out, and the test ends skipped, saying so
  const noCap = missingCommands('setcap');
  if (noCap && inCI()) assert.fail(`${noCap} (scripts/setup.sh installs it)`);
  if (!noCap) execFileSync('setcap', ['cap_net_raw+ep', join(upper, 'data/capable')]);
  assert.equal(lgetxattr(join(upper, 'opq'), 'trusted.overlay.opaque').toString(), 'y', 'OverlayFS made /opq opaque');

  committed = (await ok(['commit', '-m', 'all kinds', '--author', 'tester', first, 'test/committed:1'])).trim();
  assert.match(committed, /^sha256:[0-9a-f]{64}$/);
  const layer = topLayerBlob('test/committed:1');
  const listing = execFileSync('tar', ['--numeric-owner', '-tvzf', layer], { encoding: 'utf8' });
  for (const line of [/ etc\/\.wh\.motd$/m, / opq\/\.wh\.\.wh\.\.opq$/m, / opq\/new$/m, /^p.* fifo$/m, /^l.* 5\/6 .* symlink -> \/newfile$/m, /^h.* (hardlink link to newfile|newfile link to hardlink)$/m]) {
    assert.match(listing, line);
  }
  assert.doesNotMatch(listing, /opq\/old|bin\//, 'only what changed is in the layer');
  // busybox has no /etc/hosts nor /etc/resolv.conf: runts-init made them, empty, to mount the generated ones on
  const upperEtc = readdirSync(join(upper, 'etc'));
  assert.ok(upperEtc.includes('hosts') && upperEtc.includes('resolv.conf') && existsSync(join(upper, 'vol')), `the mount points are in the upper layer: ${upperEtc.join(' ')}`);
  assert.doesNotMatch(listing, / (etc\/hosts|etc\/resolv\.conf|vol\/?)$/m, 'runts\'s mount points are not the container\'s changes');
  assert.match(listing, / etc\/mine$/m, 'a file the container wrote in /etc is');
  const raw = gunzipSync(readFileSync(layer));
  assert.ok(raw.includes('SCHILY.xattr.user.note=kept'));
  assert.ok(!raw.includes('trusted.overlay'), 'OverlayFS\'s own xattrs stay out of the layer');
  if (!noCap) {
    assert.ok(raw.includes('SCHILY.xattr.security.capability='));
    const stored = join(store, 'layers', image('test/committed:1').layers.at(-1)!.slice(7), 'diff/data/capable');
    assert.ok(lgetxattr(stored, 'security.capability').equals(lgetxattr(join(upper, 'data/capable'), 'security.capability')));
  }

  assert.equal(await run(['--rm', 'test/committed:1', 'sh', '-c', CHECKS]), SEEN);
  const [inspected] = JSON.parse(await ok(['inspect', 'test/committed:1'])) as { Config: { Env: string[] }; RootFS: { Layers: string[] } }[];
  assert.deepEqual(inspected!.RootFS.Layers.slice(0, 2), image('test/base:1').layers, 'the base layers, shared');
  assert.deepEqual(inspected!.Config.Env, ['FROM_IMAGE=yes'], 'the config comes from the parent image');
  // last, after every assertion passed: a skipped test's failure would not count
  if (noCap) t.skip(`${noCap}: everything but the file capability was checked`);
});

test('umoci unpacks the saved commit to the same files as our overlay', { skip }, async (t) => {
  if (lacks(t, missingCommands('umoci'))) return;
  const layout = join(base, 'committed-layout');
  await ok(['save', 'test/committed:1', '-o', layout]);
  const bundle = join(base, 'umoci-bundle');
  const r = spawnSync('umoci', ['unpack', '--image', `${layout}:1`, bundle], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const name = cname('compare');
  await run(['-d', '--name', name, 'test/committed:1', 'sleep', '60']);
  try {
    const ours = tree(join(store, 'containers', name, 'merged'));
    const theirs = tree(join(bundle, 'rootfs'));
    assert.deepEqual(treeDiff(ours, theirs), []);
    assert.ok(theirs.has('opq/new') && !theirs.has('opq/old') && !theirs.has('etc/motd'));
  } finally {
    await ok(['container', 'rm', '-f', name]);
  }
});

test('commit of a running container: it keeps running, and two commits share the base layers', { skip }, async () => {
  const before = layerDirs();
  await run(['-d', '--name', second, 'test/base:1', 'sh', '-c', 'echo running > /run-file; sleep 60']);
  for (let i = 0; i < 100 && !existsSync(join(store, 'containers', second, 'upper/run-file')); i++) await new Promise((r) => setTimeout(r, 50));
  await ok(['commit', second, 'test/running:1']);
  const [c] = JSON.parse(await ok(['inspect', second])) as { State: { Status: string } }[];
  assert.equal(c!.State.Status, 'running', 'resumed after the commit');
  assert.equal(await run(['--rm', 'test/running:1', 'cat', '/run-file']), 'running\n');
  const after = layerDirs();
  assert.equal(after.length, before.length + 1, 'one new layer; the base layers are not copied');
  assert.deepEqual(after.filter((l) => !before.includes(l)), [image('test/running:1').layers.at(-1)!.slice(7)]);
  assert.equal(image('test/running:1').layers.slice(0, 2).join(), image('test/committed:1').layers.slice(0, 2).join());
  await ok(['commit', '--pause=false', '-c', 'CMD ["cat", "/run-file"]', second, 'test/running:2']);
  assert.equal(await run(['--rm', 'test/running:2']), 'running\n');
});

test('export: the whole root filesystem as a plain tar, of a stopped and of a running container', { skip }, async () => {
  const file = join(base, 'first.tar');
  await ok(['export', first, '-o', file]); // stopped: its overlay is mounted read-only for the export
  const files = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n');
  for (const f of ['bin/busybox', 'newfile', 'opq/new', 'fifo', 'data/attr']) assert.ok(files.includes(f), `${f} is in the export`);
  for (const f of ['etc/motd', 'opq/old']) assert.ok(!files.includes(f), `${f} was deleted`);
  assert.ok(!files.some((f) => f.includes('.wh.')), 'no whiteouts: a merged view');
  assert.ok(!files.some((f) => /^(proc|sys)\/./.test(f)), 'the container\'s /proc and /sys are not in it');
  assert.deepEqual(existsSync(join(store, 'tmp')) ? readdirSync(join(store, 'tmp')) : [], [], 'the read-only overlay is gone');
  assert.deepEqual(mountsUnder(join(store, 'containers', first)), []);

  const piped = join(base, 'second.tar');
  await ok(['export', second], { stdoutFile: piped }); // running: read through its own overlay
  assert.ok(execFileSync('tar', ['-tf', piped], { encoding: 'utf8' }).split('\n').includes('run-file'));

  const r = await rt(['export', `${RUN_PREFIX}-nothing`, '-o', join(base, 'nothing.tar')]);
  assert.match(r.stderr, /no such container/);
  assert.ok(!readdirSync(base).some((f) => f.includes('nothing')), 'no file, not even a temporary one');
});

test('a mount a killed export left in tmp/ is unmounted, and its entry removed, by the next prune', { skip }, async () => {
  // named as a process that cannot exist (pid 2^22+1 is above the kernel's pid_max limit)
  const entry = join(store, 'tmp', 'export-4194305-1-0123456789ab');
  const root = join(entry, 'root');
  mkdirSync(root, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', `${RUN_PREFIX}-stale`, root]);
  try {
    writeFileSync(join(root, 'file'), 'in the mount');
    execFileSync('mount', ['-o', 'remount,ro', root]); // as export's overlay: removing its files fails with EROFS
    await ok(['prune']);
    assert.deepEqual(mountsUnder(entry), [], 'the mount is gone');
    assert.ok(!existsSync(entry), 'and so is the entry');
  } finally {
    if (mountsUnder(entry).length) execFileSync('umount', ['-R', '-l', root]);
  }
});

test('logs -f prints what a detached container writes until it exits', { skip }, async () => {
  const name = cname('logger');
  await run(['-d', '--name', name, 'test/base:1', 'sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.3; done']);
  const started = Date.now();
  assert.equal(await ok(['logs', '-f', name]), 'line 1\nline 2\nline 3\n');
  assert.ok(Date.now() - started < 15_000);
  assert.equal(await ok(['logs', '--tail', '2', name]), 'line 2\nline 3\n');
  assert.equal(await ok(['logs', '-f', '--tail', '1', name]), 'line 3\n', 'an exited container: the log, then done');
});

test('bad input changes nothing in the store', { skip }, async () => {
  const before = storeListing();
  const refused: [string[], RegExp][] = [
    [['commit', `${RUN_PREFIX}-nothing`, 'test/x:1'], /no such container/],
    [['commit', first, 'Bad/Name'], /invalid image reference: Bad\/Name/],
    [['commit', first, `test/x@sha256:${'0'.repeat(64)}`], /named by a tag, not a digest/],
    [['commit', '-c', 'VOLUME /x', first, 'test/x:1'], /--change VOLUME \/x: expected CMD/],
    [['logs', '-f', `${RUN_PREFIX}-nothing`], /no such container/],
  ];
  for (const [args, message] of refused) {
    const r = await rt(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, message);
  }
  assert.deepEqual(storeListing(), before);
});
