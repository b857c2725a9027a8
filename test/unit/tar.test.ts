/*
 * tar.test.ts - src/image/tar.ts against GNU tar, both ways: what TarWriter
 * writes, GNU tar lists and extracts (long names, big owners, links, a fifo,
 * binary xattrs and a file capability); what GNU tar writes (gnu and pax
 * formats, `--xattrs`, base-256 numbers), the reader reads; and the reader
 * refuses a truncated stream and a bad checksum.
 *
 * File capabilities need root (CAP_SETFCAP): those checks skip without it,
 * and fail in CI, which runs as root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, linkSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, test } from 'node:test';
import { readTar, type TarEntry } from '../../src/image/tar-read.ts';
import { TarWriter, type TarHeader } from '../../src/image/tar.ts';
import { tarBuffer } from '../integration/image-fixtures.ts';
import { lgetxattr } from '../../src/sys/libc.ts';
import { inCI } from '../lib/host.ts';

const dir = mkdtempSync(join(tmpdir(), 'runts-tar-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const isRoot = process.getuid?.() === 0;
const rootSkip = isRoot ? false : 'file capabilities need root';
if (rootSkip && inCI()) throw new Error(`tar tests: ${rootSkip}`);

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
const setxattr = (path: string, name: string, value: Buffer) => run('python3', ['-c',
  'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)', path, name, value.toString('hex')]);
/** The bytes `setcap cap_net_raw+ep` writes: a binary vfs_cap_data struct. */
function capabilityBytes(): Buffer {
  const file = join(dir, `cap-${Date.now()}`);
  writeFileSync(file, '');
  run('setcap', ['cap_net_raw+ep', file]);
  return lgetxattr(file, 'security.capability');
}

const mtime = new Date('2024-05-06T07:08:09Z');
const header = (h: Partial<TarHeader> & Pick<TarHeader, 'name' | 'type'>): TarHeader => ({ mode: 0o644, uid: 0, gid: 0, mtime, ...h });
/** Bytes an xattr value may hold and text may not: NUL, newline, '=', not UTF-8. */
const BINARY = Buffer.from([0x00, 0x01, 0xff, 0x0a, 0x3d, 0xc3, 0x28, 0x00]);
const LONG_DIR = `${'d'.repeat(120)}/${'e'.repeat(120)}`;
const LONG_NAME = `${LONG_DIR}/${'f'.repeat(150)}`; // 392 bytes: no prefix split fits, a PAX path
const SPLIT_NAME = `${'p'.repeat(90)}/${'n'.repeat(60)}`; // 151 bytes: fits as prefix + name

async function writeArchive(file: string, entries: [TarHeader, (Buffer | Readable)?][]) {
  const writer = new TarWriter(createWriteStream(file));
  for (const [h, body] of entries) await writer.add(h, body);
  await writer.finish();
}

