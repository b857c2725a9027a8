/**
 * `runts checkpoint` and `runts restore`: a running container frozen to
 * disk and brought back, by CRIU (Debian's `criu`), driven through its
 * command line with runc's choices:
 *   - every bind mount of config.json is an external mount, keyed by its
 *     destination (`--ext-mount-map DEST:DEST` at dump, `DEST:SOURCE` at
 *     restore); every masked file too, keyed "/dev/null" (it is /dev/null
 *     bound there); tmpfs contents go into the image;
 *   - the container's stdio is written to descriptors.json in the image;
 *     at restore a pipe is handed back from runts's own descriptor of the
 *     same number (`--inherit-fd`), as runc does;
 *   - CRIU restores into --root, a bind of the bundle's rootfs made under
 *     the state directory and detached once it is done.
 * Without --leave-running (or --pre-dump) the checkpointed container is
 * deleted, as runc deletes it. --pre-dump and --parent-path are CRIU's
 * iterative migration (pre-dump with --track-mem, then --prev-images-dir).
 * A foreground restore (no -d) waits for the restored process, forwarding
 * signals to it, deletes the container and gives its exit status, as runc's:
 * runts is a child subreaper (unless --no-subreaper) and CRIU restores the
 * process as runts's own child (--restore-sibling).
 * Every runc 1.1 flag runts cannot honour is refused, by name (unsupported).
 *
 * Design: docs/design/checkpoint.md.
 */
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { cgroupDriver } from '../cgroups/driver.ts';
import { RuntsError } from '../errors.ts';
import type { Spec } from '../oci/types.ts';
import { loadSpec } from '../oci/validate.ts';
import { MS, parseMountOptions } from '../rootfs/mount-options.ts';
import { becomeSubreaper, mount, reapExited, umount, waitChild } from '../sys/libc.ts';
import { initialRecord, prepare, type RuntimeContext } from './create.ts';
import { remove } from './delete.ts';
import { writeFastRecord } from './fast-verbs.ts';
import { writePidFile } from './pid-file.ts';
import { processStartTime, signalProcess, waitGone } from './process.ts';
import { exitCode } from './run.ts';

/** runc's --manage-cgroups-mode values, CRIU's --manage-cgroups modes. */
export const CGROUP_MODES = ['soft', 'full', 'strict', 'ignore'] as const;

export interface CriuOptions {
  imagePath?: string;
  workPath?: string;
  tcpEstablished?: boolean;
  extUnixSk?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  manageCgroupsMode?: (typeof CGROUP_MODES)[number];
  /** runc's --empty-ns: namespaces made but not restored; runc knows only "network" */
  emptyNs?: string[];
  autoDedup?: boolean;
  /** flags runts refuses: see unsupported() */
  lazyPages?: boolean;
  statusFd?: string;
}

const DESCRIPTORS = 'descriptors.json';

/** The flags both verbs pass to CRIU. */
export function criuFlags(o: CriuOptions, log: string): string[] {
  return [
    '-o', log, '-v4',
    `--manage-cgroups=${o.manageCgroupsMode ?? 'soft'}`,
    ...(o.tcpEstablished ? ['--tcp-established'] : []),
    ...(o.extUnixSk ? ['--ext-unix-sk'] : []),
    ...(o.shellJob ? ['--shell-job'] : []),
    ...(o.fileLocks ? ['--file-locks'] : []),
    ...(o.autoDedup ? ['--auto-dedup'] : []),
    ...(o.emptyNs?.length ? ['--empty-ns', 'net'] : []),
  ];
}

/**
 * The runc flags runts takes but cannot honour, each refused with why
 * (never ignored); and runc's own refusals of bad values.
 */
export function unsupported(o: CriuOptions & { consoleSocket?: string; noPivot?: boolean; pageServer?: string }): void {
  const refuse = (flag: string, why: string) => { throw new RuntsError('ENOTSUP', `${flag}: not supported by runts: ${why}`); };
  if (o.lazyPages) refuse('--lazy-pages', 'pages restored on demand need CRIU\'s lazy-pages daemon and a page server beside the restore, which runts does not run');
  if (o.statusFd !== undefined) refuse('--status-fd', 'it tells when lazy pages are ready, and runts does not support --lazy-pages');
  if (o.pageServer !== undefined) refuse('--page-server', 'runts writes every page to --image-path; it does not send them to a CRIU page server');
  if (o.consoleSocket !== undefined) refuse('--console-socket', 'CRIU hands a restored terminal\'s new master only to a caller of its RPC interface, and runts drives its command line');
  if (o.noPivot) refuse('--no-pivot', 'CRIU, not runts, switches to the restored root, always with pivot_root');
  for (const ns of o.emptyNs ?? []) if (ns !== 'network') throw new RuntsError('EINVAL', `--empty-ns ${ns}: namespace "${ns}" is not supported (only "network", as runc)`);
}

