/**
 * Is runts running rootless, and where does it keep its state then?
 *
 * Rootless, as runc decides it: the effective uid is not 0, or it is 0 but
 * only inside a user namespace (the initial one maps every id to itself), so
 * the host's cgroups and device nodes are out of reach either way. Only a
 * non-zero euid changes how id maps are written (see idmap.ts): root of a
 * user namespace holds CAP_SETUID there and writes them as root does.
 *
 * State lives in /run/runts for root, and in $XDG_RUNTIME_DIR/runts for an
 * unprivileged user (the user's own tmpfs, as runc does); --root wins.
 *
 * Design: docs/design/rootless.md.
 * The book: docs/11-advanced-topics.md (rootless containers).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';

/** root's state directory (native/fast-verbs.h FAST_DEFAULT_ROOT: the same). */
export const ROOT_STATE_DIR = '/run/runts';

/** The initial user namespace maps all 2^32-1 ids onto themselves. */
export function inInitialUserNamespace(uidMap: string = readUidMap()): boolean {
  return uidMap.trim().split(/\s+/).join(' ') === '0 0 4294967295';
}

function readUidMap(): string {
  try {
    return readFileSync('/proc/self/uid_map', 'utf8');
  } catch {
    return '0 0 4294967295'; // a kernel without user namespaces: there is only the initial one
  }
}

/** What the host calls uid `id` of this user namespace (through uid_map); the same id in the initial one. */
export function hostUid(id: number, uidMap: string = readUidMap()): number {
  for (const line of uidMap.trim().split('\n')) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (id >= inside! && id - inside! < count!) return outside! + (id - inside!);
  }
  return id;
}

/** No privilege over the host: a non-root euid, or root of a user namespace. */
export function isRootless(euid: number = process.geteuid!(), uidMap?: string): boolean {
  return euid !== 0 || !inInitialUserNamespace(uidMap);
}

/**
 * The state directory when --root is not given (runc's rule). Root of the
 * initial user namespace: /run/runts. An unprivileged user: its
 * $XDG_RUNTIME_DIR, and an error, not a directory it cannot write, without
 * one. Root of another user namespace (rootless podman runs its runtime
 * there): $XDG_RUNTIME_DIR when set and $USER is not root.
 */
export function defaultStateRoot(env: NodeJS.ProcessEnv = process.env, euid: number = process.geteuid!(), uidMap?: string): string {
  const xdg = env.XDG_RUNTIME_DIR;
  if (euid === 0) return xdg && env.USER !== 'root' && !inInitialUserNamespace(uidMap) ? join(xdg, 'runts') : ROOT_STATE_DIR;
  if (!xdg) {
    throw new RuntsError('EINVAL', `runts runs rootless (uid ${euid}) and keeps its state in $XDG_RUNTIME_DIR/runts, but XDG_RUNTIME_DIR is not set: set it (a directory only you can write, e.g. /run/user/${euid}) or pass --root DIR`);
  }
  return join(xdg, 'runts');
}
