/**
 * Import an image from disk: an OCI image layout (directory or tar) or a
 * `docker save` archive (`runts load`, and `runts import` of an archive; a
 * tar may be gzip or zstd compressed).
 *
 * Both carry the same three things a registry serves: a manifest, a config
 * (with the diff ids of the layers) and the layer tars. Every blob is copied
 * into the store with its digest verified while it streams; every layer is
 * unpacked once, into tmp/, checked against its diff id, then renamed into
 * layers/. The image is recorded last, so a failure anywhere leaves the
 * store as it was (bar unreferenced data that `prune` frees).
 *
 * The book: docs/06-overlayfs.md, "Images are tarballs of tarballs".
 */
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { faultPoint } from '../sys/fault.ts';
import { RuntsError, wrap } from '../errors.ts';
import { readTar, type TarEntry } from './tar-read.ts';
import { cleanEntryName, decompressorFor, unpackLayer } from './unpack.ts';
import { checkDigest, type ImageRecord, type ImageStore } from './store.ts';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface Manifest { schemaVersion: number; mediaType?: string; config: Descriptor; layers: Descriptor[] }
export interface Index { schemaVersion: number; mediaType?: string; manifests: Descriptor[] }

export interface ImageConfig {
  architecture?: string;
  os?: string;
  created?: string;
  config?: {
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Env?: string[] | null;
    WorkingDir?: string;
    User?: string;
    ExposedPorts?: Record<string, object>;
    Labels?: Record<string, string>;
  };
  rootfs: { type: string; diff_ids: string[] };
  author?: string;
  history?: HistoryEntry[];
}

export interface HistoryEntry { created: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }
export type RunConfig = NonNullable<ImageConfig['config']>;

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
};

/** This machine's platform, in OCI words. */
export function hostPlatform(): { os: string; architecture: string } {
  return { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch };
}

export function isIndex(m: { mediaType?: string; manifests?: unknown }): boolean {
  return m.mediaType === MEDIA.ociIndex || m.mediaType === MEDIA.dockerList || (m.mediaType === undefined && Array.isArray(m.manifests));
}

/** The entry of an index for this machine, or an error naming what the index offers. */
export function selectPlatform(index: Index, where: string): Descriptor {
  const want = hostPlatform();
  const found = index.manifests.find((d) => d.platform?.os === want.os && d.platform.architecture === want.architecture)
    ?? index.manifests.find((d) => !d.platform && !isIndex(d));
  if (found) return found;
  const offered = index.manifests.map((d) => d.platform ? `${d.platform.os}/${d.platform.architecture}` : 'unknown').join(', ');
  throw new RuntsError('ENOTFOUND', `${where}: no image for ${want.os}/${want.architecture} (the index has ${offered || 'nothing'})`);
}

/** Copies a file into the store as a blob; `expected` is verified while it streams. */
async function putFile(store: ImageStore, file: string, expected: string | undefined, what: string): Promise<string> {
  if (expected && store.hasBlob(expected)) return expected;
  if (!existsSync(file)) throw new RuntsError('EIMAGE', `${what}: missing from the archive`, { path: file });
  return (await store.putBlob(createReadStream(file), expected, what)).digest;
}

/**
 * A new image from its config and layer descriptors (blobs already stored):
 * writes the config and an OCI manifest as blobs and records the image.
 * `stored` collects the digests written, for the caller to undo on failure.
 */
export async function storeImage(store: ImageStore, config: ImageConfig, layers: Descriptor[], names: string[], stored: string[]): Promise<ImageRecord> {
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = store.putBlobBytes(configBytes);
  stored.push(configDigest);
  const manifestJson: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: configBytes.length },
    layers,
  };
  const manifest = store.putBlobBytes(Buffer.from(JSON.stringify(manifestJson)));
  stored.push(manifest);
  return commitImage(store, { manifest, manifestJson, config: configDigest, names });
}

/**
 * Unpacks the layer blob `digest` into layers/<diffId>/, unless it is there
 * already: in tmp/ first, then renamed, so a layer dir is whole or absent.
 */
