/**
 * The friendly front end's containers: `runts run IMAGE`, `stop`, `logs`,
 * `container ls` and `container rm`. Each container is an image snapshot
 * (an OverlayFS root, image/snapshot.ts) plus a config.json built from the
 * image config (frontend/spec.ts), kept together in the store's
 * containers/<name>/ and launched through the core exactly as an OCI bundle
 * is: `runts run` here is what a learner writes in chapter 9 on top of
 * chapters 4 to 8.
 *
 * An image not in the store is pulled first (`--pull missing`, Docker's
 * default; `always` pulls every time, `never` never). What a run made is
 * undone step by step, every step even when one fails; the user hears of
 * the error that stopped the run (or gets the container's exit status), and
 * of what could not be undone as a warning beside it.
 *
 * How a container ended (`ps -a`, `inspect`, `wait`) is recorded by its
 * supervisor, which outlives runts for a detached container: see exit.ts.
 *
 * Rootless (an unprivileged user: the CLI has already moved runts into the
 * front end's user namespace, rootless/userns.ts), the container gets a
 * user namespace mapped onto that one and pasta for its network; host
 * ports are checked first (docs/design/rootless.md, "The front end").
 *
 * The book: docs/09-writing-runtime.md, "A tiny Docker".
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, mkdirSync, readdirSync, readFileSync, readSync, watch } from 'node:fs';
import { join, resolve } from 'node:path';
import { isRuntsError, RuntsError, wrap } from '../errors.ts';
import type { ImageConfig } from '../image/archive.ts';
import type { PullOptions } from '../image/registry.ts';
import { mountSnapshot, snapshotPaths, unmountSnapshot } from '../image/snapshot.ts';
import type { ImageRecord, ImageStore } from '../image/store.ts';
import type { RuntimeContext } from '../runtime/create.ts';
import { remove } from '../runtime/delete.ts';
import { resolveUser } from '../rootfs/users.ts';
import { kill } from '../runtime/kill.ts';
import { withStdio } from '../sys/libc.ts';
import { createDirAtomic, sweepClaims, writeFileAtomic } from '../sys/files.ts';
import { faultPoint } from '../sys/fault.ts';
import { run } from '../runtime/run.ts';
import { state } from '../runtime/state.ts';
import { imageSpec, rootlessImageSpec, volumeMount, type RunFlags } from './spec.ts';
import { isRootless } from '../rootless/detect.ts';
import { namespaceRanges } from '../rootless/userns.ts';
import { checkPortsFree, findPasta } from '../network/pasta.ts';
import type { Spec } from '../oci/types.ts';
import { EXIT_FILE, readExit, recordSupervisor, waitExit, type ExitRecord } from './exit.ts';
import { parseNetworkFlags, prepareNetwork, releaseNetwork, type ContainerNetwork } from '../network/container.ts';

export interface RunImageOptions extends Omit<RunFlags, 'user'> {
  image: string;
  cmd: string[];
  name?: string;
  user?: string;
  rm?: boolean;
  detach?: boolean;
  /** bridge (root's default), pasta (an unprivileged user's default), none, host, or a network of `runts network create` */
  network?: string;
  /** `-p [hostip:]hostport:containerport[/tcp|udp]` */
  publish?: string[];
  /** when to pull the image: `missing` (the default), `always`, `never` */
  pull?: PullPolicy;
  /** how to pull it: scheme, credentials, progress */
  registry?: PullOptions;
  /** record the run's system calls; write a seccomp profile allowing them to this file */
  seccompRecord?: string;
}

export type PullPolicy = 'missing' | 'always' | 'never';

