/**
 * A directory tree as a tar stream: the reverse of layer unpack.
 *
 * `commit` writes a container's upper layer, where OverlayFS recorded the
 * container's changes in its own form, and turns that form back into the
 * one image layers use:
 *   - a 0/0 character device `dir/name` (OverlayFS hiding a lower file)
 *     becomes the whiteout `dir/.wh.name`;
 *   - a directory with `trusted.overlay.opaque=y` (lower contents hidden;
 *     `user.overlay.opaque` from a rootless mount with `userxattr`)
 *     becomes the directory plus `dir/.wh..wh..opq`;
 *   - the other `trusted.overlay.*` (or `user.overlay.*`) attributes (origin, impure, nlink, ...)
 *     are OverlayFS's bookkeeping, not the container's data: never written;
 *   - the empty files and directories runts-init made as mount points (the
 *     bind-mounted /etc/hosts of an image without one) are left out.
 * `export` writes a merged view as it is, with no conversion.
 *
 * Everything else is kept: owners, modes, mtimes, symlinks, devices, fifos,
 * extended attributes, and hard links (an inode met again becomes a link to
 * the first name). Each directory is read in sorted order, so the same tree
 * always gives the same bytes, and with them the same diff id.
 *
 * The book: docs/06-overlayfs.md, "Commit: an upper layer becomes a layer".
 */
import { createReadStream, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RuntsError } from '../errors.ts';
import { lgetxattr, llistxattr } from '../sys/libc.ts';
import { TarWriter, type TarHeader } from './tar.ts';
import { OPAQUE, overlayAttribute, WHITEOUT } from './unpack.ts';

/** The host's SELinux label of a file: the host running the image assigns its own. */
const HOST_LABEL = 'security.selinux';

export interface TreeEntry {
  header: TarHeader;
  /** the file whose bytes are the entry's data (regular files only) */
  file?: string;
}

export interface WalkOptions {
  /** `root` is an OverlayFS upper layer: convert whiteouts and opaque dirs (see the header) */
  upper: boolean;
  /** where the container had something mounted, relative to `root`: see isMountPlaceholder */
  mountPoints?: ReadonlySet<string>;
}

/**
 * An empty file or directory where the container had something mounted is
 * the mount point runts-init made for it (the generated /etc/hosts, a `-v`
 * target the image lacked), not the container's data: commit leaves it out,
 * as Docker does. A mount point that held data before is not empty, and an
 * opaque directory hides the layers below: both are kept.
 */
function isMountPlaceholder(path: string, st: Stats, opaque: boolean): boolean {
  return st.isFile() ? st.size === 0 : st.isDirectory() && !opaque && readdirSync(path).length === 0;
}

/** glibc's major/minor of a dev_t. */
function deviceNumbers(rdev: number): { devmajor: number; devminor: number } {
  return {
    devmajor: ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & 0xfffff000),
    devminor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00),
  };
}

/**
 * The attributes a layer carries, and whether OverlayFS marked the directory
 * opaque. OverlayFS's own attributes are dropped, after a check that none of
 * them changes what the upper layer means.
 */
function xattrsOf(path: string, rel: string, upper: boolean): { xattrs?: Map<string, Buffer>; opaque: boolean } {
  const xattrs = new Map<string, Buffer>();
  let opaque = false;
  for (const name of llistxattr(path).sort()) {
    if (name === HOST_LABEL) continue;
    const what = overlayAttribute(name);
    if (what === undefined) {
      xattrs.set(name, lgetxattr(path, name));
      continue;
    }
    if (!upper) continue;
    if (what === 'opaque') opaque = lgetxattr(path, name).toString() === 'y';
    // snapshot.ts mounts with redirect_dir=off and metacopy=off: a renamed
    // directory is copied, a chmod copies the data. An upper layer made
    // otherwise no longer says alone what the container sees, and a layer
    // made from it would be wrong: refuse instead.
    if (what === 'redirect' || what === 'metacopy') {
      throw new RuntsError('ENOTSUP', `${rel}: OverlayFS ${what} (the kernel's ${what === 'redirect' ? 'redirect_dir' : 'metacopy'} feature) cannot be written as a layer`, { path });
    }
  }
  return { xattrs: xattrs.size ? xattrs : undefined, opaque };
}