export async function ensureLayer(store: ImageStore, digest: string, diffId: string): Promise<void> {
  if (store.hasLayer(diffId)) return;
  const tmp = store.tempDir('layer');
  try {
    mkdirSync(join(tmp, 'diff'), { mode: 0o755 });
    await unpackLayer(store.blobPath(digest), join(tmp, 'diff'), diffId);
    mkdirSync(join(store.layerDir(diffId), '..', '..'), { recursive: true });
    try {
      renameSync(tmp, join(store.layerDir(diffId), '..'));
    } catch (err) {
      // another import unpacked the same layer meanwhile: keep theirs
      if (!store.hasLayer(diffId)) throw err;
    }
    faultPoint('image.unpacked');
  } catch (err) {
    throw err instanceof RuntsError ? err : wrap(err, `unpack layer ${diffId}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Stores the layers named by `config` (blobs already in the store), unpacking
 * the ones no image has yet, then records the image.
 */
export async function commitImage(store: ImageStore, args: { manifest: string; manifestJson: Manifest; config: string; names: string[] }): Promise<ImageRecord> {
  const config = store.readJson<ImageConfig>(args.config);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== args.manifestJson.layers.length) {
    throw new RuntsError('EIMAGE', `image ${args.config}: the config names ${diffIds.length} layers, the manifest ${args.manifestJson.layers.length}`);
  }
  for (const [i, layer] of args.manifestJson.layers.entries()) await ensureLayer(store, layer.digest, checkDigest(diffIds[i]!, `rootfs.diff_ids[${i}]`));
  return store.addImage({
    id: args.config,
    names: args.names,
    manifest: args.manifest,
    layers: diffIds,
    blobs: [args.manifest, args.config, ...args.manifestJson.layers.map((l) => l.digest)],
    created: new Date().toISOString(),
  });
}

/**
 * Imports every image of an OCI layout or `docker save` archive (a directory
 * or a tar). `what` names the source in messages (default: its path).
 */
export async function importArchive(store: ImageStore, source: string, opts: { name?: string; what?: string } = {}): Promise<ImageRecord[]> {
  const what = opts.what ?? source;
  let st;
  try { st = statSync(source); } catch (err) { throw wrap(err, `import ${what}`); }
  if (st.isDirectory()) return importDirectory(store, source, opts, what);
  const tmp = store.tempDir('archive');
  try {
    await extractArchive(source, tmp, what);
    return await importDirectory(store, tmp, opts, what);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Which archive the top-level names of a directory or tar make: an OCI layout, `docker save`'s, or neither. */
export function archiveKind(has: (name: string) => boolean): 'oci' | 'docker' | undefined {
  if (has('index.json') && has('oci-layout')) return 'oci';
  if (has('manifest.json')) return 'docker';
  return undefined;
}

async function importDirectory(store: ImageStore, dir: string, opts: { name?: string }, what: string): Promise<ImageRecord[]> {
  const kind = archiveKind((name) => existsSync(join(dir, name)));
  if (kind === 'oci') return importOciLayout(store, dir, opts, what);
  if (kind === 'docker') return importDockerSave(store, dir, opts);
  throw new RuntsError('EIMAGE', `${what}: neither an OCI image layout (index.json, oci-layout) nor a docker save archive (manifest.json); a root filesystem becomes an image with \`runts import\``);
}

const readJsonFile = <T>(file: string, what: string): T => {
  try { return JSON.parse(readFileSync(file, 'utf8')) as T; } catch (err) { throw new RuntsError('EIMAGE', `${what}: unreadable or not JSON`, { path: file, cause: err }); }
};

const layoutBlob = (dir: string, digest: string) => join(dir, 'blobs', 'sha256', checkDigest(digest).slice(7));

async function importOciLayout(store: ImageStore, dir: string, opts: { name?: string }, what: string): Promise<ImageRecord[]> {
  const index = readJsonFile<Index>(join(dir, 'index.json'), 'index.json');
  const out: ImageRecord[] = [];
  for (const desc of index.manifests ?? []) {
    let manifestDesc = desc;
    if (isIndex(desc)) {
      await putFile(store, layoutBlob(dir, desc.digest), desc.digest, `index ${desc.digest}`);
      manifestDesc = selectPlatform(store.readJson<Index>(desc.digest), `index ${desc.digest}`);
    } else if (desc.platform && (desc.platform.os !== hostPlatform().os || desc.platform.architecture !== hostPlatform().architecture)) {
      if ((index.manifests ?? []).length > 1) continue; // another platform's entry of a multi-platform layout
    }
    const manifest = await putFile(store, layoutBlob(dir, manifestDesc.digest), manifestDesc.digest, `manifest ${manifestDesc.digest}`);
    const manifestJson = store.readJson<Manifest>(manifest);
    const config = await putFile(store, layoutBlob(dir, manifestJson.config.digest), manifestJson.config.digest, `config ${manifestJson.config.digest}`);
    for (const layer of manifestJson.layers) await putFile(store, layoutBlob(dir, layer.digest), layer.digest, `layer ${layer.digest}`);
    const ref = desc.annotations?.['io.containerd.image.name'] ?? desc.annotations?.['org.opencontainers.image.ref.name'];
    const names = opts.name ? [opts.name] : ref ? [ref] : [];
    out.push(await commitImage(store, { manifest, manifestJson, config, names }));
  }
  if (!out.length) throw new RuntsError('ENOTFOUND', `${what}: no image for ${hostPlatform().os}/${hostPlatform().architecture}`);
  return out;
}

interface DockerSaveEntry { Config: string; RepoTags?: string[] | null; Layers: string[] }

async function importDockerSave(store: ImageStore, dir: string, opts: { name?: string }): Promise<ImageRecord[]> {
  const entries = readJsonFile<DockerSaveEntry[]>(join(dir, 'manifest.json'), 'manifest.json');
  const out: ImageRecord[] = [];
  for (const e of entries) {
    const inside = (p: string) => join(dir, ...cleanEntryName(p));
    const config = await putFile(store, inside(e.Config), undefined, `config ${e.Config}`);
    const layers = [];
    for (const l of e.Layers) {
      const file = inside(l);
      const digest = await putFile(store, file, undefined, `layer ${l}`);
      layers.push({ mediaType: MEDIA.ociLayer, digest, size: statSync(file).size });
    }
    // docker save has no manifest blob: write the OCI manifest a registry would serve
    const manifestJson: Manifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: config, size: statSync(store.blobPath(config)).size },
      layers,
    };
    const manifest = store.putBlobBytes(Buffer.from(JSON.stringify(manifestJson)));
    const names = opts.name ? [opts.name] : e.RepoTags ?? [];
    out.push(await commitImage(store, { manifest, manifestJson, config, names }));
  }
  return out;
}

