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
 * and layers download in parallel, each unpacked as soon as it is down while
 * the others still download (as containerd does); the first failure stops
 * the others, and each removes its partial blob. Blobs already stored are not fetched again,
 * so an interrupted pull resumes at the first missing blob (a blob that was
 * cut short starts again from zero; tmp/ leftovers of a killed pull are
 * removed by the next). What happens is reported as events - a layer's phase
 * and bytes - that progress.ts draws.
 *
 * HTTPS, always, but for a registry on this machine (localhost, 127.0.0.0/8,
 * [::1]): there, as Docker does, HTTPS is tried first and plain HTTP used
 * when the TLS connection itself fails, so `runts pull 127.0.0.1:5000/x`
 * works with the usual local registry and no flag. `--insecure` forces HTTP
 * for any host, `--tls-verify=true` HTTPS even on loopback.
 *
 * The book: docs/06-overlayfs.md, "Pulling an image by hand".
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { RuntsError } from '../errors.ts';
import { commitImage, ensureLayer, isIndex, MEDIA, selectPlatform, type ImageConfig, type Index, type Manifest } from './archive.ts';
import type { LayerPhase, PullEvent } from './progress.ts';
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
  /** true: plain HTTP; false: HTTPS only; unset: HTTPS, or HTTP for a loopback registry without TLS */
  insecure?: boolean;
  username?: string;
  password?: string;
  /** how many layers download at once */
  parallel?: number;
  /** what the pull is doing: renderProgress() (progress.ts) draws it */
  progress?: (event: PullEvent) => void;
}

/**
 * Is `registry` (host[:port]) this machine: localhost, 127.0.0.0/8 or [::1]?
 * Docker counts those among its insecure registries without being told.
 * The URL parser writes the host in one form (`127.1` is `127.0.0.1`,
 * `[0::1]` is `[::1]`, upper case is lower case).
 */
