/**
 * Layer unpack: a layer tar (gzip, zstd or plain) becomes a directory in
 * OverlayFS form, ready to be one `lowerdir` of a container's root.
 *
 * The two conversions chapter 6 does by hand:
 *   - `dir/.wh.name` (a whiteout: "name was deleted in this layer") becomes a
 *     0/0 character device `dir/name`, which is how OverlayFS hides a lower file;
 *   - `dir/.wh..wh..opq` (an opaque dir: "ignore what lower layers had here")
 *     becomes the xattr `trusted.overlay.opaque=y` on `dir`.
 *
 * A layer is hostile input. Entry names are cleaned and refused when they
 * climb out (`../`), every parent directory is checked not to be a symlink
 * (an entry `a/x` after a symlink `a -> /etc` would write to the host), and
 * hard links must point inside the layer. The uncompressed stream is hashed
 * as it is read: the result must equal the diff id the image config names.
 *
 * The book: docs/06-overlayfs.md, "From layer tar to lowerdir".
 */
import { chmodSync, closeSync, createReadStream, createWriteStream, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readSync, rmSync, symlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import tar from 'tar-stream';
import { RuntsError } from '../errors.ts';
import { lsetxattr, mknod } from '../sys/libc.ts';
import { Hasher } from './store.ts';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const S_IFCHR = 0o020000, S_IFBLK = 0o060000, S_IFIFO = 0o010000;

export type Compression = 'gzip' | 'zstd' | 'none';

/** By magic number, as containerd does: media types lie more often than bytes. */
export function compressionOf(file: string): Compression {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(4);
  try { readSync(fd, head, 0, 4, 0); } finally { closeSync(fd); }
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/**
 * A tar entry name as path components inside the layer, or an error when it
 * leaves the layer. `./a//b/` is `['a', 'b']`; `/etc/x` is `['etc', 'x']`
 * (tar strips the leading slash too); `a/../../x` is refused.
 */
export function cleanEntryName(name: string): string[] {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (!parts.length) throw new RuntsError('EIMAGE', `layer entry ${JSON.stringify(name)} escapes the layer root`);
      parts.pop();
    } else parts.push(part);
  }
  return parts;
}

function lstatOrNull(path: string): Stats | null {
  try { return lstatSync(path); } catch { return null; }
}

/** Creates missing parents; refuses a parent that is a symlink or not a directory. */
function ensureParents(root: string, parts: string[], entry: string) {
  let path = root;
  for (const part of parts) {
    path = join(path, part);
    const st = lstatOrNull(path);
    if (!st) mkdirSync(path, { mode: 0o755 });
    else if (st.isSymbolicLink()) throw new RuntsError('EIMAGE', `layer entry ${JSON.stringify(entry)} goes through the symlink ${parts.join('/')}: refused`);
    else if (!st.isDirectory()) throw new RuntsError('EIMAGE', `layer entry ${JSON.stringify(entry)}: a parent is not a directory`);
  }
}

export interface UnpackResult { diffId: string; entries: number }

/**
 * Unpacks the layer blob `file` into `dest` (an empty directory). `diffId`,
 * when given, is checked against the digest of the uncompressed tar.
 */
export async function unpackLayer(file: string, dest: string, diffId?: string): Promise<UnpackResult> {
  const compression = compressionOf(file);
  const stages: (Readable | NodeJS.ReadWriteStream)[] = [createReadStream(file)];
  if (compression === 'gzip') stages.push(createGunzip());
  if (compression === 'zstd') stages.push(createZstdDecompress());
  const hasher = new Hasher();
  const extract = tar.extract();
  const feeding = pipeline([...stages, hasher, extract] as unknown as [Readable, NodeJS.WritableStream]).catch((err: Error) => {
    throw err instanceof RuntsError ? err : new RuntsError('EIMAGE', `layer ${file}: corrupt or truncated (${compression}): ${err.message}`, { cause: err });
  });
  const dirTimes: { path: string; mtime: Date }[] = [];
  let entries = 0;
  try {
    for await (const entry of extract) {
      entries++;
      await writeEntry(dest, entry as unknown as Entry, dirTimes);
    }
    await feeding;
  } catch (err) {
    extract.destroy();
    await feeding.catch(() => {});
    if (err instanceof RuntsError) throw err;
    throw new RuntsError('EIMAGE', `layer ${file}: corrupt or truncated: ${(err as Error).message}`, { cause: err });
  }
  // Directory times last: writing their children changed them.
  for (const d of dirTimes.reverse()) lutimesSync(d.path, d.mtime, d.mtime);
  const got = hasher.digest();
  if (diffId && got !== diffId) throw new RuntsError('EIMAGE', `layer ${file}: diff id mismatch: the config says ${diffId}, the layer is ${got}`);
  return { diffId: got, entries };
}