test('GNU tar lists and extracts what TarWriter writes: types, long names, big ids, binary xattrs', async () => {
  const file = join(dir, 'written.tar');
  const streamed = Buffer.alloc(100_000, 'x');
  const cap = rootSkip ? undefined : capabilityBytes();
  const xattrs = new Map([['user.binary', BINARY], ...(cap ? [['security.capability', cap] as [string, Buffer]] : [])]);
  await writeArchive(file, [
    [header({ name: 'd', type: 'directory', mode: 0o750 })],
    [header({ name: 'd/hello', type: 'file', mode: 0o4755, uid: 1000, gid: 100 }), Buffer.from('hello\n')],
    [header({ name: 'd/streamed', type: 'file', size: streamed.length }), Readable.from([streamed.subarray(0, 7), streamed.subarray(7)])],
    [header({ name: 'd/xattrs', type: 'file', xattrs }), Buffer.from('capable')],
    [header({ name: 'd/sym', type: 'symlink', linkname: 'hello', mode: 0o777 })],
    [header({ name: 'd/hard', type: 'link', linkname: 'd/hello' })],
    [header({ name: 'd/fifo', type: 'fifo', mode: 0o600 })],
    [header({ name: 'd/bigid', type: 'file', uid: 3_000_000, gid: 4_000_000, uname: 'u'.repeat(40) }), Buffer.from('big')],
    [header({ name: LONG_DIR, type: 'directory', mode: 0o755 })],
    [header({ name: LONG_NAME, type: 'file' }), Buffer.from('long')],
    [header({ name: 'p'.repeat(90), type: 'directory', mode: 0o755 })],
    [header({ name: SPLIT_NAME, type: 'file' }), Buffer.from('split')],
    [header({ name: 'd/longlink', type: 'symlink', linkname: `/${'l'.repeat(200)}`, mode: 0o777 })],
  ]);
  assert.equal(statSync(file).size % 512, 0);

  const listing = run('tar', ['--numeric-owner', '-tvf', file]);
  assert.match(listing, /^-rwsr-xr-x 1000\/100 +6 2024-05-06 07:08 d\/hello$/m);
  assert.match(listing, /^-rw-r--r-- 3000000\/4000000 +3 .* d\/bigid$/m);
  assert.match(listing, /^hrw-r--r-- 0\/0 +0 .* d\/hard link to d\/hello$/m);
  assert.match(listing, /^prw------- .* d\/fifo$/m);
  assert.ok(listing.includes(` ${LONG_NAME}\n`), listing);
  assert.ok(listing.includes(` ${SPLIT_NAME}\n`), listing);
  assert.ok(listing.includes(` d/longlink -> /${'l'.repeat(200)}\n`), listing);

  const out = join(dir, 'extracted');
  mkdirSync(out);
  run('tar', ['--xattrs', "--xattrs-include=*", '--numeric-owner', '-xpf', file, '-C', out]);
  const at = (p: string) => join(out, p);
  assert.equal(readFileSync(at('d/hello'), 'utf8'), 'hello\n');
  assert.ok(readFileSync(at('d/streamed')).equals(streamed));
  assert.equal(statSync(at('d')).mode & 0o7777, 0o750);
  assert.equal(readlinkSync(at('d/sym')), 'hello');
  assert.equal(statSync(at('d/hard')).ino, statSync(at('d/hello')).ino);
  assert.ok(lstatSync(at('d/fifo')).isFIFO());
  assert.equal(readFileSync(at(LONG_NAME), 'utf8'), 'long');
  assert.equal(readFileSync(at(SPLIT_NAME), 'utf8'), 'split');
  assert.equal(readlinkSync(at('d/longlink')), `/${'l'.repeat(200)}`);
  assert.equal(statSync(at('d/hello')).mtime.getTime(), mtime.getTime());
  assert.ok(lgetxattr(at('d/xattrs'), 'user.binary').equals(BINARY));
  if (isRoot) {
    assert.equal(statSync(at('d/hello')).mode & 0o7777, 0o4755);
    assert.equal(statSync(at('d/hello')).uid, 1000);
    assert.equal(statSync(at('d/bigid')).uid, 3_000_000);
    assert.equal(statSync(at('d/bigid')).gid, 4_000_000);
  }
  if (cap) {
    assert.ok(lgetxattr(at('d/xattrs'), 'security.capability').equals(cap));
    assert.match(run('getcap', [at('d/xattrs')]), /cap_net_raw[=+]ep/);
  }
});

test('TarWriter refuses a bad header before writing, and a wrong-sized body breaks the archive', async () => {
  const chunks: Buffer[] = [];
  const out = new Writable({ write(c: Buffer, _e, done) { chunks.push(c); done(); } });
  const writer = new TarWriter(out);
  await assert.rejects(writer.add(header({ name: 's', type: 'symlink' })), /"s": a symlink needs a link name/);
  await assert.rejects(writer.add(header({ name: 'f', type: 'file', size: 3 }), Buffer.from('four')), /"f": size is 3, the body has 4 bytes/);
  await assert.rejects(writer.add(header({ name: 'f', type: 'file', uid: -1 }), Buffer.from('')), /uid -1 is not a whole number/);
  assert.equal(chunks.length, 0);
  await writer.add(header({ name: 'ok', type: 'file' }), Buffer.from('ok'));
  await assert.rejects(writer.add(header({ name: 'short', type: 'file', size: 10 }), Readable.from([Buffer.from('abc')])), /"short": size is 10, the body has 3 bytes/);
  await assert.rejects(writer.add(header({ name: 'next', type: 'file' }), Buffer.from('')), /the archive is unusable after an earlier failure: tar entry "short"/);
});

// ---------------------------------------------------------------- reader

type Read = Omit<TarEntry, 'body'> & { data: Buffer };
async function readAll(input: AsyncIterable<Uint8Array>): Promise<Map<string, Read>> {
  const entries = new Map<string, Read>();
  for await (const { body, ...entry } of readTar(input)) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk);
    entries.set(entry.name, { ...entry, data: Buffer.concat(chunks) });
  }
  return entries;
}
const readFile = (file: string) => readAll(createReadStream(file));
const readBuffer = (buf: Buffer) => readAll(Readable.from([buf]));

