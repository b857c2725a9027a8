/*
 * image-fixtures.ts - images the image tests build themselves: layer tars
 * (the built-in busybox rootfs, layers with whiteouts and an opaque dir), OCI
 * image layouts (one image, or a multi-platform index) and `docker save`
 * archives. Used by image*.test.ts; not a test file itself.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import tar from 'tar-stream';

export const BUSYBOX = join(import.meta.dirname, '../../dist/images/busybox/rootfs');

export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export type TarEntry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'fifo'; body?: string; linkname?: string; mode?: number };
export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644), uid: 0, gid: 0, mtime: new Date(1e12) }, e.body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
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
  const entries: TarEntry[] = [];
  const manifest = [];
  for (const img of images) {
    const ids = img.layers.map(sha);
    img.layers.forEach((l, i) => {
      if (!entries.some((e) => e.name === `${ids[i]}/layer.tar`)) entries.push({ name: `${ids[i]}/layer.tar`, body: l.toString('latin1') });
    });
    const cfg = config(ids, img.extra);
    entries.push({ name: `${sha(cfg)}.json`, body: cfg.toString('latin1') });
    manifest.push({ Config: `${sha(cfg)}.json`, RepoTags: img.tags, Layers: ids.map((d) => `${d}/layer.tar`) });
  }
  entries.push({ name: 'manifest.json', body: JSON.stringify(manifest) });
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name }, Buffer.from(e.body!, 'latin1'));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  writeFileSync(file, Buffer.concat(chunks));
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
