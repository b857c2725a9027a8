/**
 * Which cgroup hierarchies this host mounts, and where a container's cgroup
 * lives in each.
 *
 * cgroup v2 ("unified") hosts have one hierarchy at /sys/fs/cgroup. v1 and
 * hybrid hosts have one hierarchy per controller group (cpu,cpuacct; memory;
 * pids; ...) plus, on hybrid hosts, a controller-less cgroup2 at
 * /sys/fs/cgroup/unified. Like runc, a hybrid host is driven through v1.
 *
 * The book: docs/05-cgroups.md, "cgroup v1 and hybrid hosts" and
 * "Delegation: who owns the tree" (cgroupsPath).
 */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { unescapeMountPath } from '../sys/mounts.ts';

export interface Hierarchy {
  /** Where the hierarchy is mounted on the host. */
  mountPoint: string;
  /** 'cgroup2' or the v1 controllers (and name=...) of this hierarchy. */
  controllers: string[];
  version: 1 | 2;
  /** The cgroup of the calling process in this hierarchy (from /proc/self/cgroup). */
  ownPath: string;
}

export interface CgroupLayout {
  /** 2 only when the whole host is cgroup v2. */
  mode: 1 | 2;
  hierarchies: Hierarchy[];
}

let cached: CgroupLayout | undefined;

export function cgroupLayout(): CgroupLayout {
  if (cached) return cached;
  const own = new Map<string, string>(); // "cpu,cpuacct" or "" (v2) -> path
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) own.set(m[1]!, m[2]!);
  }
  const hierarchies: Hierarchy[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const [fstype, , superOpts = ''] = post.split(' ');
    const mountPoint = unescapeMountPath(pre.split(' ')[4] ?? '');
    if (fstype === 'cgroup2') {
      hierarchies.push({ mountPoint, controllers: ['cgroup2'], version: 2, ownPath: own.get('') ?? '/' });
    } else if (fstype === 'cgroup') {
      const controllers = superOpts.split(',').filter((o) => !['rw', 'ro'].includes(o) && !/^(noprefix|clone_children|xattr|release_agent=.*)$/.test(o));
      const key = [...own.keys()].find((k) => k.split(',').sort().join(',') === [...controllers].sort().join(','));
      hierarchies.push({ mountPoint, controllers, version: 1, ownPath: (key !== undefined ? own.get(key) : undefined) ?? '/' });
    }
  }
  const mode = hierarchies.some((h) => h.version === 1) ? 1 : 2;
  cached = { mode, hierarchies: dedupe(hierarchies) };
  return cached;
}

/** A hierarchy can be mounted twice (bind mounts); keep the first of each. */
function dedupe(list: Hierarchy[]): Hierarchy[] {
  const seen = new Set<string>();
  return list.filter((h) => {
    const key = h.controllers.join(',');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}


/**
 * The container's cgroup as a path inside each hierarchy. Absolute
 * cgroupsPath values are taken as they are; relative ones are relative to the
 * runtime's own cgroup (as runc does); the default is /runts/<id>.
 */
export function containerCgroupDir(h: Hierarchy, cgroupsPath: string | undefined, id: string): string {
  return join(h.mountPoint, resolveCgroupPath(cgroupsPath, id, h.ownPath));
}

export function resolveCgroupPath(cgroupsPath: string | undefined, id: string, ownPath: string): string {
  if (!cgroupsPath) return `/runts/${id}`;
  const p = cgroupsPath.startsWith('/') ? cgroupsPath : posix.join(ownPath, cgroupsPath);
  return posix.normalize(p);
}
