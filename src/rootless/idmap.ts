/**
 * How a new user namespace's id maps get written, decided before anything
 * runs (user_namespaces(7), "Defining user and group ID mappings"):
 *
 *   - root writes /proc/<init>/uid_map and gid_map itself;
 *   - an unprivileged user may write one line mapping its own euid (and
 *     egid), and for the gid map only after writing "deny" to
 *     /proc/<init>/setgroups: a process could otherwise drop a group that
 *     denies it access (setgroups stays refused in the container, so no
 *     additional gids);
 *   - anything more (a range for uid 1-65535 in the container, say) goes
 *     through the setuid helpers newuidmap and newgidmap, which allow what
 *     /etc/subuid and /etc/subgid give the user, plus its own id. runts
 *     checks the same ranges first, so a config that asks for ids the user
 *     does not own fails with its field named, before anything is created.
 *
 * Design: docs/design/rootless.md, "Id maps".
 * The book: docs/11-advanced-topics.md (one id, or a range).
 */
import { readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import type { LinuxIDMapping } from '../oci/types.ts';
import { steps, type Step } from '../protocol/steps.ts';
import { idMapText } from '../rootfs/idmap.ts';

export interface IdRange {
  start: number;
  count: number;
}

/** What the id-map decision reads from the host: given whole, so tests can fake it. */
export interface IdMapHost {
  euid: number;
  egid: number;
  /** The caller's name, how /etc/subuid usually names it. */
  userName: string | undefined;
  /** /etc/subuid and /etc/subgid as text (undefined: no such file). */
  subuid: string | undefined;
  subgid: string | undefined;
  /** Where newuidmap and newgidmap are installed, if they are. */
  newuidmap: string | undefined;
  newgidmap: string | undefined;
}

const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];