/** Sets the type byte of the header at `offset` and rewrites its checksum, as a writer of that type would. */
function retype(archive: Buffer, offset: number, typeflag: string): Buffer {
  const out = Buffer.from(archive);
  out.write(typeflag, offset + 156, 1, 'latin1');
  out.fill(' ', offset + 148, offset + 156);
  let sum = 0;
  for (let i = offset; i < offset + 512; i++) sum += out[i]!;
  out.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset + 148, 8, 'latin1');
  return out;
}

test('what TarWriter writes, readTar reads back the same', async () => {
  const xattrs = new Map([['user.binary', BINARY], ['security.capability', Buffer.from('0100000201200000000000000000000000000000', 'hex')]]);
  const written: [TarHeader, Buffer?][] = [
    [header({ name: 'd', type: 'directory', mode: 0o750, uname: 'root', gname: 'root' })],
    [header({ name: 'd/f', type: 'file', mode: 0o4755, uid: 1000, gid: 100, xattrs, mtime: new Date(-86_400_000) }), Buffer.from('x'.repeat(513))],
    [header({ name: LONG_NAME, type: 'file', uid: 3_000_000, gid: 4_000_000, uname: 'u'.repeat(40), size: 0 }), Buffer.alloc(0)],
    [header({ name: SPLIT_NAME, type: 'symlink', linkname: `/${'l'.repeat(200)}` })],
    [header({ name: 'd/h', type: 'link', linkname: 'd/f' })],
    [header({ name: 'd/c', type: 'char', devmajor: 1, devminor: 3 })],
    [header({ name: 'd/b', type: 'block', devmajor: 8, devminor: 1 })],
    [header({ name: 'd/p', type: 'fifo' })],
  ];
  const read = await readBuffer(await tarBuffer(written));
  assert.deepEqual([...read.keys()], written.map(([h]) => (h.type === 'directory' ? `${h.name}/` : h.name)));
  for (const [h, body] of written) {
    const r = read.get(h.type === 'directory' ? `${h.name}/` : h.name)!;
    assert.equal(r.type, h.type);
    assert.equal(r.typeflag, '0123456'['file link symlink char block directory fifo'.split(' ').indexOf(h.type)]);
    for (const key of ['mode', 'uid', 'gid', 'devmajor', 'devminor'] as const) assert.equal(r[key], h[key] ?? 0, `${h.name}: ${key}`);
    for (const key of ['linkname', 'uname', 'gname'] as const) assert.equal(r[key], h[key] ?? '', `${h.name}: ${key}`);
    assert.equal(r.mtime.getTime(), h.mtime.getTime());
    assert.deepEqual(r.data, body ?? Buffer.alloc(0));
    assert.deepEqual(r.xattrs, h.xattrs ?? new Map());
  }
});

/** A tree of every kind of file, with owners, modes, times and xattrs set; what GNU tar archives. */
function makeTree(): string {
  const src = join(dir, 'tree');
  mkdirSync(join(src, 'dir'), { recursive: true, mode: 0o750 });
  mkdirSync(join(src, 'links'));
  mkdirSync(join(src, LONG_DIR), { recursive: true });
  writeFileSync(join(src, 'dir/file'), 'hello', { mode: 0o640 });
  writeFileSync(join(src, 'dir/setuid'), '#!/bin/sh\n', { mode: 0o755 });
  run('chmod', ['4755', join(src, 'dir/setuid')]);
  writeFileSync(join(src, LONG_NAME), 'long');
  writeFileSync(join(src, 'dir/xattrs'), 'x');
  setxattr(join(src, 'dir/xattrs'), 'user.binary', BINARY);
  if (isRoot) run('setcap', ['cap_net_raw+ep', join(src, 'dir/xattrs')]);
  symlinkSync('file', join(src, 'dir/sym'));
  symlinkSync(`/${'l'.repeat(200)}`, join(src, 'dir/longlink'));
  linkSync(join(src, 'dir/file'), join(src, 'links/hard'));
  run('mkfifo', ['-m', '600', join(src, 'dir/fifo')]);
  if (isRoot) {
    run('mknod', ['-m', '640', join(src, 'dir/null'), 'c', '1', '3']);
    run('chown', ['-h', '1000:100', join(src, 'dir/file'), join(src, 'dir/sym')]);
  }
  for (const p of ['dir/file', 'dir/setuid', 'dir/xattrs', 'dir/sym', 'dir/longlink', 'dir/fifo', LONG_NAME]) lutimesSync(join(src, p), 1_600_000_000, 1_600_000_000);
  return src;
}