export function isLoopbackRegistry(registry: string): boolean {
  if (!/^[\w.:[\]-]+$/.test(registry)) return false; // no userinfo or path to fool the parser
  let host: string;
  try { host = new URL(`http://${registry}`).hostname; } catch { return false; }
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The scheme a client starts with. On loopback with no flag it starts with
 * HTTPS and may fall back to HTTP (see tlsRefused): HTTPS first, so a local
 * registry that serves TLS keeps it and credentials never travel in clear
 * to it; the fallback only on loopback, where no one on the network stands
 * between runts and the registry to force a downgrade.
 */
function schemeFor(ref: Reference, insecure: boolean | undefined): { scheme: 'http' | 'https'; fallback: boolean } {
  if (insecure) return { scheme: 'http', fallback: false };
  return { scheme: 'https', fallback: insecure === undefined && isLoopbackRegistry(ref.registry) };
}

/**
 * A failed HTTPS request that says "no TLS here": the server answered in
 * plain HTTP (OpenSSL's wrong version number, EPROTO), hung up on the
 * handshake (ECONNRESET, a closed socket), or nothing listens on 443 for a
 * registry named without a port (ECONNREFUSED). A certificate refused is no
 * such failure: the server speaks TLS, and HTTP would not help.
 */
function tlsRefused(code: string | undefined): boolean {
  return !!code && (code.startsWith('ERR_SSL_') || ['EPROTO', 'ECONNRESET', 'ECONNREFUSED', 'UND_ERR_SOCKET'].includes(code));
}

const MANIFEST_TYPES = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(', ');

/** An error answer in a few words: the registry's `errors` list (`CODE: message`), or its text. */
async function answerText(res: Response): Promise<string> {
  const text = (await res.text().catch(() => '')).trim();
  try {
    const { errors } = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    if (Array.isArray(errors) && errors.length) return errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  } catch { /* not JSON: the text itself */ }
  return text.slice(0, 200).replace(/\s+/g, ' ');
}

const statusOf = async (res: Response) => {
  const text = await answerText(res);
  return `${res.status} ${res.statusText}${text ? ` (${text})` : ''}`;
};

/** A digest as the OCI image spec writes one (`algorithm:encoded`): nothing that could leave its place in a URL. */
const DIGEST_SYNTAX = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A registry's answer to GET /manifests/<reference>: its bytes checked
 * against `reference` when that is a digest, parsed, and given the media
 * type of `contentType` when the document names none. Then its shape, so
 * what pull reads next is there: an index lists descriptors, each with a
 * digest (its platform, if any, an os and an architecture); an image
 * manifest has a config and layers with sha256 digests. Anything else is
 * a RuntsError EIMAGE naming the field.
 */
export function parseManifest(bytes: Buffer, reference: string, contentType: string | null): { digest: string; json: Manifest & Index } {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (reference.startsWith('sha256:') && digest !== reference) {
    throw new RuntsError('EIMAGE', `manifest ${reference}: digest mismatch: got ${digest}`);
  }
  let parsed: unknown;
  try { parsed = JSON.parse(bytes.toString('utf8')); } catch (err) { throw new RuntsError('EIMAGE', `manifest ${reference}: not JSON`, { cause: err }); }
  const bad = (why: string) => new RuntsError('EIMAGE', `manifest ${reference}: ${why}`);
  if (!isObject(parsed)) throw bad('not a JSON object');
  const json = parsed as unknown as Manifest & Index;
  if (json.mediaType !== undefined && typeof json.mediaType !== 'string') throw bad('mediaType is not a string');
  if (!json.mediaType) json.mediaType = contentType?.split(';')[0] ?? undefined;
  if (isIndex(json)) {
    if (!Array.isArray(json.manifests)) throw bad('an index without a manifests list');
    json.manifests.forEach((d: unknown, i) => {
      if (!isObject(d) || typeof d.digest !== 'string' || !DIGEST_SYNTAX.test(d.digest)) throw bad(`manifests[${i}]: not a descriptor with a digest`);
      const p = d.platform;
      if (p !== undefined && !(isObject(p) && typeof p.os === 'string' && typeof p.architecture === 'string')) throw bad(`manifests[${i}].platform: not an os and an architecture`);
    });
  } else {
    if (!isObject(json.config) || !Array.isArray(json.layers)) throw bad('no config or layers (schema 1 manifests are not supported)');
    const digestOf = (d: unknown, what: string) => checkDigest(isObject(d) && typeof d.digest === 'string' ? d.digest : '(none)', `manifest ${reference}: ${what}`);
    digestOf(json.config, 'config');
    json.layers.forEach((l: unknown, i) => digestOf(l, `layers[${i}]`));
  }
  return { digest, json };
}

export class RegistryClient {
  private auth: string | undefined;
  /** how `auth` was obtained, for the message when access is still denied */
  private authWith = 'no credentials';
  private scheme: 'http' | 'https';
  /** HTTP may still replace HTTPS: until the first answer (see schemeFor) */
  private fallback: boolean;
  /** why HTTPS failed, once HTTP replaced it: for the message should HTTP fail too */
  private httpsFailure = '';
  private readonly ref: Reference;
  private readonly opts: PullOptions;
  private readonly signal: AbortSignal | undefined;

  constructor(ref: Reference, opts: PullOptions = {}, signal?: AbortSignal) {
    this.ref = ref;
    this.opts = opts;
    this.signal = signal;
    ({ scheme: this.scheme, fallback: this.fallback } = schemeFor(ref, opts.insecure));
  }

  private async get(path: string, accept?: string, retried = false): Promise<Response> {
    const url = `${this.scheme}://${this.ref.registry}/v2/${this.ref.repository}${path}`;
    const headers: Record<string, string> = {};
    if (accept) headers.accept = accept;
    if (this.auth) headers.authorization = this.auth;
    let res: Response;
    try {
      res = await fetch(url, { headers, redirect: 'follow', signal: this.signal });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      if (this.fallback && tlsRefused(cause?.code)) {
        this.fallback = false;
        this.scheme = 'http';
        this.httpsFailure = why;
        return this.get(path, accept, retried);
      }
      const https = this.httpsFailure && ` (and over HTTPS: ${this.httpsFailure})`;
      throw new RuntsError('EIMAGE', `cannot reach ${url}: ${why}${https}`, { cause: err });
    }
    this.fallback = false; // an answer: this scheme works
    if (res.status === 401 && !retried) {
      await res.body?.cancel();
      await this.authenticate(res.headers.get('www-authenticate') ?? '', url);
      return this.get(path, accept, true);
    }
    if (!res.ok) {
      const what = `GET ${url}: ${await statusOf(res)}`;
      if (res.status === 404) throw new RuntsError('ENOTFOUND', `${what}: no such image or blob`);
      if (res.status === 401 || res.status === 403) throw new RuntsError('EPERM', `${what}: access denied with ${this.authWith}`);
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
    const user = this.opts.username;
    if (scheme === 'basic') {
      this.auth = this.basic();
      if (!this.auth) throw new RuntsError('EPERM', `${url}: the registry asks for credentials (--creds user:password)`);
      this.authWith = `the credentials of ${user}`;
      return;
    }
    if (scheme !== 'bearer' || !params.realm) throw new RuntsError('EPERM', `${url}: unsupported authentication challenge: ${challenge || '(none)'}`);
    const where = `registry ${this.ref.registry}: token service ${params.realm}`;
    const scope = params.scope ?? `repository:${this.ref.repository}:pull`;
    let tokenUrl: URL;
    try { tokenUrl = new URL(params.realm); } catch (err) { throw new RuntsError('EIMAGE', `${where}: not a URL`, { cause: err }); }
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    tokenUrl.searchParams.set('scope', scope);
    const basic = this.basic();
    let res: Response;
    try {
      res = await fetch(tokenUrl, { headers: basic ? { authorization: basic } : {}, signal: this.signal });
    } catch (err) {
      throw new RuntsError('EIMAGE', `${where}: unreachable: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok) throw new RuntsError('EPERM', `${where} refused ${user === undefined ? 'an anonymous request' : `the credentials of ${user}`} for ${scope}: ${await statusOf(res)}`);
    let body: { token?: string; access_token?: string };
    try { body = (await res.json()) as typeof body; } catch (err) { throw new RuntsError('EIMAGE', `${where}: its answer is not JSON`, { cause: err }); }
    const token = body.token ?? body.access_token;
    if (!token) throw new RuntsError('EPERM', `${where}: no token in its answer`);
    this.auth = `Bearer ${token}`;
    this.authWith = user === undefined
      ? `an anonymous token from ${params.realm} for ${scope} (--creds user:password may grant more)`
      : `a token for ${user} from ${params.realm} for ${scope}`;
  }

  /** A manifest or index, its bytes checked against `reference` when that is a digest. */
  async manifest(reference: string): Promise<{ bytes: Buffer; digest: string; json: Manifest & Index }> {
    const res = await this.get(`/manifests/${reference}`, MANIFEST_TYPES);
    const bytes = Buffer.from(await res.arrayBuffer());
    return { bytes, ...parseManifest(bytes, reference, res.headers.get('content-type')) };
  }

  /** Streams a blob into the store unless it is there already; `onBytes` hears each chunk's size. */
  async blob(store: ImageStore, digest: string, what: string, onBytes?: (bytes: number) => void): Promise<void> {
    if (store.hasBlob(digest)) return;
    const res = await this.get(`/blobs/${digest}`);
    if (!res.body) throw new RuntsError('EIMAGE', `${what}: empty answer`);
    await store.putBlob(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), digest, what, onBytes);
  }
}

/** Pulls `ref` into the store; returns the image. `progress` hears every step, and the end. */
export async function pull(store: ImageStore, refText: string, opts: PullOptions = {}): Promise<ImageRecord> {
  const say = opts.progress ?? (() => {});
  let ok = false;
  try {
    const image = await pullImage(store, refText, opts, say);
    ok = true;
    return image;
  } finally {
    say({ type: 'end', ok });
  }
}

interface LayerJob { digest: string; diffId: string; total: number }

async function pullImage(store: ImageStore, refText: string, opts: PullOptions, say: (e: PullEvent) => void): Promise<ImageRecord> {
  const ref = parseReference(refText);
  store.removeStaleWork();
  const aborter = new AbortController();
  const client = new RegistryClient(ref, opts, aborter.signal);
  let top = await client.manifest(ref.reference);
  if (isIndex(top.json)) {
    const chosen = selectPlatform(top.json, `${refText}`);
    say({ type: 'note', text: `${refText}: index ${top.digest.slice(0, 19)}: chose ${chosen.platform ? `${chosen.platform.os}/${chosen.platform.architecture}` : 'the only image'} ${chosen.digest.slice(0, 19)}` });
    top = await client.manifest(chosen.digest);
    if (isIndex(top.json)) throw new RuntsError('EIMAGE', `${refText}: an index inside an index`);
  }
  const manifest = top.json;
  if (!manifest.config?.digest || !Array.isArray(manifest.layers)) throw new RuntsError('EIMAGE', `${refText}: manifest ${top.digest} has no config or layers (schema 1 manifests are not supported)`);
  const config = checkDigest(manifest.config.digest, 'config');
  await client.blob(store, config, `config ${config}`);
  const diffIds = store.readJson<ImageConfig>(config).rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length) throw new RuntsError('EIMAGE', `${refText}: the config names ${diffIds.length} layers, the manifest ${manifest.layers.length}`);
  const layers: LayerJob[] = manifest.layers.map((l, i) => ({
    digest: checkDigest(l.digest, `layers[${i}]`), diffId: checkDigest(diffIds[i]!, `rootfs.diff_ids[${i}]`), total: Number(l.size) || 0,
  }));
  const report = (l: LayerJob, phase: LayerPhase, bytes = 0) => say({ type: 'layer', digest: l.digest, phase, bytes, total: l.total });
  const todo = layers.filter((l) => !store.hasLayer(l.diffId));
  for (const l of layers) report(l, todo.includes(l) ? 'waiting' : 'exists');
  // Each layer is unpacked as soon as it is down, while the others download.
  await inParallel(todo, opts.parallel ?? 3, aborter, async (l) => {
    if (!store.hasBlob(l.digest)) {
      let bytes = 0;
      report(l, 'downloading');
      await client.blob(store, l.digest, `layer ${l.digest}`, (n) => {
        bytes += n;
        report(l, l.total && bytes >= l.total ? 'verifying' : 'downloading', bytes);
      });
      report(l, 'downloaded', bytes);
    }
    report(l, 'unpacking', l.total);
    await ensureLayer(store, l.digest, l.diffId);
    report(l, 'done', l.total);
  });
  const manifestDigest = store.putBlobBytes(top.bytes, top.digest, `manifest ${top.digest}`);
  return commitImage(store, { manifest: manifestDigest, manifestJson: manifest, config, names: [ref.name] });
}

/**
 * Runs `fn` on every item, `parallel` at a time. The first failure aborts the
 * others (their partial blobs are removed as they fail) and is thrown once
 * every one has stopped, so nothing is still writing when the caller returns.
 */
async function inParallel<T>(items: T[], parallel: number, aborter: AbortController, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined && !failure; next = queue.shift()) {
      try {
        await fn(next);
      } catch (err) {
        failure ??= { err };
        aborter.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  if (failure) throw failure.err;
}
