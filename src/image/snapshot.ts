/**
 * A container's root filesystem: an OverlayFS mount of its image's layers
 * (read-only, shared with every other container of the image) under a
 * writable upper layer of its own.
 *
 *   containers/<name>/upper    what the container wrote (its diff)
 *   containers/<name>/work     OverlayFS's scratch space, same filesystem as upper
 *   containers/<name>/merged   the mount point: the bundle's root.path
 *
 * The overlay is mounted on the host, by runts, before the container is
 * created (as containerd's snapshotter and podman's storage do), so the
 * bundle is an ordinary OCI bundle the core runs like any other, and the
 * mount outlives a foreground run for `commit` or a restart. It is unmounted
 * when the container stops or is removed.
 *
 * Rootless (docs/design/rootless.md), runts runs in the front end's user
 * namespace and mounts there (kernel >= 5.11): with `userxattr`, OverlayFS
 * keeps its marks in `user.overlay.*` attributes, which a user namespace
 * may set, instead of `trusted.overlay.*`; `redirect_dir=nofollow` is
 * then required (and means the same for us: no redirects made). The mount
 * lives in the namespace of runts and of the container it starts, never
 * on the host, so there is nothing to unmount on the host afterwards.
 *
 * The book: docs/06-overlayfs.md, "One mount per container".
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import { MNT_DETACH, mount, umount } from '../sys/libc.ts';
import { isMounted } from '../sys/mounts.ts';
import { isRootless } from '../rootless/detect.ts';
import { MS } from '../rootfs/mount-options.ts';
import type { ImageRecord, ImageStore } from './store.ts';

const PAGE = 4096;

export function snapshotPaths(store: ImageStore, name: string) {
  const dir = store.containerDir(name);
  return { dir, upper: join(dir, 'upper'), work: join(dir, 'work'), merged: join(dir, 'merged') };
}

/** The overlay options: lowerdir lists the top layer first; `rootless`: mounted in a user namespace (see the header). */
export function overlayOptions(store: ImageStore, image: ImageRecord, upper: string, work: string, rootless = false): string {
  const lower = [...image.layers].reverse().map((l) => store.layerDir(l));
  for (const l of [...lower, upper, work]) {
    if (/[:,\\]/.test(l)) throw new RuntsError('EINVAL', `${l}: OverlayFS options cannot hold ':', ',' or '\\' (move the image store)`);
  }
  // Off whatever the kernel's defaults: with either on, the upper layer alone
  // no longer says what the container sees, and `commit` could not make a layer of it.
  const data = `lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work},${rootless ? 'userxattr,redirect_dir=nofollow' : 'redirect_dir=off'},metacopy=off`;
  if (data.length >= PAGE) throw new RuntsError('ENOTSUP', `image ${image.id}: ${image.layers.length} layers make OverlayFS options longer than a page`);
  return data;
}

/** Mounts the container's overlay; its directories must not exist yet. */
export function mountSnapshot(store: ImageStore, name: string, image: ImageRecord): string {
  const p = snapshotPaths(store, name);
  for (const d of [p.upper, p.work, p.merged]) mkdirSync(d, { recursive: true, mode: 0o755 });
  if (!image.layers.length) throw new RuntsError('EIMAGE', `image ${image.id} has no layers`);
  mount('overlay', p.merged, 'overlay', MS.NODEV, overlayOptions(store, image, p.upper, p.work, isRootless()));
  return p.merged;
}

/** Unmounts the overlay (if mounted); with `remove`, deletes the upper layer too. */
export function unmountSnapshot(store: ImageStore, name: string, opts: { remove?: boolean } = {}): void {
  const p = snapshotPaths(store, name);
  if (isMounted(p.merged)) umount(p.merged, MNT_DETACH);
  if (opts.remove && existsSync(p.dir)) rmSync(p.dir, { recursive: true, force: true });
}