export interface ContainerInfo {
  name: string;
  image: string;
  imageName: string;
  /** kept so that the layers outlive an `rmi --force` of the image */
  layers: string[];
  command: string[];
  created: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** The image to run: from the store, or pulled into it as `opts.pull` says. */
async function imageFor(images: ImageStore, opts: RunImageOptions): Promise<ImageRecord> {
  const policy = opts.pull ?? 'missing';
  const found = policy === 'always' ? undefined : images.find(opts.image);
  if (found) return found;
  if (policy === 'never') {
    throw new RuntsError('ENOTFOUND', `no such image: ${opts.image} (--pull never: bring it in first with \`runts pull\`, \`runts load\` or \`runts import\`)`);
  }
  if (policy === 'missing') opts.registry?.progress?.({ type: 'note', text: `no image ${opts.image} in the store: pulling it` });
  const { pull } = await import('../image/registry.ts');
  return pull(images, opts.image, opts.registry);
}

/**
 * Undoes what runImage made (the network, the mount and, when `remove`, the
 * container directory), every step even when one fails. What fails here is
 * a warning: the error the user hears of is the one that stopped the run,
 * or, when it ran, its exit status. A network that could not be released
 * keeps the container directory (its record, its pinned namespace), so
 * `runts rm` can try again.
 */
function undo(ctx: RuntimeContext, images: ImageStore, name: string, opts: { remove: boolean; failed?: boolean }): void {
  const errors: unknown[] = [];
  try { releaseNetwork(images.containerDir(name), name); } catch (err) { errors.push(err); }
  const keep = opts.remove && errors.length > 0;
  try { unmountSnapshot(images, name, { remove: opts.remove && !keep }); } catch (err) { errors.push(err); }
  const what = opts.failed ? `container ${name}: undoing the failed run failed too` : `container ${name}`;
  const kept = keep ? `; the container is kept: \`runts rm ${name}\` tries again` : '';
  for (const err of errors) ctx.warn(`${wrap(err, what).message}${kept}`);
}

/** Returns runts's exit code: the container's in the foreground, 0 detached. */
export async function runImage(ctx: RuntimeContext, images: ImageStore, opts: RunImageOptions): Promise<{ name: string; exitCode: number }> {
  const name = opts.name ?? `runts-${randomBytes(6).toString('hex')}`;
  // Everything wrong with the flags fails before any change; what needs no image, before a pull too.
  if (!NAME.test(name)) throw new RuntsError('EINVAL', `--name ${name}: use letters, digits, '_', '.', '-' (128 at most)`);
  if (opts.tty && opts.detach) throw new RuntsError('EINVAL', '--tty with --detach: a detached container has no terminal to talk to');
  const rootless = isRootless();
  const { mode, ports } = parseNetworkFlags(opts.network, opts.publish, rootless);
  if (mode === 'pasta') findPasta();
  if (rootless) await checkPortsFree(ports);
  const taken = () => new RuntsError('EEXIST', `the container name ${name} is already in use`);
  try { state(ctx, name); throw taken(); } catch (err) { if (!isRuntsError(err, 'ENOTFOUND')) throw err; }
  const image = await imageFor(images, opts);
  const config = images.readJson<ImageConfig>(image.id);
  const flags: RunFlags = { ...opts, user: undefined };
  imageSpec(config, opts.cmd, flags, name);
  const { dir } = snapshotPaths(images, name);
  const info: ContainerInfo = { name, image: image.id, imageName: image.names[0] ?? image.id, layers: image.layers, command: opts.cmd, created: new Date().toISOString() };
  const parent = join(dir, '..');
  mkdirSync(parent, { recursive: true });
  sweepClaims(parent);
  // claims the name: the directory appears with its container.json, or not at all
  if (!createDirAtomic(dir, { 'container.json': JSON.stringify(info, null, 2) + '\n' })) throw taken();
  faultPoint('frontend.claimed');
  let merged: string;
  let net: ContainerNetwork;
  let spec: Spec | undefined;
  try {
    merged = mountSnapshot(images, name, image);
    const user = resolveUser(merged, opts.user ?? config.config?.User ?? '');
    spec = imageSpec(config, opts.cmd, { ...flags, user }, name);
    net = prepareNetwork(dir, name, spec.hostname!, { ...opts, rootless }, (peer) => {
      const s = state(ctx, peer);
      if (s.status !== 'running' || !s.pid) throw new RuntsError('ESTATE', `--network container:${peer}: container ${peer} is ${s.status}, not running`);
      return { pid: s.pid, dir: images.containerDir(peer) };
    });
    net.editSpec(spec);
    if (rootless) rootlessImageSpec(spec, namespaceRanges(readFileSync('/proc/self/uid_map', 'utf8')), namespaceRanges(readFileSync('/proc/self/gid_map', 'utf8')));
    writeFileAtomic(join(dir, 'config.json'), JSON.stringify(spec, null, 2) + '\n');
    faultPoint('frontend.prepared');
  } catch (err) {
    undo(ctx, images, name, { remove: true, failed: true });
    throw inFlagTerms(err, spec, flags);
  }
  let exitCode: number;
  try {
    const launch = () => run(ctx, {
      id: name, bundle: dir, detach: opts.detach, exitFile: join(dir, EXIT_FILE), seccompProfile: opts.seccompRecord && resolve(opts.seccompRecord),
      beforeStart: (pid, supervisorPid) => { recordSupervisor(dir, supervisorPid); return net.attach(pid); },
    });
    exitCode = opts.detach ? await detached(join(dir, 'log'), launch) : await launch();
  } catch (err) {
    undo(ctx, images, name, { remove: !!opts.rm, failed: true });
    throw inFlagTerms(err, spec, flags);
  }
  if (!opts.detach) undo(ctx, images, name, { remove: !!opts.rm });
  return { name, exitCode };
}

/**
 * The user of `runts run IMAGE` typed flags, not config.json: an error about
 * a field a flag set names the flag ("--pids-limit -5: must be ...", not
 * "linux.resources.pids.limit: must be ...").
 */
function inFlagTerms(err: unknown, spec: Spec | undefined, flags: RunFlags): unknown {
  if (!(err instanceof RuntsError)) return err;
  const terms: [RegExp, (m: string[]) => string][] = [];
  if (flags.pidsLimit !== undefined) terms.push([/linux\.resources\.pids\.limit/g, () => `--pids-limit ${flags.pidsLimit}`]);
  if (flags.memory !== undefined) terms.push([/linux\.resources\.memory\.limit/g, () => '--memory']);
  if (flags.cpus !== undefined) terms.push([/linux\.resources\.cpu\.(quota|period)/g, () => `--cpus ${flags.cpus}`]);
  const volumes = flags.volumes.map(volumeMount);
  const volumeAt = (i: number) => volumes.findIndex((v) => v.source === spec?.mounts?.[i]?.source && v.destination === spec?.mounts?.[i]?.destination);
  terms.push([/mounts\[(\d+)\](?:\.(\w+))?/g, (m) => {
    const v = volumeAt(Number(m[1]));
    return v < 0 ? m[0]! : `--volume ${flags.volumes[v]}${m[2] ? ` (${m[2]})` : ''}`;
  }]);
  let message = err.message;
  for (const [re, flag] of terms) message = message.replace(re, (...m: string[]) => flag(m));
  return message === err.message ? err : new RuntsError(err.code, message, { errno: err.errno, cause: err });
}

export function listContainers(ctx: RuntimeContext, images: ImageStore): (ContainerInfo & ContainerState)[] {
  const dir = join(images.root, 'containers');
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    if (!NAME.test(name)) continue; // a claim under way (sys/files.ts)
    let info: ContainerInfo;
    try { info = JSON.parse(readFileSync(join(dir, name, 'container.json'), 'utf8')) as ContainerInfo; } catch { continue; }
    out.push({ ...info, ...containerState(ctx, images, name) });
  }
  return out;
}

