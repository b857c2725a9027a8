/*
 * image-commit.test.ts - the pure parts of commit, export and logs: an
 * OverlayFS upper layer made by hand (a 0/0 whiteout shared by two names as
 * the kernel shares it, an opaque dir, OverlayFS's own xattrs, hard links, a
 * fifo) is walked into tar entries, written, and unpacked again by the
 * image unpacker into the same tree; the empty mount points runts made are
 * left out; `--change` instructions; `--tail`.
 *
 * Whiteouts (mknod) and trusted.* xattrs need root: those checks skip
 * without it, and fail in CI, which runs as root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lastLines } from '../../src/frontend/run.ts';
import { applyChanges } from '../../src/image/commit.ts';
import { walkTree, writeTree } from '../../src/image/diff.ts';
import { unpackLayer } from '../../src/image/unpack.ts';
import { lgetxattr, llistxattr, lsetxattr, mknod } from '../../src/sys/libc.ts';
import { inCI } from '../lib/host.ts';

const dir = mkdtempSync(join(tmpdir(), 'runts-commit-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;
const rootSkip = isRoot ? false : 'whiteouts and trusted.* xattrs need root';
if (rootSkip && inCI()) throw new Error(`commit tests: ${rootSkip}`);

const S_IFCHR = 0o020000, S_IFIFO = 0o010000;
const mtime = new Date('2024-05-06T07:08:09Z');

/** An upper layer as OverlayFS leaves it after a container's changes. */
function makeUpper(root: string): void {
  mkdirSync(join(root, 'a'), { mode: 0o750 });
  writeFileSync(join(root, 'a/file'), 'data', { mode: 0o640 });
  lchownSync(join(root, 'a/file'), 12, 34);
  lsetxattr(join(root, 'a/file'), 'user.note', Buffer.from('kept'));
  lsetxattr(join(root, 'a/file'), 'trusted.overlay.origin', Buffer.from('dropped'));
  linkSync(join(root, 'a/file'), join(root, 'a/hard'));
  mkdirSync(join(root, 'b'));
  lsetxattr(join(root, 'b'), 'trusted.overlay.opaque', Buffer.from('y'));
  lsetxattr(join(root, 'b'), 'trusted.overlay.impure', Buffer.from('y'));
  writeFileSync(join(root, 'b/new'), 'new');
  mknod(join(root, 'gone'), S_IFCHR, 0, 0);
  linkSync(join(root, 'gone'), join(root, 'gone2')); // the kernel shares one whiteout inode
  mknod(join(root, 'fifo'), S_IFIFO | 0o600, 0, 0);
  symlinkSync('a/file', join(root, 'sym'));
  for (const p of ['a/file', 'b/new', 'fifo', 'sym', 'b', 'a']) lutimesSync(join(root, p), mtime, mtime);
}

test('an upper layer becomes sorted tar entries: whiteouts, an opaque marker, links, no OverlayFS xattrs', { skip: rootSkip }, () => {
  const upper = join(dir, 'upper-entries');
  mkdirSync(upper);
  makeUpper(upper);
  const entries = [...walkTree(upper, { upper: true })].map((e) => e.header);
  assert.deepEqual(entries.map((h) => `${h.type} ${h.name}${h.linkname ? ` -> ${h.linkname}` : ''}`), [
    'directory a', 'file a/file', 'link a/hard -> a/file',
    'directory b', 'file b/.wh..wh..opq', 'file b/new',
    'fifo fifo', 'file .wh.gone', 'file .wh.gone2', 'symlink sym -> a/file',
  ]);
  const file = entries.find((h) => h.name === 'a/file')!;
  assert.deepEqual([file.mode, file.uid, file.gid, file.size, file.mtime.getTime()], [0o640, 12, 34, 4, mtime.getTime()]);
  assert.deepEqual([...(file.xattrs ?? [])].map(([k, v]) => `${k}=${v}`), ['user.note=kept']);
  assert.equal(entries.find((h) => h.name === 'b')!.xattrs, undefined, 'opaque and impure stay OverlayFS\'s');
  // export reads a merged view: nothing is converted there
  assert.ok([...walkTree(upper, { upper: false })].some((e) => e.header.type === 'char' && e.header.name === 'gone'));
});

