/**
 * The image store: content-addressed blobs, layers unpacked once and shared,
 * and the list of images, under one directory (default /var/lib/runts,
 * `--store DIR` or RUNTS_STORE to move it):
 *
 *   blobs/sha256/<hex>        manifests, configs, layer tars: verified on the way in
 *   layers/<diffid hex>/diff  a layer unpacked in OverlayFS form, shared by every image
 *   images.json               the images: names, manifest, config, layers (written atomically)
 *   containers/<name>/        a front-end container: its upper layer, overlay dirs, bundle
 *   tmp/<kind>-<pid>-<start>-<random>
 *                             work in progress, named after the process doing it
 *
 * Reference counts are derived, never stored: a layer or blob is in use while
 * an image in images.json names it, and an image while a container uses it.
 * So `rmi` and `prune` free exactly what nothing uses, and a crash cannot
 * leave a count that lies. Every change is made in tmp/ and renamed into
 * place, so bad input (a digest mismatch, a corrupt layer, a full disk)
 * changes nothing. A process killed mid-work (SIGKILL, a crash) leaves its
 * tmp/ entry behind: the entry's name says whose it is (pid and start time,
 * so a reused pid is not mistaken for it), and removeStaleWork() - run by
 * every pull and prune, under the store's lock - removes the entries of
 * processes that are gone (unmounting what one left mounted there, such as
 * export's overlay) and never those of one still running. The lock is
 * sys/lock.ts's flock on `lock`, which the kernel drops when its holder dies.
 *
 * The book: docs/06-overlayfs.md, "Where images live".
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { RuntsError, wrap } from '../errors.ts';
import { processStartTime } from '../runtime/process.ts';
import { withFileLock } from '../sys/lock.ts';
import { MNT_DETACH, umount } from '../sys/libc.ts';
import { mountsUnder } from '../sys/mounts.ts';

export { DEFAULT_STORE } from './location.ts';
import { storeRoot } from './location.ts';

export interface ImageRecord {
  /** the config's digest, as Docker and podman name an image */
  id: string;
  /** references such as `busybox:latest` or `localhost:5000/app:1` */
  names: string[];
  manifest: string;
  /** diff ids (uncompressed digests), base layer first */
  layers: string[];
  /** every blob this image keeps: manifest, config, layer tars */
  blobs: string[];
  created: string;
}

interface ImageList { images: ImageRecord[] }

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function checkDigest(digest: string, what = 'digest'): string {
  if (!DIGEST.test(digest)) throw new RuntsError('EIMAGE', `${what}: not a sha256 digest: ${digest}`);
  return digest;
}

const hexOf = (digest: string) => checkDigest(digest).slice(7);

/** A name as the store keeps it: `busybox` means `busybox:latest`. */
export function normalizeName(ref: string): string {
  if (ref.includes('@')) return ref;
  const lastSlash = ref.lastIndexOf('/');
  return ref.slice(lastSlash + 1).includes(':') ? ref : `${ref}:latest`;
}