function findTool(name: string): string | undefined {
  for (const dir of TOOL_DIRS) {
    const path = join(dir, name);
    try {
      if (statSync(path).isFile()) return path;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function idMapHost(): IdMapHost {
  let userName: string | undefined;
  try {
    userName = userInfo().username;
  } catch {
    /* a uid with no passwd entry: only numeric subuid entries can name it */
  }
  return {
    euid: process.geteuid!(),
    egid: process.getegid!(),
    userName,
    subuid: readText('/etc/subuid'),
    subgid: readText('/etc/subgid'),
    newuidmap: findTool('newuidmap'),
    newgidmap: findTool('newgidmap'),
  };
}

/** The ranges a subuid/subgid file gives a user ("name:start:count" lines; the name may be the numeric id). */
export function subIdRanges(text: string | undefined, user: { name: string | undefined; id: number }): IdRange[] {
  const out: IdRange[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (!who || start === undefined || count === undefined || !/^\d+$/.test(start) || !/^\d+$/.test(count)) continue;
    if (who === user.name || who === String(user.id)) out.push({ start: Number(start), count: Number(count) });
  }
  return out;
}

const span = (m: LinuxIDMapping) => (m.size === 1 ? `${m.hostID}` : `${m.hostID}-${m.hostID + m.size - 1}`);

/** The plan steps that write INIT's uid and gid maps (after clone, before INIT runs). */
export function idMapSteps(
  uidMappings: LinuxIDMapping[],
  gidMappings: LinuxIDMapping[],
  additionalGids: number[],
  host: IdMapHost,
): Step[] {
  if (host.euid === 0) return [steps.writeIdMap('uid', idMapText(uidMappings)), steps.writeIdMap('gid', idMapText(gidMappings))];
  const out: Step[] = [];
  const ownOnly = (maps: LinuxIDMapping[], id: number) => maps.length === 1 && maps[0]!.hostID === id && maps[0]!.size === 1;
  if (ownOnly(uidMappings, host.euid)) out.push(steps.writeIdMap('uid', idMapText(uidMappings)));
  else out.push(toolStep('uid', uidMappings, host));
  if (ownOnly(gidMappings, host.egid)) {
    if (additionalGids.length) {
      throw new RuntsError('EINVAL_CONFIG', `process.user.additionalGids: an unprivileged user that maps only its own gid (${host.egid}) must deny setgroups in the container, so it can have no additional groups; map a range from /etc/subgid in linux.gidMappings (through newgidmap) to have them`, { path: 'process.user.additionalGids' });
    }
    out.push(steps.denySetgroups());
    out.push(steps.writeIdMap('gid', idMapText(gidMappings)));
  } else {
    out.push(toolStep('gid', gidMappings, host));
  }
  return out;
}

function toolStep(kind: 'uid' | 'gid', maps: LinuxIDMapping[], host: IdMapHost): Step {
  const field = `linux.${kind}Mappings`;
  const id = kind === 'uid' ? host.euid : host.egid;
  const file = kind === 'uid' ? '/etc/subuid' : '/etc/subgid';
  const tool = kind === 'uid' ? 'newuidmap' : 'newgidmap';
  const who = `${kind} ${id}${host.userName ? ` (${host.userName})` : ''}`;
  const ranges = subIdRanges(kind === 'uid' ? host.subuid : host.subgid, { name: host.userName, id: host.euid });
  for (const m of maps) {
    const own = m.hostID === id && m.size === 1;
    if (own || ranges.some((r) => m.hostID >= r.start && m.hostID + m.size <= r.start + r.count)) continue;
    const given = ranges.length ? `it gives ${ranges.map((r) => `${r.start}-${r.start + r.count - 1}`).join(', ')}` : 'it gives none';
    throw new RuntsError('EPERM', `${field}: maps host ${kind}s ${span(m)}, which ${who} may not map: an unprivileged user maps its own ${kind} alone, or ranges ${file} gives it (${given}); add one (usermod --add-sub${kind}s START-END ${host.userName ?? id}) or change the mapping`, { path: field });
  }
  const path = kind === 'uid' ? host.newuidmap : host.newgidmap;
  if (!path) {
    throw new RuntsError('ENOTSUP', `${field}: mapping more than ${who}'s own id needs ${tool} (setuid root; Debian package uidmap), and it is not installed`, { path: field });
  }
  return steps.idMapTool(kind, path, maps.flatMap((m) => [m.containerID, m.hostID, m.size].map(String)));
}

/**
 * Ids the container names must exist in its user namespace: the process's
 * user and groups, and uid=/gid= mount options (devpts gid=5 in a one-id
 * map, say). The kernel would refuse them later with a bare EINVAL.
 */
export function checkMappedIds(spec: { process?: { user?: { uid: number; gid: number; additionalGids?: number[] } }; mounts?: { options?: string[] }[] }, uidMappings: LinuxIDMapping[], gidMappings: LinuxIDMapping[]): void {
  const mapped = (maps: LinuxIDMapping[], id: number) => maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
  const need = (kind: 'uid' | 'gid', id: number, field: string) => {
    if (mapped(kind === 'uid' ? uidMappings : gidMappings, id)) return;
    throw new RuntsError('EINVAL_CONFIG', `${field}: ${kind} ${id} is not mapped in the container's user namespace (linux.${kind}Mappings maps ${describe(kind === 'uid' ? uidMappings : gidMappings)})`, { path: field });
  };
  const user = spec.process?.user;
  if (user) {
    need('uid', user.uid, 'process.user.uid');
    need('gid', user.gid, 'process.user.gid');
    user.additionalGids?.forEach((g, i) => need('gid', g, `process.user.additionalGids[${i}]`));
  }
  spec.mounts?.forEach((m, i) => m.options?.forEach((o) => {
    const id = /^(uid|gid)=(\d+)$/.exec(o);
    if (id) need(id[1] as 'uid' | 'gid', Number(id[2]), `mounts[${i}].options (${o})`);
  }));
}

function describe(maps: LinuxIDMapping[]): string {
  return maps.map((m) => (m.size === 1 ? `${m.containerID}` : `${m.containerID}-${m.containerID + m.size - 1}`)).join(', ') || 'nothing';
}

