/**
 * Can the root of the container's new user namespace reach a bind mount's
 * source? INIT opens the source from inside that namespace, as the host
 * uid its root maps to, and the kernel lets it through a directory only if
 * that uid may search it, or if the directory's owner and group are both
 * mapped into the namespace (then the namespace's CAP_DAC_OVERRIDE counts).
 * A source behind a directory it cannot search (a 0700 directory of the
 * host's root) is cloned by PARENT instead, from the host's side
 * (STEP_CLONE_TREE), as runc opens such sources before it joins the
 * namespace.
 *
 * The host probe (plan/host.ts) stats the directories; this decides.
 * Supplementary groups are not counted: an unreachable verdict only costs
 * a clone, never a failure.
 *
 * Design: docs/design/runtime-core.md, "Bind sources a user namespace cannot reach".
 */
import { dirname } from 'node:path';
import type { LinuxIDMapping } from '../oci/types.ts';
import type { IdMaps } from './idmap.ts';

const mapped = (maps: LinuxIDMapping[], hostId: number) => maps.some((m) => hostId >= m.hostID && hostId < m.hostID + m.size);
const hostOf = (maps: LinuxIDMapping[], id: number) => {
  const m = maps.find((e) => id >= e.containerID && id < e.containerID + e.size);
  return m && m.hostID + (id - m.containerID);
};

/** What stat(2) said of a directory above a mount source. */
export interface DirOwner {
  uid: number;
  gid: number;
  mode: number;
}

/** False when some directory above source cannot be searched by the namespace's root (owners: from the host probe). */
export function reachableInUserns(source: string, maps: IdMaps, owners: Record<string, DirOwner>): boolean {
  const uid = hostOf(maps.uid, 0);
  const gid = hostOf(maps.gid, 0);
  for (let dir = dirname(source); ; dir = dirname(dir)) {
    const st = owners[dir];
    if (st && !(mapped(maps.uid, st.uid) && mapped(maps.gid, st.gid))) {
      const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
      if (!(st.mode & bit)) return false;
    }
    if (dir === '/') return true;
  }
}
