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
 * Without --leave-running the checkpointed container is deleted, as runc
 * deletes it. restore is detached only (-d): a foreground restore would
 * need a supervisor for a process CRIU, not runts-init, made.
 *
 * Design: docs/design/checkpoint.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { cgroupDriver } from '../cgroups/driver.ts';
import { RuntsError } from '../errors.ts';
import type { Spec } from '../oci/types.ts';
import { loadSpec } from '../oci/validate.ts';
import { MS, parseMountOptions } from '../rootfs/mount-options.ts';
import { mount, umount } from '../sys/libc.ts';
import { initialRecord, prepare, type RuntimeContext } from './create.ts';
import { remove } from './delete.ts';
import { writeFastRecord } from './fast-verbs.ts';
import { writePidFile } from './pid-file.ts';
import { processStartTime, waitGone } from './process.ts';

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
  ];
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
}

export async function checkpoint(ctx: RuntimeContext, opts: CheckpointOptions): Promise<void> {
  const criu = criuBinary('checkpoint');
  await ctx.store.locked(opts.id, async () => {
    const record = ctx.store.read(opts.id);
    const status = ctx.store.status(record);
    if (status !== 'running') throw new RuntsError('ESTATE', `cannot checkpoint container ${opts.id}: it is ${status}, not running`);
    const spec = loadSpec(record.bundle);
    const { image, work } = imageDirs(opts);
    const fds = [0, 1, 2].map((fd) => { try { return readlinkSync(`/proc/${record.pid}/fd/${fd}`); } catch { return ''; } });
    writeFileSync(join(image, DESCRIPTORS), JSON.stringify(fds));
    const isFile = (p: string) => { try { return !statSync(`/proc/${record.pid}/root${p}`).isDirectory(); } catch { return false; } };
    runCriu(criu, ['dump', '-t', String(record.pid), '-D', image, '-W', work, '--root', record.rootfs,
      ...(opts.leaveRunning ? ['--leave-running'] : []), ...criuFlags(opts, 'dump.log'), ...externalMounts(spec, record.bundle, 'dump', isFile, v2Dir(record.cgroupDirs))],
    `checkpoint ${opts.id}`, join(work, 'dump.log'), 'pipe');
  });
  // as runc: a checkpointed container that was not left running is gone
  if (!opts.leaveRunning) await remove(ctx, opts.id, { force: true });
}

export interface RestoreOptions extends CriuOptions {
  id: string;
  bundle?: string;
  detach?: boolean;
  pidFile?: string;
}

export async function restore(ctx: RuntimeContext, opts: RestoreOptions): Promise<void> {
  if (!opts.detach) throw new RuntsError('ENOTSUP', 'restore: only a detached restore (-d) is supported: runts does not supervise a process CRIU made in the foreground');
  const criu = criuBinary('restore');
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
      mkdirSync(root);
      mount(record.rootfs, root, '', MS.BIND | MS.REC, '');
      mounted = true;
      const pidFile = join(work, 'restore.pid');
      runCriu(criu, ['restore', '-d', '-D', image, '-W', work, '--root', root, '--pidfile', pidFile,
        ...criuFlags(opts, 'restore.log'), ...externalMounts(prepared.spec, prepared.bundle, 'restore', () => true, v2Dir(record.cgroupDirs)),
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
