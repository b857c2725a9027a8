/**
 * `runts pull`: an image from a registry, over the OCI Distribution API v2.
 *
 *   GET /v2/<name>/manifests/<tag|digest>   a manifest, or an index to choose from
 *   GET /v2/<name>/blobs/<digest>           the config and the layers
 *
 * A 401 carries a `WWW-Authenticate` challenge: `Basic` (send the user's
 * credentials) or `Bearer realm=...,service=...,scope=...` (ask the realm for
 * a token, with the credentials if any, then retry with it) - the flow
 * Docker Hub and most registries use. Every blob is verified against its
 * digest while it streams into the store, a manifest named by digest too,
 * and layers download in parallel. Blobs already stored are not fetched
 * again, so an interrupted pull resumes at the first missing blob.
 *
 * The book: docs/06-overlayfs.md, "Pulling an image by hand".
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { RuntsError } from '../errors.ts';
import { commitImage, isIndex, MEDIA, selectPlatform, type Index, type Manifest } from './archive.ts';
import { checkDigest, normalizeName, type ImageRecord, type ImageStore } from './store.ts';

export interface Reference {
  registry: string;
  repository: string;
  /** a tag or a digest */
  reference: string;
  /** the name the store records */
  name: string;
}

const DOCKER_HUB = 'registry-1.docker.io';

/** `busybox`, `localhost:5000/app:1`, `quay.io/x/y@sha256:...` */
export function parseReference(ref: string): Reference {
  const at = ref.indexOf('@');
  let rest = at >= 0 ? ref.slice(0, at) : ref;
  let reference = at >= 0 ? checkDigest(ref.slice(at + 1), `image ${ref}`) : 'latest';
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    if (at < 0) reference = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const first = rest.split('/')[0]!;
  const hasRegistry = rest.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const registry = hasRegistry ? first : DOCKER_HUB;
  let repository = hasRegistry ? rest.slice(first.length + 1) : rest;
  if (!hasRegistry && !repository.includes('/')) repository = `library/${repository}`;
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+|__)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(repository) || !/^[\w][\w.-]{0,127}$|^sha256:/.test(reference)) {
    throw new RuntsError('EINVAL', `invalid image reference: ${ref}`);
  }
  return { registry, repository, reference, name: at >= 0 ? ref : normalizeName(ref) };
}

export interface PullOptions {
  /** plain HTTP (a local registry) */
  insecure?: boolean;
  username?: string;
  password?: string;
  /** how many layers download at once */
  parallel?: number;
  progress?: (line: string) => void;
}

const MANIFEST_TYPES = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(', ');

export class RegistryClient {
  private auth: string | undefined;
  private readonly base: string;
  private readonly ref: Reference;
  private readonly opts: PullOptions;

  constructor(ref: Reference, opts: PullOptions = {}) {
    this.ref = ref;
    this.opts = opts;
    this.base = `${opts.insecure ? 'http' : 'https'}://${ref.registry}/v2/${ref.repository}`;
  }