/** Each entry matches the file it was made from: type, mode, owner, mtime, size, data, link target. */
function assertMatchesTree(src: string, entries: Map<string, Read>, format: string) {
  const names = ['dir/', 'dir/file', 'dir/setuid', 'dir/xattrs', 'dir/sym', 'dir/longlink', 'dir/fifo', 'links/', 'links/hard', `${LONG_DIR}/`, LONG_NAME, ...(isRoot ? ['dir/null'] : [])];
  for (const name of names) {
    const e = entries.get(name);
    assert.ok(e, `${format}: no entry ${name} among ${[...entries.keys()].join(', ')}`);
    const st = lstatSync(join(src, name));
    const type = e.type === 'link' ? 'file' : e.type;
    const expected = st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : 'file';
    assert.equal(type, expected, `${format}: ${name}: type`);
    assert.equal(e.mode, st.mode & 0o7777, `${format}: ${name}: mode`);
    assert.equal(e.uid, st.uid, `${format}: ${name}: uid`);
    assert.equal(e.gid, st.gid, `${format}: ${name}: gid`);
    assert.equal(Math.floor(e.mtime.getTime() / 1000), Math.floor(st.mtimeMs / 1000), `${format}: ${name}: mtime`);
    if (e.type === 'file') assert.deepEqual(e.data, readFileSync(join(src, name)), `${format}: ${name}: data`);
    if (e.type === 'symlink') assert.equal(e.linkname, readlinkSync(join(src, name)), `${format}: ${name}: link target`);
  }
  assert.equal(entries.get('links/hard')!.type, 'link');
  assert.equal(entries.get('links/hard')!.linkname, 'dir/file');
  if (isRoot) assert.deepEqual([entries.get('dir/null')!.devmajor, entries.get('dir/null')!.devminor], [1, 3]);
}

test('readTar reads what GNU tar writes: gnu format (long names as L/K entries) and pax format (PAX path, xattrs)', async () => {
  const src = makeTree();
  const gnu = join(dir, 'gnu.tar');
  run('tar', ['-C', src, '--format=gnu', '-cf', gnu, 'dir', 'links', LONG_DIR.split('/')[0]!]);
  assert.ok(readFileSync(gnu).includes('././@LongLink'), 'GNU tar wrote no long-name entry');
  assertMatchesTree(src, await readFile(gnu), 'gnu');

  const pax = join(dir, 'pax.tar');
  run('tar', ['-C', src, '--format=pax', '--xattrs', '--xattrs-include=*', '--pax-option=uname:=global-user', '-cf', pax, 'dir', 'links', LONG_DIR.split('/')[0]!]);
  const entries = await readFile(pax);
  assertMatchesTree(src, entries, 'pax');
  const x = entries.get('dir/xattrs')!;
  assert.ok(x.xattrs.get('user.binary')?.equals(BINARY), 'user.binary differs');
  assert.ok(x.pax.has('SCHILY.xattr.user.binary'));
  if (isRoot) assert.ok(x.xattrs.get('security.capability')?.equals(lgetxattr(join(src, 'dir/xattrs'), 'security.capability')), 'security.capability differs');
  // a global PAX header (type g) holds for every entry after it
  for (const e of entries.values()) assert.equal(e.uname, 'global-user', e.name);
});

test('readTar reads GNU base-256 numbers (a uid past octal, a negative mtime) and old v7 headers', async () => {
  const file = join(dir, 'b256-src');
  writeFileSync(file, 'b256');
  lutimesSync(file, new Date(-315_619_200_000), new Date(-315_619_200_000)); // 1960 (a negative number of seconds would mean now)
  const gnu = join(dir, 'b256.tar');
  run('tar', ['-C', dir, '--format=gnu', '--owner=big:3000000', '--group=big:4000000', '-cf', gnu, 'b256-src']);
  const raw = readFileSync(gnu);
  assert.equal(raw[108]! & 0x80, 0x80, 'GNU tar wrote the uid in octal');
  assert.equal(raw[136], 0xff, 'GNU tar wrote the mtime in octal');
  const e = (await readFile(gnu)).get('b256-src')!;
  assert.deepEqual([e.uid, e.gid, e.mtime.getTime(), e.data.toString()], [3_000_000, 4_000_000, -315_619_200_000, 'b256']);

  // v7: no magic, no owner names; a directory is a file whose name ends in '/'
  mkdirSync(join(dir, 'v7dir'));
  symlinkSync('target', join(dir, 'v7dir/sym'));
  const v7 = join(dir, 'v7.tar');
  run('tar', ['-C', dir, '--format=v7', '--mtime=@1000', '-cf', v7, 'b256-src', 'v7dir']);
  const old = await readBuffer(retype(readFileSync(v7), 1024, '\0'));
  assert.deepEqual([...old.values()].map((e) => [e.name, e.type, e.linkname, e.data.toString(), e.mtime.getTime()]), [
    ['b256-src', 'file', '', 'b256', 1_000_000], ['v7dir/', 'directory', '', '', 1_000_000], ['v7dir/sym', 'symlink', 'target', '', 1_000_000],
  ]);
});

