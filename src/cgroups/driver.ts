/**
 * One interface over cgroup v1 and v2, chosen by what the host mounts
 * (hybrid hosts are driven through v1, as runc does): create and remove a
 * container's cgroup, turn linux.resources into file writes and apply them,
 * freeze and thaw, read usage.
 *
 * The book: docs/05-cgroups.md, "What runts does" (and "Processes go in
 * leaves" for execProcsFiles).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntsError } from '../errors.ts';
import type { LinuxResources } from '../oci/types.ts';
import { createCgroupDirs, removeCgroupDirs } from './cgroup.ts';
import { readCgroupHost, type CgroupHost } from './host.ts';
import { cgroupLayout, type CgroupLayout } from './layout.ts';
import { v1Stats, v2Stats, type CgroupStats } from './stats.ts';
import { v1MountPoint, v1Writes, type ResourceOptions } from './v1.ts';
import { v2Root, v2Writes } from './v2.ts';
import { applyWrites, type CgroupWrite } from './writes.ts';

export type { CgroupWrite } from './writes.ts';
export type { CgroupStats } from './stats.ts';

export interface CgroupDriver {
  version: 1 | 2;
  /** Validate linux.resources and decide the writes against what the host offers (read now unless given); writes nothing. */
  resourceWrites(r: LinuxResources | undefined, opts: ResourceOptions, host?: CgroupHost): CgroupWrite[];
  /**
   * mkdir the container's cgroups (v2: with `controllers` enabled from `top`
   * down: the hierarchy's root, or a delegated directory when rootless).
   */
  create(dirs: string[], opts: { top?: string | undefined; controllers: string[] }): void;
  apply(dirs: string[], writes: CgroupWrite[]): void;
  remove(dirs: string[]): void;
  freeze(dirs: string[], frozen: boolean): Promise<void>;
  isFrozen(dirs: string[]): boolean;
  stats(dirs: string[]): CgroupStats;
  /** How many processes the OOM killer took in this cgroup so far. */
  oomKills(dirs: string[]): number;
}

export function cgroupDriver(layout: CgroupLayout = cgroupLayout()): CgroupDriver {
  return layout.mode === 2 ? v2Driver(layout) : v1Driver(layout);
}

function under(dirs: string[], mount: string | undefined): string | undefined {
  if (!mount) return undefined;
  return dirs.find((d) => d === mount || d.startsWith(mount.endsWith('/') ? mount : `${mount}/`));
}

/** Which of the container's directories holds a controller's files ('' on v2: the one directory). */
export function writeDir(layout: CgroupLayout, dirs: string[], controller: string): string | undefined {
  return under(dirs, layout.mode === 2 ? v2Root(layout) : v1MountPoint(layout, controller));
}