/** What the core says of a front-end container; `exited` (Docker's word) once its process has ended. */
export function containerStatus(ctx: RuntimeContext, name: string): { status: string; pid: number } {
  try {
    const s = state(ctx, name);
    return s.status === 'stopped' ? { status: 'exited', pid: 0 } : { status: s.status, pid: s.pid ?? 0 };
  } catch {
    return { status: 'exited', pid: 0 };
  }
}

export type ContainerState = { status: string; pid: number } & Partial<ExitRecord>;

/**
 * The status and, once it has exited, how: the exit code and time its
 * supervisor recorded (none if it was killed first). "dead" (Docker's word)
 * is a container that never got a process: the run that made it died (a
 * crash, a kill) before its process existed, and nothing is left to wait
 * for; `rm -f` removes it.
 */
export function containerState(ctx: RuntimeContext, images: ImageStore, name: string): ContainerState {
  const s = containerStatus(ctx, name);
  if (s.status !== 'exited') return s;
  const exit = readExit(images.containerDir(name));
  if (exit) return { ...s, ...exit };
  return neverRan(ctx, name) ? { status: 'dead', pid: 0 } : s;
}

/** The core has no state of it, or a state without a process. */
function neverRan(ctx: RuntimeContext, name: string): boolean {
  try {
    return !ctx.store.read(name).pid;
  } catch {
    return true;
  }
}

/** Exited or dead: nothing runs, nothing will. */
export const isOver = (status: string) => status === 'exited' || status === 'dead';

/**
 * `runts wait`: the container's exit code, once it has exited. A container
 * whose supervisor was killed before it exited has no code to give: that is
 * an error, not a made-up number.
 */
export async function waitContainer(ctx: RuntimeContext, images: ImageStore, name: string): Promise<number> {
  try {
    info(images, name);
  } catch (err) {
    if (!isRuntsError(err, 'ENOTFOUND')) throw err;
    throw new RuntsError('ENOTFOUND', `no such container: ${name} (wait knows the containers of \`runts run IMAGE\`)`);
  }
  const running = () => {
    info(images, name); // removed meanwhile: no such container
    return containerStatus(ctx, name).status !== 'exited';
  };
  const record = await waitExit(images.containerDir(name), running);
  if (!record) throw new RuntsError('ESTATE', `container ${name} has exited, but its exit code is unknown: its supervisor ended before it did (was it killed?)`);
  return record.exitCode;
}

/** After the core let the container go: until its supervisor has written the exit file (or is gone), the directory is still being written to. */
async function supervisorDone(images: ImageStore, name: string): Promise<void> {
  await waitExit(images.containerDir(name), () => false);
}

