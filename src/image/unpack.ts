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
 * Rootless (docs/design/rootless.md, "Whiteouts"), unpack runs in the front
 * end's user namespace, as its root: `trusted.*` needs CAP_SYS_ADMIN on the
 * host, so the opaque mark is `user.overlay.opaque=y`, which OverlayFS reads
 * when mounted with `userxattr`. The 0/0 device stays: since Linux 5.8 the
 * kernel lets anyone make that one node (it is a whiteout, not a device),
 * and every kernel since 3.18 reads it. Other device nodes cannot be made
 * there (they are the host's to give): they are left out. Owners are
 * container ids, which the namespace maps onto the user's subordinate ids.
 *
 * A layer is hostile input. Entry names are cleaned and refused when they
 * climb out (`../`), every parent directory is checked not to be a symlink
 * (an entry `a/x` after a symlink `a -> /etc` would write to the host), and
 * hard links must point inside the layer. The uncompressed stream is hashed
 * as it is read: the result must equal the diff id the image config names.
 * Owners, modes, mtimes and extended attributes are restored, the xattrs
 * byte for byte (a file capability is a binary struct) and after the chown
 * (which would clear a capability); a layer's own `trusted.overlay.*` and
 * `user.overlay.*` xattrs are dropped, as OverlayFS would obey them.
 *
 * The book: docs/06-overlayfs.md, "From layer tar to lowerdir".
 */
import { chmodSync, closeSync, createReadStream, createWriteStream, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readSync, rmSync, symlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough, type Transform } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { reasonOf, RuntsError, wrap } from '../errors.ts';
import { lsetxattr, mknod } from '../sys/libc.ts';
import { isRootless } from '../rootless/detect.ts';
import { Hasher } from './store.ts';
import { readTar, type TarEntry } from './tar-read.ts';

/** The image spec's markers in a layer, and the prefix of OverlayFS's own xattrs (see the header). */
export const WHITEOUT = '.wh.';
export const OPAQUE = '.wh..wh..opq';
export const OVERLAY_XATTR = 'trusted.overlay.';
/** The same, for an OverlayFS mounted with `userxattr` in a user namespace. */
export const USER_OVERLAY_XATTR = 'user.overlay.';
/** OverlayFS's attribute name in either namespace, without its prefix; undefined for any other attribute. */
export function overlayAttribute(name: string): string | undefined {
  for (const prefix of [OVERLAY_XATTR, USER_OVERLAY_XATTR]) if (name.startsWith(prefix)) return name.slice(prefix.length);
  return undefined;
}
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

/** A stream that decompresses what `file` holds, whichever compression it is. */
export function decompressorFor(file: string): Transform {
  return { gzip: createGunzip, zstd: createZstdDecompress, none: () => new PassThrough() }[compressionOf(file)]();
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

/** A failure to write one entry names the entry and the reason, not the stream: the tar itself was fine. */
function entryError(h: { name: string; type?: string; linkname?: string }, err: unknown): RuntsError {
  if (err instanceof RuntsError) return err;
  const e = err as NodeJS.ErrnoException;
  if (h.type === 'link' && e.code === 'ENOENT') return new RuntsError('EIMAGE', `layer entry ${JSON.stringify(h.name)}: hard link to ${JSON.stringify(h.linkname)}, which is not in the layer before it`, { cause: err });
  return new RuntsError('EIMAGE', `layer entry ${JSON.stringify(h.name)}: ${reasonOf(err)}`, { errno: e.errno, cause: err });
}

/**
 * Unpacks the layer blob `file` into `dest` (an empty directory). `diffId`,
 * when given, is checked against the digest of the uncompressed tar.
 */
export async function unpackLayer(file: string, dest: string, diffId?: string): Promise<UnpackResult> {
  const compression = compressionOf(file);
  const decompress = decompressorFor(file);
  const hasher = new Hasher();
  const dirTimes: { path: string; mtime: Date }[] = [];
  const rootless = isRootless();
  let entries = 0;
  try {
    await pipeline(createReadStream(file), decompress, hasher, async (tar: AsyncIterable<Buffer>) => {
      for await (const entry of readTar(tar)) {
        entries++;
        try {
          await writeEntry(dest, entry, dirTimes, rootless);
        } catch (err) {
          throw entryError(entry, err);
        }
      }
    });
  } catch (err) {
    if (err instanceof RuntsError) throw wrap(err, `layer ${file}`);
    throw new RuntsError('EIMAGE', `layer ${file}: corrupt or truncated (${compression}): ${(err as Error).message}`, { cause: err });
  }
  // Directory times last: writing their children changed them.
  for (const d of dirTimes.reverse()) lutimesSync(d.path, d.mtime, d.mtime);
  const got = hasher.digest();
  if (diffId && got !== diffId) throw new RuntsError('EIMAGE', `layer ${file}: diff id mismatch: the config says ${diffId}, the layer is ${got}`);
  return { diffId: got, entries };
}

/** chown; rootless, an id the user namespace does not map is named with the range it has. */
function chownEntry(path: string, h: TarEntry, rootless: boolean): void {
  try {
    lchownSync(path, h.uid, h.gid);
  } catch (err) {
    if (!rootless || (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    throw new RuntsError('EIMAGE', `owned by ${h.uid}:${h.gid}, an id the rootless user namespace does not map (it maps 0 to you and 1 on to your first /etc/subuid and /etc/subgid ranges): ask for a larger range (usermod --add-subuids, --add-subgids)`);
  }
}

async function writeEntry(root: string, h: TarEntry, dirTimes: { path: string; mtime: Date }[], rootless: boolean) {
  const parts = cleanEntryName(h.name);
  if (!parts.length) return; // the layer root itself
  const base = parts[parts.length - 1]!;
  const parents = parts.slice(0, -1);
  ensureParents(root, parents, h.name);
  const dir = join(root, ...parents);
  if (base === OPAQUE) {
    lsetxattr(dir, `${rootless ? USER_OVERLAY_XATTR : OVERLAY_XATTR}opaque`, Buffer.from('y'));
    return;
  }
  if (base.startsWith(WHITEOUT)) {
    const name = base.slice(WHITEOUT.length);
    if (name === '' || name === '.' || name === '..') throw new RuntsError('EIMAGE', `layer entry ${JSON.stringify(h.name)}: a whiteout of no file`);
    const hidden = join(dir, name);
    rmSync(hidden, { recursive: true, force: true });
    mknod(hidden, S_IFCHR, 0, 0);
    return;
  }
  if (h.type === 'unknown') return; // a vendor type (GNU sparse, volume label): no file we can make
  if (rootless && (h.type === 'char' || h.type === 'block')) return; // no device node in a user namespace (see the header)
  const path = join(dir, base);
  const existing = lstatOrNull(path);
  // A later entry replaces an earlier one, except a directory over a directory.
  if (existing && !(existing.isDirectory() && h.type === 'directory')) rmSync(path, { recursive: true, force: true });
  const mode = h.mode & 0o7777;
  switch (h.type) {
    case 'directory':
      if (!existing) mkdirSync(path, { mode: 0o700 });
      dirTimes.push({ path, mtime: h.mtime });
      break;
    case 'file':
      await pipeline(h.body, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
      break;
    case 'symlink':
      symlinkSync(h.linkname, path);
      break;
    case 'link': {
      const target = cleanEntryName(h.linkname);
      if (!target.length) throw new RuntsError('EIMAGE', `layer entry ${JSON.stringify(h.name)}: hard link to the layer root`);
      ensureParents(root, target.slice(0, -1), h.linkname);
      linkSync(join(root, ...target), path);
      break;
    }
    case 'char':
      mknod(path, S_IFCHR | mode, h.devmajor ?? 0, h.devminor ?? 0);
      break;
    case 'block':
      mknod(path, S_IFBLK | mode, h.devmajor ?? 0, h.devminor ?? 0);
      break;
    case 'fifo':
      mknod(path, S_IFIFO | mode, 0, 0);
      break;
  }
  chownEntry(path, h, rootless);
  // chmod after chown: chown clears the set-id bits
  if (h.type !== 'symlink' && h.type !== 'link') chmodSync(path, mode);
  // xattrs last, byte for byte: chown also clears a file capability (security.capability).
  // A layer's own trusted.overlay.* would steer OverlayFS (opaque, redirect,
  // origin): only the whiteout conversion above may set those.
  for (const [name, value] of h.xattrs) if (overlayAttribute(name) === undefined) lsetxattr(path, name, value);
  if (h.type !== 'directory' && h.type !== 'link') lutimesSync(path, h.mtime, h.mtime);
}
