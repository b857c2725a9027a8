/**
 * `runts commit CONTAINER [IMAGE[:TAG]]`, as `docker commit`: what a
 * container changed becomes an image. Its upper layer (containers/<name>/
 * upper) is written as one more layer tar (diff.ts turns OverlayFS's
 * whiteouts and opaque dirs back into `.wh.` entries), on top of its
 * image's layers, which the new image shares rather than copies. The empty
 * mount points runts-init made in it (for the bind-mounted /etc/hosts,
 * /etc/hostname, /etc/resolv.conf, a `-v` target), found from the mounts of
 * the container's bundle config.json, are left out, as Docker leaves them.
 *
 * The layer streams through two hashes at once: the diff id (sha256 of the
 * plain tar, what the config lists) and, after gzip, the blob digest (what
 * the manifest lists). The new layer is then unpacked from that blob, as a
 * pull of the image would do, so the store holds exactly what others get.
 * A running container is paused while its upper layer is read (a file half
 * written is not committed), and resumed afterwards whatever happens.
 *
 * Everything that can be wrong with the arguments is checked before the
 * first write; a failure later frees the blobs it stored.
 *
 * The book: docs/06-overlayfs.md, "Commit: an upper layer becomes a layer".
 */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { isRuntsError, RuntsError } from '../errors.ts';
import { containerStatus, info } from '../frontend/run.ts';
import type { Spec } from '../oci/types.ts';
import type { RuntimeContext } from '../runtime/create.ts';
import { pause, resume } from '../runtime/pause.ts';
import { MEDIA, storeImage, type ImageConfig, type Manifest, type RunConfig } from './archive.ts';
import { withCleanup, writeTree } from './diff.ts';
import { parseReference } from './registry.ts';
import { snapshotPaths } from './snapshot.ts';
import type { ImageRecord, ImageStore } from './store.ts';
import { faultPoint } from '../sys/fault.ts';

export interface CommitOptions {
  /** IMAGE[:TAG]; none makes an image known by its id only */
  ref?: string;
  message?: string;
  author?: string;
  /** Dockerfile instructions applied to the config: `CMD ["sh"]`, `ENV A=1`, ... */
  changes?: string[];
  /** pause a running container while its upper layer is read (the default) */
  pause?: boolean;
}


