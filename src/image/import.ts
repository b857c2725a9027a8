/**
 * `runts import SOURCE [REPOSITORY[:TAG]]` and `runts load`: images from
 * files, directories and stdin.
 *
 * `import` has Docker's meaning: a root filesystem - a flat tar such as
 * `runts export` or `docker export` writes, or a directory - becomes an
 * image of one layer. It also keeps runts's older one: an OCI layout or a
 * `docker save` archive is imported whole, as `load` does. The content
 * decides, not the name: a directory by its top-level files, a tar by its
 * top-level entries (one read through it, which also proves it whole before
 * anything is stored). Tars may be gzip or zstd compressed; `-` is stdin,
 * copied first into the store's tmp/ (a stream cannot be read twice).
 *
 * The root filesystem's layer streams through two hashes at once, as a
 * commit's does: the diff id (sha256 of the plain tar, which the config
 * lists) and, after gzip, the blob digest (which the manifest lists). A
 * directory is written as a tar by diff.ts's walk. The config has this
 * machine's platform, the time, `--change` instructions applied to an
 * empty run config, and a history entry with `--message`. commitImage then
 * unpacks the layer as a pull would; should that fail (a hostile entry),
 * the blobs stored for it go too.
 *
 * The book: docs/06-overlayfs.md, "Images are tarballs of tarballs".
 */
import { createReadStream, createWriteStream, existsSync, rmSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RuntsError, wrap } from '../errors.ts';
import { archiveKind, hostPlatform, importArchive, MEDIA, readTarFile, storeImage, type ImageConfig, type RunConfig } from './archive.ts';
import { applyChanges } from './commit.ts';
import { writeTree } from './diff.ts';
import { parseReference } from './registry.ts';
import { cleanEntryName, decompressorFor } from './unpack.ts';
import type { ImageRecord, ImageStore } from './store.ts';

export interface ImportOptions {
  /** REPOSITORY[:TAG]; none makes an image known by its id only (an archive keeps the names it gives) */
  ref?: string;
  /** Dockerfile instructions for the config: `CMD ["sh"]`, `ENV A=1`, ... (a root filesystem only) */
  changes?: string[];
  /** the comment of the history entry (a root filesystem only) */
  message?: string;
}


/**
 * Runs `fn` on a path holding `source`: the path itself when it is a file or
 * a directory, else (`-` for stdin, a pipe, a device) a copy in the store's
 * tmp/, removed after. `fn` is told how messages should name the source.
 */
async function withSource<T>(store: ImageStore, source: string, fn: (path: string, what: string) => Promise<T>): Promise<T> {
  const what = source === '-' ? 'stdin' : source;
  if (source !== '-') {
    let st;
    try { st = statSync(source); } catch (err) { throw wrap(err, `import ${source}`); }
    if (st.isFile() || st.isDirectory()) return fn(source, what);
  } else if (process.stdin.isTTY) {
    throw new RuntsError('EINVAL', 'reading stdin (-): it is a terminal: pipe a tar into it, or name a file');
  }
  const work = store.tempDir('import');
  try {
    const copy = join(work, 'source');
    try {
      await pipeline(source === '-' ? process.stdin : createReadStream(source), createWriteStream(copy, { mode: 0o600 }));
    } catch (err) {
      throw wrap(err, `read ${what}`);
    }
    return await fn(copy, what);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `runts load`: the images of an OCI layout or `docker save` archive. */
export function loadImages(store: ImageStore, source: string, opts: { name?: string } = {}): Promise<ImageRecord[]> {
  return withSource(store, source, (path, what) => importArchive(store, path, { ...opts, what }));
}

/** Is the tar `file` an image archive? Reads it through: a corrupt, truncated or empty tar is an error. */
async function isArchiveTar(file: string, what: string): Promise<boolean> {
  const top = new Set<string>();
  let entries = 0;
  await readTarFile(file, (entry) => {
    entries++;
    const parts = cleanEntryName(entry.name);
    if (parts.length === 1) top.add(parts[0]!);
  }, what);
  if (!entries) throw new RuntsError('EIMAGE', `${what}: no entries: not a tar archive, or an empty one`);
  return archiveKind((name) => top.has(name)) !== undefined;
}

/** `runts import`: an image of a root filesystem, or the images of an archive (see the header). */
export async function importImages(store: ImageStore, source: string, opts: ImportOptions = {}): Promise<ImageRecord[]> {
  // Everything that can be wrong with the arguments fails before the source is read.
  if (opts.ref?.includes('@')) throw new RuntsError('EINVAL', `invalid image reference: ${opts.ref} (an import is named by a tag, not a digest)`);
  const names = opts.ref ? [parseReference(opts.ref).name] : [];
  const runConfig = applyChanges({}, opts.changes ?? []);
  return withSource(store, source, async (path, what) => {
    const dir = statSync(path).isDirectory();
    const archive = dir ? archiveKind((name) => existsSync(join(path, name))) !== undefined : await isArchiveTar(path, what);
    if (archive) {
      if (opts.changes?.length || opts.message !== undefined) {
        throw new RuntsError('EINVAL', `import ${what}: an image archive, whose images keep their own configs: --change and --message are for a root filesystem`);
      }
      return importArchive(store, path, { name: names[0], what });
    }
    if (dir) checkNotAbove(store, path);
    const write = dir
      ? (out: NodeJS.WritableStream) => writeTree(path, out, { upper: false })
      : (out: NodeJS.WritableStream) => pipeline(createReadStream(path), decompressorFor(path), out);
    return [await importRootfs(store, write, { what, names, runConfig, message: opts.message })];
  });
}

/** A directory that holds the store would take in the very blob being written. */
function checkNotAbove(store: ImageStore, dir: string): void {
  const rel = relative(resolve(dir), store.root);
  if (!rel.startsWith('..') && !isAbsolute(rel)) throw new RuntsError('EINVAL', `import ${dir}: the image store ${store.root} is inside it`);
}

async function importRootfs(store: ImageStore, write: (out: NodeJS.WritableStream) => Promise<void>,
  opts: { what: string; names: string[]; runConfig: RunConfig; message?: string }): Promise<ImageRecord> {
  const stored: string[] = [];
  try {
    const layer = await store.putLayer(write, 'layer');
    stored.push(layer.digest);
    const created = new Date().toISOString();
    const config: ImageConfig = {
      ...hostPlatform(), created, config: opts.runConfig, rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created, comment: opts.message ?? `imported from ${opts.what}` }],
    };
    return await storeImage(store, config, [{ mediaType: MEDIA.ociLayerGzip, digest: layer.digest, size: layer.size }], opts.names, stored);
  } catch (err) {
    store.forgetBlobs(stored);
    throw wrap(err, `import ${opts.what}`);
  }
}