type Entry = PassThrough & { header: tar.Header & { pax?: Record<string, string> } };

async function drain(entry: Readable) {
  for await (const _ of entry) { /* skip the body */ }
}

async function writeEntry(root: string, entry: Entry, dirTimes: { path: string; mtime: Date }[]) {
  const h = entry.header;
  const parts = cleanEntryName(h.name);
  if (!parts.length) { await drain(entry); return; } // the layer root itself
  const base = parts[parts.length - 1]!;
  const parents = parts.slice(0, -1);
  ensureParents(root, parents, h.name);
  const dir = join(root, ...parents);
  if (base === OPAQUE) {
    await drain(entry);
    lsetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
    return;
  }
  if (base.startsWith(WHITEOUT)) {
    await drain(entry);
    const hidden = join(dir, base.slice(WHITEOUT.length));
    rmSync(hidden, { recursive: true, force: true });
    mknod(hidden, S_IFCHR, 0, 0);
    return;
  }
  const path = join(dir, base);
  const existing = lstatOrNull(path);
  // A later entry replaces an earlier one, except a directory over a directory.
  if (existing && !(existing.isDirectory() && h.type === 'directory')) rmSync(path, { recursive: true, force: true });
  const mode = (h.mode ?? 0o644) & 0o7777;
  switch (h.type) {
    case 'directory':
      if (!existing) mkdirSync(path, { mode: 0o700 });
      dirTimes.push({ path, mtime: h.mtime ?? new Date(0) });
      break;
    case 'file':
    case 'contiguous-file':
      await pipeline(entry, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
      break;
    case 'symlink':
      symlinkSync(h.linkname ?? '', path);
      break;
    case 'link': {
      const target = cleanEntryName(h.linkname ?? '');
      if (!target.length) throw new RuntsError('EIMAGE', `layer entry ${JSON.stringify(h.name)}: hard link to the layer root`);
      ensureParents(root, target.slice(0, -1), h.linkname ?? '');
      linkSync(join(root, ...target), path);
      break;
    }
    case 'character-device':
      mknod(path, S_IFCHR | mode, h.devmajor ?? 0, h.devminor ?? 0);
      break;
    case 'block-device':
      mknod(path, S_IFBLK | mode, h.devmajor ?? 0, h.devminor ?? 0);
      break;
    case 'fifo':
      mknod(path, S_IFIFO | mode, 0, 0);
      break;
    default:
      await drain(entry);
      return; // pax globals and vendor types carry no file
  }
  if (h.type !== 'file' && h.type !== 'contiguous-file') await drain(entry);
  lchownSync(path, h.uid ?? 0, h.gid ?? 0);
  // chmod after chown: chown clears the set-id bits
  if (h.type !== 'symlink' && h.type !== 'link') chmodSync(path, mode);
  for (const [key, value] of Object.entries(h.pax ?? {}) as [string, string][]) {
    // tar-stream decodes PAX values as UTF-8: a binary value (a file
    // capability) arrives mangled, and a mangled one is worse than none.
    if (key.startsWith('SCHILY.xattr.') && !value.includes('\uFFFD')) lsetxattr(path, key.slice('SCHILY.xattr.'.length), Buffer.from(value, 'utf8'));
  }
  if (h.type !== 'directory' && h.type !== 'link') lutimesSync(path, h.mtime ?? new Date(0), h.mtime ?? new Date(0));
}
