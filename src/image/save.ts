/**
 * `runts save`: an image from the store as an OCI image layout, a directory
 * or a tar of one - what `runts load` (and skopeo, podman, containerd)
 * read back. The blobs are copied as stored, so the manifest digest, and
 * with it the image's identity, survives the round trip.
 *
 * The book: docs/06-overlayfs.md, "Images are tarballs of tarballs".
 */
import { copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntsError, wrap } from '../errors.ts';
import { MEDIA } from './archive.ts';
import type { ImageStore } from './store.ts';
import { TarWriter } from './tar.ts';

export async function saveImage(store: ImageStore, ref: string, output: string, opts: { format?: 'dir' | 'tar' } = {}): Promise<void> {
  const image = store.get(ref);
  if (existsSync(output)) throw new RuntsError('EEXIST', `${output} already exists`, { path: output });
  const manifestSize = statSync(store.blobPath(image.manifest)).size;
  const annotations: Record<string, string> = {};
  if (image.names[0]) {
    annotations['io.containerd.image.name'] = image.names[0];
    annotations['org.opencontainers.image.ref.name'] = image.names[0].slice(image.names[0].lastIndexOf(':') + 1);
  }
  const index = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [{ mediaType: MEDIA.ociManifest, digest: image.manifest, size: manifestSize, annotations }] };
  const files: [string, string | Buffer][] = [
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', Buffer.from(JSON.stringify(index))],
    ...[...new Set(image.blobs)].map((d) => [`blobs/sha256/${d.slice(7)}`, store.blobPath(d)] as [string, string]),
  ];
  // Written beside the target and renamed: a failure leaves nothing behind.
  const tmp = join(dirname(output), `.${Date.now()}-${process.pid}.save.tmp`);
  try {
    if ((opts.format ?? (output.endsWith('.tar') ? 'tar' : 'dir')) === 'dir') {
      for (const [name, src] of files) {
        mkdirSync(dirname(join(tmp, name)), { recursive: true });
        if (typeof src === 'string') copyFileSync(src, join(tmp, name));
        else writeFileSync(join(tmp, name), src);
      }
    } else {
      const out = new TarWriter(createWriteStream(tmp, { flags: 'wx' }));
      const mtime = new Date();
      for (const [name, src] of files) {
        const header = { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime } as const;
        if (typeof src === 'string') await out.add({ ...header, size: statSync(src).size }, createReadStream(src));
        else await out.add(header, src);
      }
      await out.finish();
    }
    renameSync(tmp, output);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err instanceof RuntsError ? err : wrap(err, `save ${ref} to ${output}`);
  }
}
