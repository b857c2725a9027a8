/**
 * Where a container's cgroups go, decided before anything is created.
 *
 * As root: a directory in every hierarchy (cgroupsPath, or /runts/<id>).
 *
 * Rootless (runc's rules): an unprivileged user may only use a part of the
 * cgroup tree it was given, which cgroup v2 supports as delegation (the
 * directory and its cgroup.procs, cgroup.subtree_control and
 * cgroup.threads chowned to the user, as systemd does for Delegate=yes
 * units such as user@.service). There the container's cgroup is a sibling
 * of runts's own (a cgroup holding processes cannot hand controllers down),
 * and limits work. Without delegation (cgroup v1, hybrid hosts, or a v2
 * tree the user does not own) no cgroup is made: the container stays in
 * the caller's cgroup. That is fine until the config asks for limits or
 * names a cgroupsPath; then the create fails, saying which field, which
 * directory, and why. Device rules are not limits here: in a user namespace
 * no device node can be made, only host nodes the user may already open
 * bound in, so they are skipped (runc skips them too).
 *
 * Design: docs/design/rootless.md, "cgroups". The book: docs/05-cgroups.md,
 * "Delegation: who owns the tree".
 */
import { dirname, join, posix } from 'node:path';
import { RuntsError } from '../errors.ts';
import type { CgroupWrite } from './writes.ts';
import { containerCgroupDir, resolveCgroupPath, type CgroupLayout, type Hierarchy } from './layout.ts';

export interface CgroupPlacement {
  /** The directories runts creates and removes (none: the container has no cgroup of its own). */
  dirs: string[];
  /** The cgroup INIT ends up in, per hierarchy: its own, or the caller's. */
  dirOf: (h: Hierarchy) => string;
  /** The limits to write (device rules dropped when rootless). */
  writes: CgroupWrite[];
  /** Rootless on v2: the delegated directory the container's cgroup sits in, the highest runts may change. */
  top?: string;
  /** Rootless on v2: the controllers the limits need enabled in top. */
  controllers?: string[];
}

export interface PlacementInput {
  layout: CgroupLayout;
  id: string;
  cgroupsPath: string | undefined;
  writes: CgroupWrite[];
  rootless: boolean;
  uid: number;
  /** Can the caller write this path? (rootless only; the host probe asked access(2)) */
  writable: (path: string) => boolean;
  /** A file's text, or '' (rootless only: the delegated cgroup's cgroup.controllers). */
  read: (path: string) => string;
}

/**
 * Rootless on cgroup v2: the container's cgroup, the delegated directory it
 * sits in, and what the placement asks of the host: which paths the caller
 * must be able to write (the move of INIT needs cgroup.procs where its old
 * and new cgroups meet) and which file names the controllers on offer.
 */
export function rootlessCgroup(v2: Hierarchy, id: string, cgroupsPath: string | undefined): { dir: string; top: string; mustWrite: string[]; controllersFile: string } {
  const path = cgroupsPath !== undefined ? resolveCgroupPath(cgroupsPath, id, v2.ownPath) : posix.join(posix.dirname(v2.ownPath), `runts-${id}`);
  const dir = join(v2.mountPoint, path);
  const top = dirname(dir);
  const meet = join(v2.mountPoint, commonAncestor(v2.ownPath, path));
  return { dir, top, mustWrite: [top, join(top, 'cgroup.procs'), join(meet, 'cgroup.procs')], controllersFile: join(top, 'cgroup.controllers') };
}

export function cgroupPlacement(input: PlacementInput): CgroupPlacement {
  const { layout, id, cgroupsPath } = input;
  if (!input.rootless) {
    const dirOf = (h: Hierarchy) => containerCgroupDir(h, cgroupsPath, id);
    return { dirs: layout.hierarchies.map(dirOf), dirOf, writes: input.writes };
  }
  const own = (h: Hierarchy) => join(h.mountPoint, h.ownPath);
  const writes = input.writes.filter((w) => !w.field.startsWith('linux.resources.devices'));
  const fields = [...new Set(writes.map((w) => w.field))];
  const wants = fields.length ? fields.join(', ') : cgroupsPath !== undefined ? `linux.cgroupsPath (${cgroupsPath})` : '';
  const fix = fields.length ? 'drop linux.resources' : 'drop linux.cgroupsPath';
  const none: CgroupPlacement = { dirs: [], dirOf: own, writes: [] };
  const v2 = layout.hierarchies.find((h) => h.version === 2);
  if (layout.mode !== 2 || !v2) {
    if (!wants) return none;
    throw new RuntsError('ECGROUP', `${wants}: needs a cgroup of the container's own, and uid ${input.uid} (rootless) cannot have one on this host: its controllers are cgroup v1 (${layout.hierarchies.some((h) => h.version === 2) ? 'a hybrid host' : 'no cgroup v2'}), which has no delegation to an unprivileged user; run on a cgroup v2 host with a subtree delegated to the user (systemd: Delegate=yes), run as root, or ${fix}`, { path: fields[0] ?? 'linux.cgroupsPath' });
  }
  const { dir, top, mustWrite, controllersFile } = rootlessCgroup(v2, id, cgroupsPath);
  const refused = mustWrite.find((p) => !input.writable(p));
  if (refused) {
    if (!wants) return none;
    throw new RuntsError('ECGROUP', `${wants}: needs a cgroup of the container's own, ${dir}, and uid ${input.uid} (rootless) may not write ${refused}: that cgroup v2 subtree is not delegated to the user; delegate one (systemd: Delegate=yes, as user@.service has; by hand: chown the directory and its cgroup.procs, cgroup.subtree_control and cgroup.threads) and run runts from inside it, run as root, or ${fix}`, { path: fields[0] ?? 'linux.cgroupsPath' });
  }
  const controllers = [...new Set(writes.map((w) => w.file.split('.')[0]!).filter((c) => c !== 'cgroup'))];
  const offered = new Set(input.read(controllersFile).trim().split(/\s+/));
  const missing = controllers.filter((c) => !offered.has(c));
  if (missing.length) {
    const field = writes.find((w) => missing.includes(w.file.split('.')[0]!))!.field;
    throw new RuntsError('ECGROUP', `${field}: needs the ${missing.join(', ')} controller${missing.length > 1 ? 's' : ''}, which the delegated cgroup ${top} does not offer (its cgroup.controllers: ${[...offered].filter(Boolean).join(' ') || 'none'}): enable ${missing.map((c) => `+${c}`).join(' ')} in the cgroup.subtree_control of its parents (systemd: Delegate=${missing.join(' ')})`, { path: field });
  }
  return { dirs: [dir], dirOf: (h) => (h === v2 ? dir : own(h)), writes, top, controllers };
}

function commonAncestor(a: string, b: string): string {
  const x = a.split('/').filter(Boolean);
  const y = b.split('/').filter(Boolean);
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return '/' + x.slice(0, i).join('/');
}