/** SIGTERM, then SIGKILL after `timeout` seconds; the upper layer stays. */
export async function stopContainer(ctx: RuntimeContext, images: ImageStore, name: string, timeout = 10): Promise<void> {
  info(images, name);
  let running = true;
  try { running = state(ctx, name).status !== 'stopped'; } catch (err) { if (!isRuntsError(err, 'ENOTFOUND')) throw err; running = false; }
  if (running) {
    await kill(ctx, name, 'SIGTERM').catch(() => {});
    const deadline = Date.now() + timeout * 1000;
    while (Date.now() < deadline && state(ctx, name).status !== 'stopped') await new Promise((r) => setTimeout(r, 50));
  }
  await remove(ctx, name, { force: true });
  await supervisorDone(images, name);
  releaseNetwork(images.containerDir(name), name);
  unmountSnapshot(images, name);
}

export async function removeContainer(ctx: RuntimeContext, images: ImageStore, name: string, opts: { force?: boolean } = {}): Promise<void> {
  info(images, name);
  try {
    const s = state(ctx, name);
    if (s.status !== 'stopped' && !opts.force) throw new RuntsError('ESTATE', `container ${name} is ${s.status}: stop it first, or use --force`);
  } catch (err) {
    if (!isRuntsError(err, 'ENOTFOUND')) throw err;
  }
  await remove(ctx, name, { force: true });
  await supervisorDone(images, name);
  releaseNetwork(images.containerDir(name), name);
  unmountSnapshot(images, name, { remove: true });
}

export function info(images: ImageStore, name: string): ContainerInfo {
  try {
    return JSON.parse(readFileSync(join(images.containerDir(name), 'container.json'), 'utf8')) as ContainerInfo;
  } catch {
    throw new RuntsError('ENOTFOUND', `no such container: ${name}`);
  }
}

/** A detached container writes to its log file and reads nothing, as with `docker run -d`. */
async function detached<T>(log: string, fn: () => Promise<T>): Promise<T> {
  const out = openSync(log, 'a', 0o600);
  const none = openSync('/dev/null', 'r');
  try {
    return await withStdio([none, out, out], fn);
  } finally {
    closeSync(out);
    closeSync(none);
  }
}

/** What a detached container wrote (its stdout and stderr, interleaved). */
export function containerLog(images: ImageStore, name: string): Buffer {
  info(images, name);
  try {
    return readFileSync(join(images.containerDir(name), 'log'));
  } catch {
    return Buffer.alloc(0); // a foreground container writes to the terminal, not a log
  }
}

/** The last `n` lines of a log (`logs --tail n`); a last line without its newline counts too. */
export function lastLines(log: Buffer, n: number): Buffer {
  let at = log.length;
  if (log[at - 1] === 0x0a) at--; // the last line's own newline
  for (let i = 0; i < n; i++) {
    if (at <= 0) return log;
    at = log.lastIndexOf(0x0a, at - 1);
    if (at < 0) return log;
  }
  return log.subarray(at + 1);
}

/** How often `logs -f` looks whether the container still runs (the log growing wakes it sooner). */
const FOLLOW_POLL_MS = 200;

/**
 * `logs -f`: what the container wrote so far (its last `tail` lines, when
 * given), then whatever it appends, until it exits. No busy wait: it sleeps
 * until inotify (fs.watch) says the log changed, or the poll interval ends.
 */
export async function followLog(ctx: RuntimeContext, images: ImageStore, name: string, write: (chunk: Buffer) => void, opts: { tail?: number } = {}): Promise<void> {
  info(images, name);
  const log = join(images.containerDir(name), 'log');
  let fd: number;
  try {
    fd = openSync(log, 'r');
  } catch {
    return; // a foreground container writes to the terminal, not a log
  }
  let wake = () => {};
  const watcher = watch(log, () => wake());
  try {
    const first = readFrom(fd, 0);
    write(opts.tail === undefined ? first : lastLines(first, opts.tail));
    let at = first.length;
    for (;;) {
      // Asked before reading: what an exited container wrote last is still read.
      const { status } = containerStatus(ctx, name);
      const more = readFrom(fd, at);
      if (more.length) write(more);
      at += more.length;
      if (status === 'stopped' || status === 'exited') return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FOLLOW_POLL_MS);
        wake = () => { clearTimeout(timer); resolve(); };
      });
    }
  } finally {
    watcher.close();
    closeSync(fd);
  }
}

function readFrom(fd: number, position: number): Buffer {
  const chunks: Buffer[] = [];
  for (;;) {
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, position);
    if (n === 0) return Buffer.concat(chunks);
    chunks.push(buf.subarray(0, n));
    position += n;
  }
}