/**
 * config.json's bind mounts, as CRIU's external mounts: DEST:DEST at dump,
 * DEST:SOURCE at restore. A cgroup v2 mount that runts binds from the host
 * (no cgroup namespace, or a user namespace: rootfs/mounts.ts) is one too,
 * its source the container's cgroup directory (cgroupDir).
 */
export function externalMounts(spec: Spec, bundle: string, phase: 'dump' | 'restore', isFile: (path: string) => boolean, cgroupDir?: string): string[] {
  const out: string[] = [];
  const ns = new Set((spec.linux?.namespaces ?? []).filter((n) => !n.path).map((n) => n.type));
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    const opts = parseMountOptions(m.options ?? [], `mounts[${i}]`);
    if (m.type === 'cgroup' && cgroupDir && (!ns.has('cgroup') || ns.has('user'))) {
      out.push('--ext-mount-map', `${m.destination}:${phase === 'dump' ? m.destination : cgroupDir}`);
    }
    if (m.type !== 'bind' && !(opts.flags & MS.BIND)) continue;
    const source = isAbsolute(m.source ?? '') ? m.source! : resolve(bundle, m.source ?? '');
    out.push('--ext-mount-map', `${m.destination}:${phase === 'dump' ? m.destination : source}`);
  }
  const masked = (spec.linux?.maskedPaths ?? []).filter(isFile);
  if (phase === 'dump') for (const p of masked) out.push('--ext-mount-map', `${p}:/dev/null`);
  else if (masked.length) out.push('--ext-mount-map', '/dev/null:/dev/null');
  return out;
}

export interface CheckpointOptions extends CriuOptions {
  id: string;
  leaveRunning?: boolean;
  /** dump memory only, the container left running: the first rounds of an iterative migration */
  preDump?: boolean;
  /** a previous (pre-)dump's images, relative to --image-path, as CRIU's --prev-images-dir */
  parentPath?: string;
  pageServer?: string;
}

export async function checkpoint(ctx: RuntimeContext, opts: CheckpointOptions): Promise<void> {
  unsupported(opts);
  const criu = criuBinary('checkpoint');
  await ctx.store.locked(opts.id, async () => {
    const record = ctx.store.read(opts.id);
    const status = ctx.store.status(record);
    if (status !== 'running') throw new RuntsError('ESTATE', `cannot checkpoint container ${opts.id}: it is ${status}, not running`);
    const parent = parentImages(resolve(opts.imagePath ?? 'checkpoint'), opts.parentPath);
    const { image, work } = imageDirs(opts);
    const memory = ['-t', String(record.pid), '-D', image, '-W', work, ...parent];
    // as runc: a pre-dump is memory only, with no mounts or descriptors
    if (opts.preDump) return runCriu(criu, ['pre-dump', ...memory, '--track-mem', ...criuFlags(opts, 'pre-dump.log')], `checkpoint ${opts.id}`, join(work, 'pre-dump.log'), 'pipe');
    const spec = loadSpec(record.bundle);
    const fds = [0, 1, 2].map((fd) => { try { return readlinkSync(`/proc/${record.pid}/fd/${fd}`); } catch { return ''; } });
    writeFileSync(join(image, DESCRIPTORS), JSON.stringify(fds));
    const isFile = (p: string) => { try { return !statSync(`/proc/${record.pid}/root${p}`).isDirectory(); } catch { return false; } };
    runCriu(criu, ['dump', ...memory, ...(parent.length ? ['--track-mem'] : []), '--root', record.rootfs,
      ...(opts.leaveRunning ? ['--leave-running'] : []), ...criuFlags(opts, 'dump.log'), ...externalMounts(spec, record.bundle, 'dump', isFile, v2Dir(record.cgroupDirs))],
    `checkpoint ${opts.id}`, join(work, 'dump.log'), 'pipe');
  });
  // as runc: a checkpointed container that was not left running is gone
  if (!opts.leaveRunning && !opts.preDump) await remove(ctx, opts.id, { force: true });
}