/**
 * Gives each entry of a tar file (plain, gzip or zstd) to `fn`, in order. A
 * failure, of the tar, the decompression or `fn`, is one error naming `what`.
 */
export async function readTarFile(file: string, fn: (entry: TarEntry) => Promise<void> | void, what = file): Promise<void> {
  try {
    await pipeline(createReadStream(file), decompressorFor(file), async (tar: AsyncIterable<Buffer>) => {
      for await (const entry of readTar(tar)) await fn(entry);
    });
  } catch (err) {
    if (err instanceof RuntsError) throw wrap(err, what);
    throw new RuntsError('EIMAGE', `${what}: not a readable tar archive: ${(err as Error).message}`, { cause: err });
  }
}

/** Unpacks an archive's regular files and directories only; names are cleaned. */
function extractArchive(file: string, dest: string, what: string): Promise<void> {
  return readTarFile(file, async (entry) => {
    const parts = cleanEntryName(entry.name);
    if (!parts.length) return;
    const path = join(dest, ...parts);
    if (entry.type === 'directory') mkdirSync(path, { recursive: true });
    if (entry.type !== 'file') return; // the body, if any, is skipped
    mkdirSync(join(path, '..'), { recursive: true });
    if (lstatSync(join(path, '..')).isSymbolicLink()) throw new RuntsError('EIMAGE', `entry ${entry.name} through a symlink`);
    await pipeline(entry.body, createWriteStream(path)); // a later entry replaces an earlier one
  }, what);
}
