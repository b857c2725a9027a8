/*
 * image-fixtures.ts - images the image tests build themselves: layer tars
 * (the built-in busybox rootfs, layers with whiteouts and an opaque dir), OCI
 * image layouts (one image, or a multi-platform index) and `docker save`
 * archives, and a file-by-file summary of a tree to compare unpacks with.
 * Used by image*.test.ts and the unit tests of images and tar;
 * not a test file itself.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { TarWriter, type TarHeader } from '../../src/image/tar.ts';

export const BUSYBOX = join(import.meta.dirname, '../../dist/images/busybox/rootfs');

export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A tar archive in memory, written by TarWriter: entries and their bodies (files only). */
export async function tarBuffer(entries: [TarHeader, Buffer?][]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const writer = new TarWriter(new Writable({ write(chunk: Buffer, _encoding, done) { chunks.push(chunk); done(); } }));
  for (const [header, body] of entries) await writer.add(header, body);
  await writer.finish();
  return Buffer.concat(chunks);
}

export type TarEntry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo'; body?: string; linkname?: string; mode?: number };
/** A layer tar of `entries`, owned by `owner` (root unless given), all of mtime 2001-09-09. */
export function tarOf(entries: TarEntry[], owner = { uid: 0, gid: 0 }): Promise<Buffer> {
  return tarBuffer(entries.map((e) => {
    const type = e.type ?? 'file';
    const header: TarHeader = { name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), ...owner, mtime: new Date(1e12) };
    return [header, type === 'file' ? Buffer.from(e.body ?? '') : undefined];
  }));
}

/** Where two tree() summaries differ, as `path: runts X / umoci Y`; the network's files are left out (bind-mounted over /etc, their mount points are the container's, not the image's). */
export function treeDiff(ours: Map<string, string>, theirs: Map<string, string>): string[] {
  const networkFiles = new Set(['etc/hosts', 'etc/hostname', 'etc/resolv.conf']);
  return [...new Set([...ours.keys(), ...theirs.keys()])].filter((k) => !networkFiles.has(k) && ours.get(k) !== theirs.get(k))
    .map((k) => `${k}: runts ${ours.get(k)} / umoci ${theirs.get(k)}`);
}

/** Every file under `root`: type, mode, owner, size, content hash, link target, device, file mtime. */
export function tree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = join(root, rel, name);
      const st = lstatSync(path);
      const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? `link->${readlinkSync(path)}` : st.isFile() ? `file ${st.size} ${createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16)} ${Math.floor(st.mtimeMs / 1000)}` : st.isFIFO() ? 'fifo' : `dev ${st.rdev}`;
      out.set(join(rel, name), `${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
      if (st.isDirectory()) walk(join(rel, name));
    }
  };
  walk('');
  return out;
}

export const busyboxLayer = () => execFileSync('tar', ['-C', BUSYBOX, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
/** Adds /opq/old and /etc/motd; the next layer hides both. */
export const middleLayer = () => tarOf([{ name: 'opq', type: 'directory' }, { name: 'opq/old', body: 'old' }, { name: 'etc/motd', body: 'motd' }]);
export const whiteoutLayer = () => tarOf([
  { name: 'etc/.wh.motd' },
  { name: 'opq', type: 'directory' }, { name: 'opq/.wh..wh..opq' }, { name: 'opq/new', body: 'new' },
  { name: 'srv', type: 'directory' }, { name: 'srv/fifo', type: 'fifo', mode: 0o600 }, { name: 'srv/link', type: 'symlink', linkname: '../opq/new' },
]);

export interface Layer { tar: Buffer; compress?: 'gzip' | 'zstd' }
export const config = (diffIds: string[], extra: object = {}) => Buffer.from(JSON.stringify({
  architecture: process.arch === 'x64' ? 'amd64' : process.arch, os: 'linux', created: '2026-01-01T00:00:00Z',
  config: { Env: ['FROM_IMAGE=yes'], Cmd: ['sh', '-c', 'echo default-cmd'], WorkingDir: '/', ...extra },
  rootfs: { type: 'layers', diff_ids: diffIds.map((d) => `sha256:${d}`) },
}));

/** An OCI image layout directory with one image named `ref`. */
export function ociLayout(dir: string, ref: string, layers: Layer[]): { dir: string; blob: (d: string) => string; layerDigests: string[] } {
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => { const d = sha(b); writeFileSync(join(dir, 'blobs/sha256', d), b); return { digest: `sha256:${d}`, size: b.length }; };
  const blobs = layers.map((l) => l.compress === 'gzip' ? gzipSync(l.tar) : l.compress === 'zstd' ? zstdCompressSync(l.tar) : l.tar);
  const layerDescs = blobs.map((b, i) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar${layers[i]!.compress ? `+${layers[i]!.compress}` : ''}`, ...put(b) }));
  const cfg = put(config(layers.map((l) => sha(l.tar))));
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg }, layers: layerDescs })));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } }] }));
  return { dir, blob: (d) => join(dir, 'blobs/sha256', d.slice(7)), layerDigests: layerDescs.map((l) => l.digest) };
}

/** A `docker save` tar (the classic layout: <id>/layer.tar, <config>.json, manifest.json). */
export async function dockerSave(file: string, images: { tags: string[]; layers: Buffer[]; extra?: object }[]) {
  const files = new Map<string, Buffer>();
  const manifest = [];
  for (const img of images) {
    const ids = img.layers.map(sha);
    img.layers.forEach((l, i) => files.set(`${ids[i]}/layer.tar`, l));
    const cfg = config(ids, img.extra);
    files.set(`${sha(cfg)}.json`, cfg);
    manifest.push({ Config: `${sha(cfg)}.json`, RepoTags: img.tags, Layers: ids.map((d) => `${d}/layer.tar`) });
  }
  files.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
  const mtime = new Date();
  writeFileSync(file, await tarBuffer([...files].map(([name, body]) => [{ name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime }, body])));
}


/**
 * An OCI layout whose one entry, `ref`, is an image index with an image per
 * architecture (the config's `architecture` and the index's platform agree).
 */
export function ociIndexLayout(dir: string, ref: string, images: { architecture: string; layers: Buffer[] }[]): { dir: string } {
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => { const d = sha(b); writeFileSync(join(dir, 'blobs/sha256', d), b); return { digest: `sha256:${d}`, size: b.length }; };
  const manifests = images.map((img) => {
    const layers = img.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(gzipSync(l)) }));
    const cfg = JSON.parse(config(img.layers.map(sha)).toString()) as { architecture: string };
    cfg.architecture = img.architecture;
    const c = put(Buffer.from(JSON.stringify(cfg)));
    const m = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c }, layers })));
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, platform: { os: 'linux', architecture: img.architecture } };
  });
  const index = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': ref } }] }));
  return { dir };
}

export const hostArch = process.arch === 'x64' ? 'amd64' : process.arch;
