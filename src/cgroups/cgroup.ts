/**
 * Create, list and remove a container's cgroup directories. Placing the
 * process is the executor's job (STEP_CGROUP_ADD), made faster by
 * primeCgroupMove; limits belong to the drivers that build on this file.
 *
 * The book: docs/05-cgroups.md, "What runts does" (the move into the
 * cgroup, and why it is primed).
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, write, writeFileSync, type Dirent } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntsError } from '../errors.ts';
import { sleepSync } from '../sys/sleep.ts';
import { cgroupLayout } from './layout.ts';

/**
 * mkdir -p every directory. The leaves belong to the container; parents such
 * as /runts are shared and stay. On failure the leaves made so far are removed.
 */
export function createCgroupDirs(dirs: string[]): void {
  const made: string[] = [];
  try {
    for (const dir of dirs) {
      const missing: string[] = [];
      for (let d = dir; !existsSync(d); d = dirname(d)) missing.unshift(d);
      if (missing.at(-1) === dir) made.push(dir);
      for (const d of missing) mkdirSync(d);
      // A v1 cpuset cgroup starts with empty cpus/mems and refuses tasks
      // until they are filled in: each one on the way down inherits its
      // parent's, a parent made by someone else too (a pod's), as runc does.
      if (existsSync(join(dir, 'cpuset.cpus')) && !existsSync(join(dir, 'cgroup.controllers'))) {
        const chain: string[] = [];
        for (let d = dir; existsSync(join(d, 'cpuset.cpus')); d = dirname(d)) chain.unshift(d);
        for (const d of chain.slice(1)) inheritCpuset(d);
      }
    }
  } catch (err) {
    removeCgroupDirs(made);
    const e = err as NodeJS.ErrnoException;
    throw new RuntsError('ECGROUP', `create cgroup ${e.path ?? ''}: ${e.message}`, { errno: e.errno, path: e.path, cause: err });
  }
}

function inheritCpuset(dir: string) {
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    if (readFileSync(join(dir, file), 'utf8').trim() === '') {
      writeFileSync(join(dir, file), readFileSync(join(dirname(dir), file)));
    }
  }
}

/**
 * Makes runts-init's move of INIT into the container's cgroup, a few
 * milliseconds later, fast. Any write to a cgroup.procs file first waits
 * for an RCU grace period (5 to 20 ms), unless another such write ended
 * less than a grace period ago: the kernel's lock on cgroup moves stays in
 * its writer-ready state that long. So this starts a move of runts into
 * the cgroup it is already in (a no-op move) on a libuv thread, and the
 * wait happens while runts prepares the container, not while INIT waits.
 * A failure here costs nothing: the move then pays the wait itself.
 */
export function primeCgroupMove(): void {
  const own = cgroupLayout().hierarchies[0];
  if (!own) return;
  let fd: number;
  try {
    fd = openSync(procsFile(join(own.mountPoint, own.ownPath)), constants.O_WRONLY);
  } catch {
    return;
  }
  write(fd, String(process.pid), () => closeSync(fd)); // one request: a libuv thread starts it at once
}

/** The file a process's pid is written to, to move it into this cgroup. */
export function procsFile(dir: string): string {
  return join(dir, 'cgroup.procs');
}

export function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(procsFile(dir), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Every cgroup below dir, children before their parent. */
function subCgroups(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory()).flatMap((e) => [...subCgroups(join(dir, e.name)), join(dir, e.name)]);
}

/**
 * rmdir deepest first. A cgroup is removable only once its processes are
 * gone (zombies count until reaped), so retry briefly on EBUSY.
 */
export function removeCgroupDirs(dirs: string[]): void {
  // Sub-cgroups the container made go first: a cgroup with children is busy.
  const all = dirs.flatMap((d) => [...subCgroups(d), d]);
  const ordered = [...new Set(all)].sort((a, b) => b.length - a.length);
  for (const dir of ordered) {
    for (let attempt = 0; ; attempt++) {
      try {
        rmdirSync(dir);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || attempt >= 200) throw err;
        sleepSync(5);
      }
    }
  }
}