/** --parent-path, as runc checks it: relative to --image-path, a directory there. */
function parentImages(image: string, parentPath: string | undefined): string[] {
  if (parentPath === undefined) return [];
  if (isAbsolute(parentPath)) throw new RuntsError('EINVAL', `--parent-path ${parentPath}: must be relative (to --image-path ${image})`);
  const dir = resolve(image, parentPath);
  let isDir = false;
  try { isDir = statSync(dir).isDirectory(); } catch { /* missing */ }
  if (!isDir) throw new RuntsError('ENOENT', `--parent-path ${parentPath}: ${dir} is not a directory (a previous dump's images)`, { path: dir });
  return ['--prev-images-dir', parentPath];
}

export interface RestoreOptions extends CriuOptions {
  id: string;
  bundle?: string;
  detach?: boolean;
  pidFile?: string;
  /** foreground: runts does not become a child subreaper (runc's --no-subreaper) */
  noSubreaper?: boolean;
  lsmProfile?: string;
  lsmMountContext?: string;
  consoleSocket?: string;
  noPivot?: boolean;
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'] as const;

/** Returns the exit code for runts: 0 detached, the container's in the foreground. */
export async function restore(ctx: RuntimeContext, opts: RestoreOptions): Promise<number> {
  unsupported(opts);
  const criu = criuBinary('restore');
  const foreground = !opts.detach;
  if (foreground && !opts.noSubreaper) becomeSubreaper();
  const prepared = await prepare(ctx, { id: opts.id, bundle: opts.bundle });
  const { image, work } = imageDirs(opts, true);
  const fds = JSON.parse(readFileSync(join(image, DESCRIPTORS), 'utf8')) as string[];
  const record = initialRecord({ id: opts.id }, prepared);
  const { store } = ctx;
  store.claim(record);
  const root = join(store.dir(opts.id), 'criu-root');
  let mounted = false;
  try {
    await store.locked(opts.id, async () => {
      // the cgroup first, with its limits, as create makes it: CRIU (soft) puts the tasks back in
      cgroupDriver().create(record.cgroupDirs, prepared.plan.cgroup);
      cgroupDriver().apply(record.cgroupDirs, prepared.plan.cgroup.writes);
      makeMountpoints(record.rootfs, prepared.spec, prepared.bundle);
      mkdirSync(root);
      mount(record.rootfs, root, '', MS.BIND | MS.REC, '');
      mounted = true;
      // CRIU will not overwrite its pidfile: one left by an earlier restore in this work dir (podman's, every time)
      const pidFile = join(work, 'restore.pid');
      rmSync(pidFile, { force: true });
      runCriu(criu, ['restore', '-d', ...(foreground ? ['--restore-sibling'] : []), '-D', image, '-W', work, '--root', root, '--pidfile', pidFile,
        ...criuFlags(opts, 'restore.log'), ...cgroupRoot(record.cgroupDirs),
        ...(opts.lsmProfile ? ['--lsm-profile', opts.lsmProfile] : []), ...(opts.lsmMountContext ? ['--lsm-mount-context', opts.lsmMountContext] : []), ...externalMounts(prepared.spec, prepared.bundle, 'restore', () => true, v2Dir(record.cgroupDirs)),
        ...fds.flatMap((f, fd) => (f.startsWith('pipe:') ? ['--inherit-fd', `fd[${fd}]:${f}`] : []))],
      `restore ${opts.id}`, join(work, 'restore.log'), 'inherit');
      record.pid = Number(readFileSync(pidFile, 'utf8').trim());
      record.pidStartTime = processStartTime(record.pid) ?? '';
      store.write(record);
      writeFastRecord(store, record);
      if (opts.pidFile) writePidFile(resolve(opts.pidFile), record.pid);
    });
  } catch (err) {
    if (record.pid && record.pidStartTime) {
      try { process.kill(record.pid, 'SIGKILL'); } catch { /* gone */ }
      await waitGone(record.pid, record.pidStartTime, 5000);
    }
    try { cgroupDriver().remove(record.cgroupDirs); } catch { /* never made */ }
    throw err;
  } finally {
    if (mounted) umount(root, 2 /* MNT_DETACH */);
    if (existsSync(root)) rmdirSync(root);
    if (!record.pid) store.release(opts.id);
  }
  return foreground ? supervise(ctx, opts.id, record.pid, record.pidStartTime) : 0;
}

/** Foreground restore: wait for the restored process (runts's child), forwarding signals; delete the container; its exit code. */
async function supervise(ctx: RuntimeContext, id: string, pid: number, startTime: string): Promise<number> {
  const forward = (sig: NodeJS.Signals) => signalProcess(pid, startTime, constants.signals[sig]);
  for (const sig of FORWARDED) process.on(sig, forward);
  try {
    return exitCode(await waitChild(pid));
  } finally {
    for (const sig of FORWARDED) process.off(sig, forward);
    await remove(ctx, id, { force: true });
    reapExited();
  }
}

/**
 * As runc before a restore: each mount's mountpoint is made in the rootfs
 * where it is missing (a rootfs fresh from an image: podman's --import),
 * not under a tmpfs of the config, whose contents CRIU restores. A file
 * for a bind mount of a file, a directory otherwise. Never through a
 * symlink: a path that meets one is left as it is, to CRIU's own error.
 */
export function makeMountpoints(rootfs: string, spec: Spec, bundle: string): void {
  const mounts = spec.mounts ?? [];
  const tmpfs = mounts.filter((m) => m.type === 'tmpfs').map((m) => m.destination.replace(/\/+$/, ''));
  for (const m of mounts) {
    if (tmpfs.some((t) => m.destination.startsWith(`${t}/`))) continue;
    const source = isAbsolute(m.source ?? '') ? m.source! : resolve(bundle, m.source ?? '');
    const bind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    let file = false;
    try { file = bind && !statSync(source).isDirectory(); } catch { /* CRIU will say */ }
    makePath(rootfs, m.destination, file);
  }
}

function makePath(rootfs: string, destination: string, file: boolean): void {
  const parts = destination.split('/').filter((p) => p && p !== '.');
  if (parts.includes('..')) return;
  let path = rootfs;
  for (const [i, part] of parts.entries()) {
    path = join(path, part);
    let st;
    try { st = lstatSync(path); } catch { /* missing: made below */ }
    if (st?.isSymbolicLink()) return;
    if (st) continue;
    if (file && i === parts.length - 1) writeFileSync(path, '', { flag: 'wx', mode: 0o644 });
    else mkdirSync(path, { mode: 0o755 });
  }
}

/**
 * The restored tasks go into this container's cgroup, not into the one
 * recorded in the image (another container's, when restored under another
 * id): CRIU's --cgroup-root (runc gives it on cgroup v1; on v2 it moves
 * CRIU itself into the container's cgroup first, to the same effect).
 */
function cgroupRoot(dirs: string[]): string[] {
  const dir = v2Dir(dirs);
  return dir ? ['--cgroup-root', dir.slice('/sys/fs/cgroup'.length)] : [];
}

/** On a cgroup v2 host, the container's one cgroup directory. */
function v2Dir(dirs: string[]): string | undefined {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') && dirs.length === 1 ? dirs[0] : undefined;
}

/** --image-path (default ./checkpoint, as runc) and --work-path (default: the image directory). */
function imageDirs(o: CriuOptions, mustExist = false): { image: string; work: string } {
  const image = resolve(o.imagePath ?? 'checkpoint');
  if (mustExist && !existsSync(join(image, DESCRIPTORS))) throw new RuntsError('ENOENT', `--image-path ${image}: no checkpoint there (no ${DESCRIPTORS})`, { path: image });
  const work = resolve(o.workPath ?? image);
  for (const dir of [image, work]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  return { image, work };
}

/** Where criu is installed (Debian: /usr/sbin, not on every user's PATH), if it is. */
export function criuPath(): string | undefined {
  return ['/usr/sbin/criu', '/usr/bin/criu', '/usr/local/sbin/criu'].find((path) => existsSync(path));
}

function criuBinary(verb: string): string {
  const path = criuPath();
  if (!path) throw new RuntsError('ENOTSUP', `${verb}: criu is not installed (Debian: apt-get install criu)`);
  return path;
}

/** Runs CRIU; a failure is one message: CRIU's first error lines from its log. */
function runCriu(criu: string, args: string[], what: string, log: string, stdio: 'pipe' | 'inherit'): void {
  const r = spawnSync(criu, args, { stdio: ['ignore', stdio, stdio], encoding: 'utf8', timeout: 600_000 });
  if (r.status === 0) return;
  let errors = '';
  try {
    errors = readFileSync(log, 'utf8').split('\n').filter((l) => /Error|error/.test(l)).slice(0, 3).map((l) => l.replace(/^\(\s*[\d.]+\)\s*/, '').trim()).join('; ');
  } catch { /* no log */ }
  throw new RuntsError('ESYSTEM', `${what}: criu ${args[0]} failed (exit ${r.status ?? r.signal}): ${errors || (r.stderr ?? '').trim() || 'no error in its log'} (log: ${log})`);
}