async function waitFor(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (done()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new RuntsError('ECGROUP', `${what}: timed out`);
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function write(path: string, value: string) {
  try {
    writeFileSync(path, value);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RuntsError('ECGROUP', `write ${value} to ${path}: ${e.message}`, { errno: e.errno, path, cause: err });
  }
}

function v1Driver(layout: CgroupLayout): CgroupDriver {
  const dirFor = (dirs: string[], controller: string) => writeDir(layout, dirs, controller);
  return {
    version: 1,
    resourceWrites: (r, opts, host = readCgroupHost(r, layout)) => v1Writes(r ?? {}, host, opts),
    create: (dirs) => createCgroupDirs(dirs),
    apply: (dirs, writes) => applyWrites(writes, (c) => dirFor(dirs, c)),
    remove: (dirs) => {
      const freezer = dirFor(dirs, 'freezer');
      if (freezer && read(join(freezer, 'freezer.state')).trim() !== 'THAWED') {
        try { writeFileSync(join(freezer, 'freezer.state'), 'THAWED'); } catch { /* gone */ }
      }
      removeCgroupDirs(dirs);
    },
    async freeze(dirs, frozen) {
      const dir = dirFor(dirs, 'freezer');
      if (!dir) throw new RuntsError('ENOTSUP', 'the host does not mount the cgroup v1 freezer controller');
      const want = frozen ? 'FROZEN' : 'THAWED';
      // A cgroup can stall in FREEZING while a task sleeps uninterruptibly: ask again.
      await waitFor(`${frozen ? 'freeze' : 'thaw'} ${dir}`, () => {
        if (read(join(dir, 'freezer.state')).trim() === want) return true;
        write(join(dir, 'freezer.state'), want);
        return read(join(dir, 'freezer.state')).trim() === want;
      });
    },
    isFrozen: (dirs) => {
      const dir = dirFor(dirs, 'freezer');
      return !!dir && read(join(dir, 'freezer.state')).trim() === 'FROZEN';
    },
    stats: (dirs) => v1Stats((c) => dirFor(dirs, c)),
    oomKills: (dirs) => {
      const dir = dirFor(dirs, 'memory');
      const m = dir ? /^oom_kill (\d+)$/m.exec(read(join(dir, 'memory.oom_control'))) : null;
      return m ? Number(m[1]) : 0;
    },
  };
}

function v2Driver(layout: CgroupLayout): CgroupDriver {
  const root = v2Root(layout);
  const dirOf = (dirs: string[]) => under(dirs, root);
  return {
    version: 2,
    resourceWrites: (r, opts, host = readCgroupHost(r, layout)) => v2Writes(r ?? {}, host, opts),
    create(dirs, opts) {
      const dir = dirOf(dirs);
      // Every ancestor hands all its controllers down, so the leaf has them.
      if (dir) {
        const top = opts.top ?? root;
        const wanted = opts.controllers;
        const chain: string[] = [];
        for (let d = dirname(dir); d.length >= top.length && d.startsWith(top); d = dirname(d)) {
          chain.unshift(d);
          if (d === top) break;
        }
        createCgroupDirs(chain.filter((d) => d !== top));
        for (const d of chain) {
          const have = new Set(read(join(d, 'cgroup.controllers')).trim().split(/\s+/));
          const enabled = new Set(read(join(d, 'cgroup.subtree_control')).trim().split(/\s+/));
          const missing = wanted.filter((c) => have.has(c) && !enabled.has(c));
          if (missing.length) write(join(d, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
        }
      }
      createCgroupDirs(dirs);
    },
    apply: (dirs, writes) => applyWrites(writes, () => dirOf(dirs)),
    remove: (dirs) => {
      const dir = dirOf(dirs);
      // frozen processes cannot die: thaw what a failed create or pause left
      if (dir && read(join(dir, 'cgroup.freeze')).trim() === '1') {
        try { writeFileSync(join(dir, 'cgroup.freeze'), '0'); } catch { /* gone */ }
      }
      removeCgroupDirs(dirs);
    },
    async freeze(dirs, frozen) {
      const dir = dirOf(dirs);
      if (!dir) throw new RuntsError('ECGROUP', 'the container has no cgroup v2 directory');
      write(join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
      await waitFor(`${frozen ? 'freeze' : 'thaw'} ${dir}`, () => /^frozen (\d)$/m.exec(read(join(dir, 'cgroup.events')))?.[1] === (frozen ? '1' : '0'));
    },
    isFrozen: (dirs) => {
      const dir = dirOf(dirs);
      return !!dir && read(join(dir, 'cgroup.freeze')).trim() === '1';
    },
    stats: (dirs) => v2Stats(dirOf(dirs)),
    oomKills: (dirs) => {
      const dir = dirOf(dirs);
      const m = dir ? /^oom_kill (\d+)$/m.exec(read(join(dir, 'memory.events'))) : null;
      return m ? Number(m[1]) : 0;
    },
  };
}

/**
 * `exec --cgroup [controller[,controller...]:]path`, as runc reads it: a map
 * from controller to a path below the container's cgroup; '' (a path with no
 * controller, allowed only alone) for every hierarchy.
 */
export function parseSubCgroups(args: string[]): Map<string, string> {
  const paths = new Map<string, string>();
  for (const arg of args) {
    const parts = arg.split(':');
    if (parts.length > 2) throw new RuntsError('EINVAL', `--cgroup ${arg}: expected [controller[,controller...]:]path`);
    if (parts.length === 1) {
      if (args.length !== 1) throw new RuntsError('EINVAL', `--cgroup ${arg}: a path without a controller: prefix must be the only --cgroup`);
      paths.set('', arg);
    } else {
      for (const controller of parts[0]!.split(',')) paths.set(controller, parts[1]!);
    }
  }
  return paths;
}

/**
 * Where `exec` puts a new process: the sub-cgroup --cgroup names (it must
 * exist: the container made it), else the cgroup INIT is in now, when that
 * is inside the container's cgroup, else the container's cgroup itself. On
 * v2 a cgroup whose children have controllers cannot hold processes
 * (EBUSY), so a container that made sub-cgroups and moved INIT into one
 * still takes exec'd processes there, next to INIT.
 */
export function execProcsFiles(dirs: string[], initPid: number, subCgroups: Map<string, string> = new Map(), layout: CgroupLayout = cgroupLayout()): string[] {
  for (const controller of subCgroups.keys()) {
    if (controller === '') continue;
    if (layout.mode === 2) throw new RuntsError('EINVAL', `--cgroup ${controller}:...: cgroup v2 has one hierarchy: give a path without a controller`);
    if (!layout.hierarchies.some((h) => h.version === 1 && h.controllers.includes(controller))) throw new RuntsError('EINVAL', `--cgroup: unknown controller ${controller}`);
  }
  const subOf = (dir: string) => {
    const h = layout.hierarchies.find((x) => dir === x.mountPoint || dir.startsWith(`${x.mountPoint}/`));
    return subCgroups.get('') ?? h?.controllers.map((c) => subCgroups.get(c)).find((p) => p !== undefined);
  };
  let own = '';
  try {
    own = /^0::(.*)$/m.exec(readFileSync(`/proc/${initPid}/cgroup`, 'utf8'))?.[1] ?? '';
  } catch {
    /* INIT is gone: exec fails later, with a better message */
  }
  const v2 = layout.hierarchies.find((h) => h.version === 2);
  return dirs.map((dir) => {
    const sub = subOf(dir);
    if (sub !== undefined) {
      const target = join(dir, sub);
      if (target !== dir && !target.startsWith(`${dir}/`)) throw new RuntsError('EINVAL', `--cgroup: ${sub} is not a sub cgroup path`);
      return join(target, 'cgroup.procs');
    }
    if (layout.mode === 2 && v2 && own) {
      const current = join(v2.mountPoint, own);
      if (current === dir || current.startsWith(`${dir}/`)) return join(current, 'cgroup.procs');
    }
    return join(dir, 'cgroup.procs');
  });
}
