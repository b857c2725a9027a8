/**
 * `runts export CONTAINER`, as `docker export`: the container's whole root
 * filesystem, as the container sees it (its image's layers with its own
 * changes on top), as one plain tar. No layers, no whiteouts, no config:
 * a file tree, for `tar -x` or `runts import`-like tools.
 *
 * The tree is read from the host side, where containers/<name>/merged is
 * the overlay alone: the container's /proc, /sys and volumes are mounted in
 * its own mount namespace and do not show there (and were one to propagate
 * back, the walk does not enter another filesystem). A stopped container's
 * overlay is unmounted: a read-only overlay is then mounted under the
 * store's tmp/, its upper layer as the top lower layer (lowerdir=upper:
 * layers..., no upperdir), and unmounted after. The kernel merges it as it
 * did for the container, whiteouts and opaque dirs included; a merge of the
 * layers of our own would be a second implementation of those rules, one
 * that could disagree with what the container saw.
 *
 * The book: docs/06-overlayfs.md, "Commit: an upper layer becomes a layer".
 */
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { RuntsError, wrap } from '../errors.ts';
import { info } from '../frontend/run.ts';
import { MNT_DETACH, mount, umount } from '../sys/libc.ts';
import { MS } from '../rootfs/mount-options.ts';
import { withCleanup, writeTree } from './diff.ts';
import { isMounted } from '../sys/mounts.ts';
import { snapshotPaths } from './snapshot.ts';
import type { ImageStore } from './store.ts';


/** Writes the container's root filesystem to `out` as a tar, and ends `out`. */
export async function exportContainer(store: ImageStore, name: string, out: NodeJS.WritableStream): Promise<void> {
  const container = info(store, name);
  const p = snapshotPaths(store, name);
  try {
    if (isMounted(p.merged)) {
      await writeTree(p.merged, out, { upper: false });
      return;
    }
    const tmp = store.tempDir('export');
    const root = join(tmp, 'root');
    const lower = [p.upper, ...[...container.layers].reverse().map((l) => store.layerDir(l))];
    await withCleanup(() => {
      if (isMounted(root)) umount(root, MNT_DETACH);
      rmSync(tmp, { recursive: true, force: true });
    }, async () => {
      mkdirSync(root);
      mount('overlay', root, 'overlay', MS.RDONLY, `lowerdir=${lower.join(':')}`);
      await writeTree(root, out, { upper: false });
    });
  } catch (err) {
    throw wrap(err, `export ${name}`);
  }
}

/** Exports to `file`: written beside it and renamed, so a failure leaves no half-written tar. */
export async function exportToFile(store: ImageStore, name: string, file: string): Promise<void> {
  info(store, name);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.export.tmp`);
  try {
    await withCleanup(() => rmSync(tmp, { force: true }), async () => {
      await exportContainer(store, name, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      renameSync(tmp, file);
    });
  } catch (err) {
    throw err instanceof RuntsError ? err : wrap(err, `export ${name} to ${file}`);
  }
}