test('readTar: LIBARCHIVE.xattr (base64), unknown types passed through, contiguous files, bodies left unread', async () => {
  const records = 'LIBARCHIVE.xattr.user.b%3Dx=AAH/Cj0=\n'; // name "user.b=x", value 00 01 ff 0a 3d
  const pax = `${records.length + 3} ${records}`;
  const archive = Buffer.concat([
    (await tarBuffer([[header({ name: 'PaxHeaders/f', type: 'file' }), Buffer.from(pax)]])).subarray(0, 1024),
    (await tarBuffer([[header({ name: 'f', type: 'file' }), Buffer.from('f')], [header({ name: 'label', type: 'file' }), Buffer.from('vol')], [header({ name: 'c', type: 'file' }), Buffer.from('c')]])),
  ]);
  const typed = retype(retype(retype(archive, 0, 'x'), 2048, 'V'), 3072, '7');
  const entries = [];
  for await (const e of readTar(Readable.from([typed]))) entries.push(e); // no body read at all
  assert.deepEqual(entries.map((e) => [e.name, e.type, e.typeflag, e.size]), [['f', 'file', '0', 1], ['label', 'unknown', 'V', 3], ['c', 'file', '7', 1]]);
  assert.deepEqual(entries[0]!.xattrs, new Map([['user.b=x', Buffer.from([0, 1, 0xff, 0x0a, 0x3d])]]));
  assert.deepEqual(entries[1]!.xattrs, new Map(), 'PAX records of one entry leaked into the next');
});

test('readTar refuses a truncated stream and a bad checksum; a stream ending on a block boundary is whole', async () => {
  const archive = await tarBuffer([
    [header({ name: 'a', type: 'file' }), Buffer.from('a'.repeat(1000))],
    [header({ name: LONG_NAME, type: 'file' }), Buffer.from('b')],
  ]);
  // a header and two data blocks; a PAX header and its data block, a header, a data block; two zero blocks
  assert.equal(archive.length, 512 * 9);
  for (const [cut, where] of [[100, 'the header after the first header'], [512 + 600, 'the data of "a"'], [3 * 512 + 10, 'the header after the entry at byte 0 ("a")'], [4 * 512 + 10, 'the data of the PAX header at byte 1536'],
    [5 * 512, 'after the PAX header at byte 1536'], [5 * 512 + 100, 'the header after the PAX header'], [6 * 512 + 1, `the data of "${LONG_NAME}"`], [8 * 512 + 7, 'the end-of-archive marker']] as const) {
    await assert.rejects(readBuffer(archive.subarray(0, cut)), (err: Error) => {
      assert.match(err.message, /^truncated tar: the stream ends /, `cut at ${cut}`);
      assert.ok(err.message.includes(where), `cut at ${cut}: ${err.message}`);
      return true;
    });
  }
  assert.deepEqual([...(await readBuffer(archive.subarray(0, 3 * 512))).keys()], ['a']);
  assert.deepEqual([...(await readBuffer(Buffer.concat([archive, Buffer.alloc(10240)]))).keys()], ['a', LONG_NAME]);

  const bad = Buffer.from(archive);
  bad[3 * 512 + 1]! ^= 1; // in the PAX header's name
  await assert.rejects(readBuffer(bad), /^RuntsError: corrupt tar: bad header checksum at byte 1536: .* not a tar archive, or a damaged one$/);
  await assert.rejects(readBuffer(Buffer.from('not a tar file\n'.repeat(40))), /corrupt tar: bad header checksum at byte 0/);
  // historic writers summed signed bytes: a name byte >= 0x80 makes the two sums differ
  const signed = Buffer.from(archive);
  signed[0] = 0xe9;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (signed[i]! << 24) >> 24;
  signed.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  assert.equal((await readBuffer(signed)).size, 2);
});