/** A pass-through stream that hashes what flows through it, and tells `onData` each chunk's size. */
export class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  private readonly onData: ((bytes: number) => void) | undefined;
  constructor(onData?: (bytes: number) => void) {
    super();
    this.onData = onData;
  }
  override _transform(chunk: Buffer, _enc: string, done: () => void) {
    this.hash.update(chunk);
    this.size += chunk.length;
    this.onData?.(chunk.length);
    this.push(chunk);
    done();
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

export class ImageStore {
  readonly root: string;

  constructor(root: string = storeRoot()) {
    this.root = resolve(root);
  }

  blobPath(digest: string): string { return join(this.root, 'blobs/sha256', hexOf(digest)); }
  hasBlob(digest: string): boolean { return existsSync(this.blobPath(digest)); }
  layerDir(diffId: string): string { return join(this.root, 'layers', hexOf(diffId), 'diff'); }
  hasLayer(diffId: string): boolean { return existsSync(this.layerDir(diffId)); }
  containerDir(name: string): string { return join(this.root, 'containers', name); }

  /** A fresh directory under tmp/ for work that is renamed into place when done; its name says whose it is. */
  tempDir(kind: string): string {
    const dir = join(this.root, 'tmp', `${kind}-${process.pid}-${processStartTime(process.pid) ?? 0}-${randomBytes(6).toString('hex')}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw this.storeError(err, `make ${dir}`);
    }
    return dir;
  }

  /** Removes the tmp/ entries of processes that are gone (see the header). */
  removeStaleWork(): void {
    this.locked(() => this.sweepTmp());
  }

  private sweepTmp(): void {
    const dir = join(this.root, 'tmp');
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) if (!ownerRunning(name)) removeStale(join(dir, name));
  }

  /** A failed write, as one message: what, in which store, why (a full disk is named as such). */
  private storeError(err: unknown, what: string): RuntsError {
    if (err instanceof RuntsError) return err;
    const full = (err as NodeJS.ErrnoException).code === 'ENOSPC';
    return wrap(err, `${what}${full ? `: image store ${this.root} is full` : ''}`);
  }

  /**
   * Stores a stream as a blob. The digest is computed while the bytes are
   * written (`onData` hears each chunk's size); when `expected` is given and
   * differs, nothing is kept, and nothing is either when the stream or the
   * disk fails.
   */
  async putBlob(source: Readable, expected?: string, what = 'blob', onData?: (bytes: number) => void): Promise<{ digest: string; size: number }> {
    if (expected) checkDigest(expected, what);
    const work = this.tempDir('blob');
    const tmp = join(work, 'data');
    const hasher = new Hasher(onData);
    try {
      mkdirSync(join(this.root, 'blobs/sha256'), { recursive: true });
      await pipeline(source, hasher, createWriteStream(tmp, { mode: 0o644 }));
      const digest = hasher.digest();
      if (expected && digest !== expected) {
        throw new RuntsError('EIMAGE', `${what}: digest mismatch: expected ${expected}, got ${digest}`);
      }
      renameSync(tmp, this.blobPath(digest));
      return { digest, size: hasher.size };
    } catch (err) {
      throw this.storeError(err, `store ${what}`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /**
   * Stores the tar that `write` writes (and ends) as a gzip layer blob: the
   * diff id (of the tar) and the digest (of the blob) are computed as it
   * streams. A failure of `write` keeps nothing.
   */
  async putLayer(write: (out: NodeJS.WritableStream) => Promise<void>, what: string): Promise<{ diffId: string; digest: string; size: number }> {
    const diff = new Hasher();
    const gzip = createGzip();
    const storing = this.putBlob(gzip, undefined, what);
    const compressing = pipeline(diff, gzip);
    const writing = write(diff).catch((err: Error) => {
      diff.destroy(err); // the gzip stream and putBlob then fail too, and keep nothing
      throw err;
    });
    try {
      const [{ digest, size }] = await Promise.all([storing, compressing, writing]);
      return { diffId: diff.digest(), digest, size };
    } catch (err) {
      throw this.storeError(err, `store the ${what}`);
    }
  }

  /** Removes blobs that no image names: those a failed import or commit stored. */
  forgetBlobs(digests: string[]): void {
    const named = new Set(this.images().flatMap((i) => i.blobs));
    for (const d of digests) if (!named.has(d)) rmSync(this.blobPath(d), { force: true });
  }

  /** Small blobs (manifests, configs) from memory. */
  putBlobBytes(data: Buffer, expected?: string, what = 'blob'): string {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (expected && digest !== checkDigest(expected, what)) {
      throw new RuntsError('EIMAGE', `${what}: digest mismatch: expected ${expected}, got ${digest}`);
    }
    if (this.hasBlob(digest)) return digest;
    const work = this.tempDir('blob');
    try {
      mkdirSync(join(this.root, 'blobs/sha256'), { recursive: true });
      writeFileSync(join(work, 'data'), data);
      renameSync(join(work, 'data'), this.blobPath(digest));
      return digest;
    } catch (err) {
      throw this.storeError(err, `store ${what}`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  readBlob(digest: string): Buffer {
    try {
      return readFileSync(this.blobPath(digest));
    } catch (err) {
      throw wrap(err, `read blob ${digest}`);
    }
  }

  readJson<T>(digest: string): T {
    try {
      return JSON.parse(this.readBlob(digest).toString('utf8')) as T;
    } catch (err) {
      throw new RuntsError('EIMAGE', `blob ${digest}: not valid JSON`, { cause: err });
    }
  }

  images(): ImageRecord[] {
    const file = join(this.root, 'images.json');
    if (!existsSync(file)) return [];
    return (JSON.parse(readFileSync(file, 'utf8')) as ImageList).images;
  }

  private saveImages(images: ImageRecord[]) {
    mkdirSync(this.root, { recursive: true });
    const tmp = join(this.root, `.images.json.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify({ images }, null, 2) + '\n');
    renameSync(tmp, join(this.root, 'images.json'));
  }

  /** By name (`busybox`, `busybox:latest`), full id, or an id prefix of 12+ hex digits. */
  find(ref: string): ImageRecord | undefined {
    const all = this.images();
    const name = normalizeName(ref);
    const byName = all.find((i) => i.names.includes(name));
    if (byName) return byName;
    const hex = ref.replace(/^sha256:/, '');
    if (/^[0-9a-f]{12,64}$/.test(hex)) {
      const matches = all.filter((i) => i.id.slice(7).startsWith(hex));
      if (matches.length > 1) throw new RuntsError('EINVAL', `image id prefix ${ref} is ambiguous`);
      return matches[0];
    }
    return undefined;
  }

  get(ref: string): ImageRecord {
    const image = this.find(ref);
    if (!image) throw new RuntsError('ENOTFOUND', `no such image: ${ref}`);
    return image;
  }

  /** Adds an image, or names on an existing one; a name moves from any other image, as a tag does. */
  addImage(record: ImageRecord): ImageRecord {
    return this.locked(() => {
      const names = record.names.map(normalizeName);
      const images = this.images().map((i) => ({ ...i, names: i.names.filter((n) => !names.includes(n)) }));
      const same = images.find((i) => i.id === record.id);
      let result: ImageRecord;
      if (same) {
        same.names = [...new Set([...same.names, ...names])];
        same.blobs = [...new Set([...same.blobs, ...record.blobs])];
        result = same;
      } else {
        result = { ...record, names };
        images.push(result);
      }
      this.saveImages(images);
      return result;
    });
  }

  /** The front-end containers' records (containers/<name>/container.json). */
  *containerRecords(): Generator<{ name: string; image: string; layers?: string[] }> {
    const dir = join(this.root, 'containers');
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      try {
        yield { ...(JSON.parse(readFileSync(join(dir, name, 'container.json'), 'utf8')) as { image: string; layers?: string[] }), name };
      } catch { /* a container being created or removed */ }
    }
  }

  /** The names of the front-end containers made from each image id. */
  containersUsing(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const c of this.containerRecords()) out.set(c.image, [...(out.get(c.image) ?? []), c.name]);
    return out;
  }

  /**
   * Removes a name, or the image itself when `ref` is an id or its last name;
   * then frees the layers and blobs no image uses any more.
   */
  removeImage(ref: string, opts: { force?: boolean } = {}): { untagged: string[]; deleted: string[] } {
    return this.locked(() => {
      const image = this.get(ref);
      const name = normalizeName(ref);
      const images = this.images();
      const entry = images.find((i) => i.id === image.id)!;
      const byName = entry.names.includes(name);
      if (byName && entry.names.length > 1) {
        entry.names = entry.names.filter((n) => n !== name);
        this.saveImages(images);
        return { untagged: [name], deleted: [] };
      }
      const users = this.containersUsing().get(image.id) ?? [];
      if (users.length && !opts.force) {
        throw new RuntsError('ESTATE', `image ${ref} is used by container ${users.join(', ')}: remove it first`);
      }
      this.saveImages(images.filter((i) => i.id !== image.id));
      return { untagged: entry.names, deleted: [image.id, ...this.collect()] };
    });
  }

  /** Frees layers and blobs that no image names; returns what was freed. */
  prune(): string[] {
    return this.locked(() => this.collect());
  }

  private collect(): string[] {
    const images = this.images();
    // A container keeps its layers even when `rmi --force` took its image away.
    const containerLayers = [...this.containerRecords()].flatMap((c) => c.layers ?? []);
    const layers = new Set([...images.flatMap((i) => i.layers), ...containerLayers].map(hexOf));
    const blobs = new Set(images.flatMap((i) => i.blobs.map(hexOf)));
    const freed: string[] = [];
    const sweep = (dir: string, keep: Set<string>, kind: string) => {
      if (!existsSync(dir)) return;
      for (const hex of readdirSync(dir)) {
        if (keep.has(hex)) continue;
        rmSync(join(dir, hex), { recursive: true, force: true });
        freed.push(`${kind} sha256:${hex}`);
      }
    };
    sweep(join(this.root, 'layers'), layers, 'layer');
    sweep(join(this.root, 'blobs/sha256'), blobs, 'blob');
    this.sweepTmp();
    return freed;
  }

  /** Holds the store's lock (sys/lock.ts: not re-entrant) while `fn` changes images.json or frees data. */
  locked<T>(fn: () => T): T {
    mkdirSync(this.root, { recursive: true });
    return withFileLock(join(this.root, 'lock'), fn, { what: 'image store' });
  }

  /** Bytes on disk of an image's unpacked layers. */
  layerSize(diffId: string): number {
    return duSync(this.layerDir(diffId));
  }
}

/** Is the process that made this tmp/ entry (`<kind>-<pid>-<start>-<random>`) still running? */
function ownerRunning(name: string): boolean {
  const m = /^[a-z]+-(\d+)-(\d+)-[0-9a-f]+$/.exec(name);
  return m !== null && processStartTime(Number(m[1])) === m[2];
}

/**
 * Removes a dead process's tmp/ entry. A mount it left there (the read-only
 * overlay of an export killed midway) is detached first, and nothing is
 * deleted while anything is still mounted below the entry: the removal never
 * reaches into another filesystem.
 */
function removeStale(entry: string): void {
  try {
    for (let mounts = mountsUnder(entry); mounts.length; mounts = mountsUnder(entry)) umount(mounts[0]!, MNT_DETACH);
    rmSync(entry, { recursive: true, force: true });
  } catch (err) {
    throw wrap(err, `remove stale work ${entry}`);
  }
}

function duSync(dir: string): number {
  let total = 0;
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true, recursive: true }); } catch { return 0; }
  for (const e of entries) {
    if (!e.isFile()) continue;
    try { total += statSync(join(e.parentPath, e.name)).size; } catch { /* raced */ }
  }
  return total;
}