test('written and unpacked again, the layer is the same tree; the same tree gives the same bytes', { skip: rootSkip }, async () => {
  const upper = join(dir, 'upper-roundtrip');
  mkdirSync(upper);
  makeUpper(upper);
  const [first, second] = [join(dir, 'one.tar'), join(dir, 'two.tar')];
  await writeTree(upper, createWriteStream(first), { upper: true });
  await writeTree(upper, createWriteStream(second), { upper: true });
  assert.ok(readFileSync(first).equals(readFileSync(second)));
  assert.match(execFileSync('tar', ['--numeric-owner', '-tvf', first], { encoding: 'utf8' }), /^hrw-r----- 12\/34 +0 .* a\/hard link to a\/file$/m);

  const dest = join(dir, 'unpacked');
  mkdirSync(dest);
  await unpackLayer(first, dest);
  const at = (p: string) => join(dest, p);
  for (const p of ['gone', 'gone2']) assert.ok(lstatSync(at(p)).isCharacterDevice() && lstatSync(at(p)).rdev === 0, `${p} is a whiteout again`);
  assert.equal(lgetxattr(at('b'), 'trusted.overlay.opaque').toString(), 'y');
  assert.equal(readFileSync(at('b/new'), 'utf8'), 'new');
  assert.equal(lstatSync(at('a/hard')).ino, lstatSync(at('a/file')).ino);
  assert.deepEqual(llistxattr(at('a/file')), ['user.note']);
  assert.ok(lstatSync(at('fifo')).isFIFO());
  assert.equal(readlinkSync(at('sym')), 'a/file');
  for (const p of ['a', 'a/file', 'b/new', 'fifo']) {
    const [a, b] = [lstatSync(join(upper, p)), lstatSync(at(p))];
    assert.deepEqual([b.mode, b.uid, b.gid, b.mtime.getTime()], [a.mode, a.uid, a.gid, a.mtime.getTime()], p);
  }
});

test('the empty files and directories where the container had mounts are left out; anything else there is kept', () => {
  const upper = join(dir, 'upper-mounts');
  mkdirSync(join(upper, 'etc'), { recursive: true });
  writeFileSync(join(upper, 'etc/hosts'), ''); // runts-init's mount point
  writeFileSync(join(upper, 'etc/resolv.conf'), 'nameserver 10.0.0.1\n'); // not empty: data
  writeFileSync(join(upper, 'etc/empty'), ''); // empty, but nothing was mounted there
  mkdirSync(join(upper, 'vol'));
  mkdirSync(join(upper, 'full'));
  writeFileSync(join(upper, 'full/kept'), 'x');
  const mountPoints = new Set(['etc/hosts', 'etc/resolv.conf', 'vol', 'full', 'proc']);
  const names = (opts: { upper: boolean; mountPoints?: Set<string> }) => [...walkTree(upper, opts)].map((e) => e.header.name);
  assert.deepEqual(names({ upper: true, mountPoints }), ['etc', 'etc/empty', 'etc/resolv.conf', 'full', 'full/kept']);
  assert.deepEqual(names({ upper: true }), ['etc', 'etc/empty', 'etc/hosts', 'etc/resolv.conf', 'full', 'full/kept', 'vol'], 'no mounts: all of it');
});

test('an upper layer OverlayFS wrote with redirect_dir on is refused, not misread', { skip: rootSkip }, () => {
  const upper = join(dir, 'upper-redirect');
  mkdirSync(join(upper, 'moved'), { recursive: true });
  lsetxattr(join(upper, 'moved'), 'trusted.overlay.redirect', Buffer.from('/old'));
  assert.throws(() => [...walkTree(upper, { upper: true })], /moved: OverlayFS redirect \(the kernel's redirect_dir feature\) cannot be written as a layer/);
});

test('--change instructions edit a copy of the config; a bad one names itself', () => {
  const base = { Env: ['A=1', 'B=2'], Cmd: ['sh'] };
  const out = applyChanges(base, ['CMD ["cat", "/x"]', 'ENTRYPOINT echo hi', 'ENV A=3', 'env C 4', 'WORKDIR /srv', 'USER 10:20', 'LABEL k="v w"', 'EXPOSE 80 53/udp']);
  assert.deepEqual(out, {
    Env: ['B=2', 'A=3', 'C=4'], Cmd: ['cat', '/x'], Entrypoint: ['/bin/sh', '-c', 'echo hi'], WorkingDir: '/srv', User: '10:20',
    Labels: { k: 'v w' }, ExposedPorts: { '80/tcp': {}, '53/udp': {} },
  });
  assert.deepEqual(base, { Env: ['A=1', 'B=2'], Cmd: ['sh'] });
  assert.throws(() => applyChanges({}, ['VOLUME /x']), /--change VOLUME \/x: expected CMD, ENTRYPOINT/);
  assert.throws(() => applyChanges({}, ['CMD ["unclosed"']), /--change CMD \["unclosed": not a JSON array of strings/);
  assert.throws(() => applyChanges({}, ['EXPOSE http']), /http is not PORT/);
});

test('--tail keeps the last lines, with or without a final newline', () => {
  const tail = (s: string, n: number) => lastLines(Buffer.from(s), n).toString();
  assert.equal(tail('a\nb\nc\n', 2), 'b\nc\n');
  assert.equal(tail('a\nb\nc', 2), 'b\nc');
  assert.equal(tail('a\nb\n', 5), 'a\nb\n');
  assert.equal(tail('a\nb\n', 0), '');
  assert.equal(tail('', 3), '');
});