/** Docker's media types for the parent's layers, in OCI words (the new manifest is an OCI one). */
function ociLayerType(mediaType: string): string {
  if (mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip') return MEDIA.ociLayerGzip;
  if (mediaType === 'application/vnd.docker.image.rootfs.diff.tar') return MEDIA.ociLayer;
  return mediaType;
}

/** A JSON array of strings, or the shell form that `sh -c` runs. */
function command(value: string, change: string): string[] {
  if (!value.startsWith('[')) return ['/bin/sh', '-c', value];
  let parsed: unknown;
  try { parsed = JSON.parse(value); } catch { parsed = undefined; }
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new RuntsError('EINVAL', `--change ${change}: not a JSON array of strings`);
  return parsed as string[];
}

/** `KEY=value` (or `KEY value`, Docker's old form). */
function keyValue(value: string, change: string): [string, string] {
  const m = /^([^=\s]+)(?:=|\s+)(.*)$/s.exec(value);
  if (!m) throw new RuntsError('EINVAL', `--change ${change}: expected KEY=value`);
  return [m[1]!, m[2]!];
}

/** Applies `docker commit --change` instructions to a copy of the image's run config. */
export function applyChanges(config: RunConfig, changes: string[]): RunConfig {
  const out: RunConfig = { ...config };
  for (const change of changes) {
    const m = /^\s*(\w+)\s+(.*?)\s*$/s.exec(change);
    const [instruction, value] = m ? [m[1]!.toUpperCase(), m[2]!] : ['', ''];
    switch (instruction) {
      case 'CMD': out.Cmd = command(value, change); break;
      case 'ENTRYPOINT': out.Entrypoint = command(value, change); break;
      case 'WORKDIR': out.WorkingDir = value; break;
      case 'USER': out.User = value; break;
      case 'ENV': {
        const [key, v] = keyValue(value, change);
        out.Env = [...(out.Env ?? []).filter((e) => e.split('=')[0] !== key), `${key}=${v}`];
        break;
      }
      case 'LABEL': {
        const [key, v] = keyValue(value, change);
        out.Labels = { ...out.Labels, [key]: v.replace(/^"(.*)"$/s, '$1') };
        break;
      }
      case 'EXPOSE':
        for (const port of value.split(/\s+/)) {
          if (!/^\d+(\/(tcp|udp|sctp))?$/.test(port)) throw new RuntsError('EINVAL', `--change ${change}: ${port} is not PORT[/tcp|udp|sctp]`);
          out.ExposedPorts = { ...out.ExposedPorts, [port.includes('/') ? port : `${port}/tcp`]: {} };
        }
        break;
      default:
        throw new RuntsError('EINVAL', `--change ${change}: expected CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER or WORKDIR`);
    }
  }
  return out;
}

/** The container's bundle config.json: its command for the history entry, its mounts; none if unreadable. */
function bundleSpec(store: ImageStore, name: string): Partial<Spec> {
  try {
    return JSON.parse(readFileSync(join(store.containerDir(name), 'config.json'), 'utf8')) as Partial<Spec>;
  } catch {
    return {};
  }
}

/** Where the container had something mounted, relative to its root: `etc/hosts`, a `-v` target. */
function mountPoints(spec: Partial<Spec>): Set<string> {
  return new Set((spec.mounts ?? []).map((m) => posix.normalize(m.destination).replace(/^\/+|\/+$/g, '')).filter(Boolean));
}

export async function commitContainer(ctx: RuntimeContext, store: ImageStore, name: string, opts: CommitOptions = {}): Promise<ImageRecord> {
  const container = info(store, name);
  if (opts.ref?.includes('@')) throw new RuntsError('EINVAL', `invalid image reference: ${opts.ref} (a commit is named by a tag, not a digest)`);
  const names = opts.ref ? [parseReference(opts.ref).name] : [];
  const image = store.images().find((i) => i.id === container.image);
  if (!image) throw new RuntsError('ENOTFOUND', `container ${name}: its image ${container.image} was removed (rmi --force), so it has no config to build on`);
  const parent = store.readJson<ImageConfig>(image.id);
  const parentManifest = store.readJson<Manifest>(image.manifest);
  const runConfig = applyChanges(parent.config ?? {}, opts.changes ?? []);
  const spec = bundleSpec(store, name);

  const paused = opts.pause !== false && containerStatus(ctx, name).status === 'running';
  if (paused) {
    // rootless without a delegated cgroup there is no freezer: say how to commit it anyway
    await pause(ctx, name).catch((err: unknown) => {
      if (!isRuntsError(err, 'ENOTSUP')) throw err;
      throw new RuntsError(err.code, `${err.message}; \`runts commit --pause=false ${name}\` reads its changes while it runs`, { cause: err });
    });
  }
  const layer = await withCleanup(
    // ESTATE: it exited meanwhile, and there is nothing to resume
    () => paused && resume(ctx, name).catch((err: unknown) => { if (!isRuntsError(err, 'ESTATE')) throw err; }),
    () => store.putLayer((out) => writeTree(snapshotPaths(store, name).upper, out, { upper: true, mountPoints: mountPoints(spec) }), `layer of container ${name}`),
  );

  const stored = [layer.digest];
  faultPoint('commit.stored');
  try {
    const created = new Date().toISOString();
    const config: ImageConfig = {
      ...parent,
      created,
      author: opts.author ?? parent.author,
      config: runConfig,
      rootfs: { type: 'layers', diff_ids: [...image.layers, layer.diffId] },
      history: [...(parent.history ?? []), { created, created_by: spec.process?.args?.join(' '), author: opts.author, comment: opts.message }],
    };
    return await storeImage(store, config, [
      ...parentManifest.layers.map((l) => ({ mediaType: ociLayerType(l.mediaType), digest: l.digest, size: l.size })),
      { mediaType: MEDIA.ociLayerGzip, digest: layer.digest, size: layer.size },
    ], names, stored);
  } catch (err) {
    store.forgetBlobs(stored);
    throw err;
  }
}
