/**
 * The processes of a container. Every process it starts stays in its
 * cgroup, so that is where they are read. A rootless container may have no
 * cgroup of its own (cgroups/placement.ts); it has a pid namespace of its
 * own instead, and its processes are those in INIT's pid namespace (the
 * caller's own processes: /proc shows it their namespaces).
 *
 * Design: docs/design/rootless.md, "cgroups".
 */
import { readdirSync, statSync } from 'node:fs';
import { cgroupPids } from '../cgroups/cgroup.ts';
import { RuntsError } from '../errors.ts';
import { processStartTime } from './process.ts';
import type { ContainerRecord } from './store.ts';

export function containerMembers(record: ContainerRecord): number[] {
  if (record.cgroupDirs.length) return [...new Set(record.cgroupDirs.flatMap(cgroupPids))].sort((a, b) => a - b);
  // INIT gone, its pid namespace went with it (and the pid may be another's now)
  if (processStartTime(record.pid) !== record.pidStartTime) return [];
  const ns = pidNamespace(record.pid);
  if (!ns) return [];
  const own = pidNamespace(process.pid);
  if (own && own.ino === ns.ino && own.dev === ns.dev) return [record.pid];
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const theirs = pidNamespace(Number(name));
    if (theirs && theirs.ino === ns.ino && theirs.dev === ns.dev) out.push(Number(name));
  }
  return out.sort((a, b) => a - b);
}

function pidNamespace(pid: number): { ino: number; dev: number } | undefined {
  try {
    return statSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined; // gone, or another user's
  }
}

/** pause, resume, update and the like need the container's own cgroup. */
export function requireCgroup(record: ContainerRecord, what: string): void {
  if (record.cgroupDirs.length) return;
  throw new RuntsError('ENOTSUP', `cannot ${what} container ${record.id}: it has no cgroup of its own (it was created rootless, without a cgroup v2 subtree delegated to the user), and that needs one`);
}