  private async get(path: string, accept?: string, retried = false): Promise<Response> {
    const url = `${this.base}${path}`;
    const headers: Record<string, string> = {};
    if (accept) headers.accept = accept;
    if (this.auth) headers.authorization = this.auth;
    let res: Response;
    try {
      res = await fetch(url, { headers, redirect: 'follow' });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new RuntsError('EIMAGE', `cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
    }
    if (res.status === 401 && !retried) {
      await res.body?.cancel();
      await this.authenticate(res.headers.get('www-authenticate') ?? '', url);
      return this.get(path, accept, true);
    }
    if (!res.ok) {
      const body = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
      const what = `GET ${url}: ${res.status} ${res.statusText}${body ? ` (${body.trim()})` : ''}`;
      if (res.status === 404) throw new RuntsError('ENOTFOUND', `${what}: no such image or blob`);
      if (res.status === 401 || res.status === 403) throw new RuntsError('EPERM', `${what}: access denied`);
      throw new RuntsError('EIMAGE', what);
    }
    return res;
  }

  private basic(): string | undefined {
    const { username, password } = this.opts;
    return username === undefined ? undefined : `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
  }

  private async authenticate(challenge: string, url: string) {
    const scheme = challenge.split(' ')[0]!.toLowerCase();
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    if (scheme === 'basic') {
      this.auth = this.basic();
      if (!this.auth) throw new RuntsError('EPERM', `${url}: the registry asks for credentials (--username, --password)`);
      return;
    }
    if (scheme !== 'bearer' || !params.realm) throw new RuntsError('EPERM', `${url}: unsupported authentication challenge: ${challenge || '(none)'}`);
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull`);
    const basic = this.basic();
    let res: Response;
    try {
      res = await fetch(tokenUrl, { headers: basic ? { authorization: basic } : {} });
    } catch (err) {
      throw new RuntsError('EIMAGE', `cannot reach the token service ${tokenUrl.origin}: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok) throw new RuntsError('EPERM', `token service ${tokenUrl.origin}: ${res.status} ${res.statusText}`);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RuntsError('EPERM', `token service ${tokenUrl.origin}: no token in its answer`);
    this.auth = `Bearer ${token}`;
  }

  /** A manifest or index, its bytes checked against `reference` when that is a digest. */
  async manifest(reference: string): Promise<{ bytes: Buffer; digest: string; json: Manifest & Index }> {
    const res = await this.get(`/manifests/${reference}`, MANIFEST_TYPES);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new RuntsError('EIMAGE', `manifest ${reference}: digest mismatch: got ${digest}`);
    }
    let json: Manifest & Index;
    try { json = JSON.parse(bytes.toString('utf8')); } catch (err) { throw new RuntsError('EIMAGE', `manifest ${reference}: not JSON`, { cause: err }); }
    if (!json.mediaType) json.mediaType = res.headers.get('content-type')?.split(';')[0] ?? undefined;
    return { bytes, digest, json };
  }

  async blob(store: ImageStore, digest: string, what: string): Promise<void> {
    if (store.hasBlob(digest)) return;
    const res = await this.get(`/blobs/${digest}`);
    if (!res.body) throw new RuntsError('EIMAGE', `${what}: empty answer`);
    await store.putBlob(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), digest, what);
  }
}

/** Pulls `ref` into the store; returns the image. */
export async function pull(store: ImageStore, refText: string, opts: PullOptions = {}): Promise<ImageRecord> {
  const ref = parseReference(refText);
  const client = new RegistryClient(ref, opts);
  const say = opts.progress ?? (() => {});
  let top = await client.manifest(ref.reference);
  if (isIndex(top.json)) {
    const chosen = selectPlatform(top.json, `${refText}`);
    say(`${refText}: index ${top.digest.slice(0, 19)}: chose ${chosen.platform ? `${chosen.platform.os}/${chosen.platform.architecture}` : 'the only image'} ${chosen.digest.slice(0, 19)}`);
    top = await client.manifest(chosen.digest);
    if (isIndex(top.json)) throw new RuntsError('EIMAGE', `${refText}: an index inside an index`);
  }
  const manifest = top.json;
  if (!manifest.config?.digest || !Array.isArray(manifest.layers)) throw new RuntsError('EIMAGE', `${refText}: manifest ${top.digest} has no config or layers (schema 1 manifests are not supported)`);
  await client.blob(store, checkDigest(manifest.config.digest, 'config'), `config ${manifest.config.digest}`);
  const queue = manifest.layers.map((l, i) => ({ l, i }));
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { l, i } = next;
      const had = store.hasBlob(checkDigest(l.digest, `layers[${i}]`));
      await client.blob(store, l.digest, `layer ${l.digest}`);
      say(`${l.digest.slice(0, 19)}: ${had ? 'already stored' : `downloaded ${(l.size / 1e6).toFixed(1)} MB`}`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.parallel ?? 3) }, worker));
  const manifestDigest = store.putBlobBytes(top.bytes, top.digest, `manifest ${top.digest}`);
  const image = await commitImage(store, { manifest: manifestDigest, manifestJson: manifest, config: manifest.config.digest, names: [ref.name] });
  say(`${refText}: ${image.id}`);
  return image;
}