/** A marker entry (a whiteout, an opaque dir): an empty file that stands for what `st` says in OverlayFS form. */
function marker(name: string, st: Stats): TreeEntry {
  return { header: { name, type: 'file', mode: 0, uid: st.uid, gid: st.gid, mtime: st.mtime, size: 0 } };
}

/**
 * The entries of the tree under `root` (not `root` itself), parents before
 * children, in sorted order. Sockets are skipped: a tar cannot hold one.
 * Another filesystem mounted below `root` is not entered (as `tar
 * --one-file-system`): only its mount point is written.
 */
export function* walkTree(root: string, opts: WalkOptions): Generator<TreeEntry> {
  const rootDev = lstatSync(root).dev;
  const seen = new Map<string, string>(); // dev:ino of a hard-linked file -> its first name
  function* walk(rel: string): Generator<TreeEntry> {
    for (const base of readdirSync(join(root, rel)).sort()) {
      const name = rel ? `${rel}/${base}` : base;
      const path = join(root, name);
      const st = lstatSync(path);
      const common = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      // Checked before hard links: OverlayFS shares one whiteout inode between many names.
      if (opts.upper && st.isCharacterDevice() && st.rdev === 0) {
        yield marker(rel ? `${rel}/${WHITEOUT}${base}` : `${WHITEOUT}${base}`, st);
        continue;
      }
      if (st.isSocket()) continue;
      const { xattrs, opaque } = xattrsOf(path, name, opts.upper);
      if (opts.mountPoints?.has(name) && isMountPlaceholder(path, st, opaque)) continue;
      if (st.isDirectory()) {
        yield { header: { ...common, type: 'directory', xattrs } };
        if (opaque) yield marker(`${name}/${OPAQUE}`, st);
        if (st.dev === rootDev) yield* walk(name);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? seen.get(key) : undefined;
      if (first !== undefined) {
        yield { header: { ...common, type: 'link', linkname: first } };
        continue;
      }
      if (st.nlink > 1) seen.set(key, name);
      if (st.isFile()) yield { header: { ...common, type: 'file', size: st.size, xattrs }, file: path };
      else if (st.isSymbolicLink()) yield { header: { ...common, type: 'symlink', linkname: readlinkSync(path), xattrs } };
      else if (st.isFIFO()) yield { header: { ...common, type: 'fifo', xattrs } };
      else if (st.isCharacterDevice()) yield { header: { ...common, type: 'char', ...deviceNumbers(st.rdev), xattrs } };
      else if (st.isBlockDevice()) yield { header: { ...common, type: 'block', ...deviceNumbers(st.rdev), xattrs } };
    }
  }
  yield* walk('');
}

/**
 * Exactly `size` bytes of `file`: what the header promised. A file that grew
 * meanwhile is cut, one that shrank is padded with zeros (as GNU tar does),
 * so the archive stays whole even when the tree is written while in use.
 */
function exactly(file: string, size: number): Readable {
  return Readable.from((async function* () {
    let sent = 0;
    for await (const chunk of createReadStream(file, { end: size - 1 })) {
      sent += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    if (sent < size) yield Buffer.alloc(size - sent);
  })());
}

/** Writes the tree under `root` to `out` as a tar, and ends `out`. */
export async function writeTree(root: string, out: NodeJS.WritableStream, opts: WalkOptions): Promise<void> {
  const tar = new TarWriter(out);
  for (const { header, file } of walkTree(root, opts)) await tar.add(header, file && header.size ? exactly(file, header.size) : undefined);
  await tar.finish();
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `fn`, then `cleanup`; `cleanup` also runs when a signal would end the
 * process meanwhile (a ^C during a long write), which then ends as the
 * signal says. For what must not outlive the work: a paused container, a mount.
 */
export async function withCleanup<T>(cleanup: () => unknown, fn: () => Promise<T>): Promise<T> {
  const onSignal = async (signal: NodeJS.Signals) => {
    for (const s of SIGNALS) process.off(s, onSignal);
    try { await cleanup(); } finally { process.kill(process.pid, signal); }
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    return await fn();
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
    await cleanup();
  }
}
