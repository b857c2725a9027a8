/**
 * Idmapped mounts: a bind mount whose files show other owners than on disk.
 *
 * A mount's uidMappings/gidMappings (runtime-spec 1.2) say how ids on the
 * source filesystem appear through the mount, in the same form as a user
 * namespace's maps: a file owned by containerID on disk is seen as owned by
 * hostID. The kernel takes such a mapping from a user namespace
 * (mount_setattr MOUNT_ATTR_IDMAP), so the executor makes one per mount with
 * exactly these maps. With the "idmap"/"ridmap" option and no mappings, the
 * container's own user namespace maps are used: a host directory owned by
 * root then appears owned by the container's root, the case Kubernetes pods
 * with user namespaces need.
 *
 * Only a process privileged over the source filesystem may idmap a mount, so
 * the executor's PARENT builds the idmapped tree on the host side before
 * clone (STEP_IDMAP_TREE) and INIT attaches it in the container's root
 * (STEP_MOUNT_TREE), in the mount's place in config order.
 *
 * The book: docs/04-namespaces.md (user namespaces), docs/11-advanced-topics.md (idmapped mounts).
 */
import { RuntsError } from '../errors.ts';
import type { LinuxIDMapping, Mount } from '../oci/types.ts';
import { MOUNT_ATTR as ATTR, MS, type ParsedMountOptions } from './mount-options.ts';

export interface IdMaps {
  uid: LinuxIDMapping[];
  gid: LinuxIDMapping[];
}

/** The mount's id mapping, or undefined when the mount is not idmapped. */
export function mountIdMaps(m: Mount, opts: ParsedMountOptions, where: string, containerMaps: IdMaps | undefined): IdMaps | undefined {
  const uid = m.uidMappings ?? [];
  const gid = m.gidMappings ?? [];
  if (!opts.idmap && !uid.length && !gid.length) return undefined;
  if (!uid.length !== !gid.length) {
    const [given, missing] = uid.length ? ['uidMappings', 'gidMappings'] : ['gidMappings', 'uidMappings'];
    throw new RuntsError('EINVAL_CONFIG', `${where}.${missing}: required with ${given} (an idmapped mount maps both)`);
  }
  if (uid.length) return { uid, gid };
  if (!containerMaps) {
    throw new RuntsError('EINVAL_CONFIG', `${where}.options: "${opts.idmap}" without uidMappings and gidMappings needs a new user namespace, whose mappings the mount then uses`);
  }
  return containerMaps;
}

/**
 * The mount's MS_* flags as mount attributes, set on the detached tree in the
 * same call as the mapping. As with a bind mount, what the options do not
 * name is kept from the source; an atime option replaces the source's.
 */
export function mountAttributes(flags: number): { attrSet: number; attrClear: number } {
  const pairs: [number, number][] = [[MS.RDONLY, ATTR.RDONLY], [MS.NOSUID, ATTR.NOSUID], [MS.NODEV, ATTR.NODEV], [MS.NOEXEC, ATTR.NOEXEC],
    [MS.NODIRATIME, ATTR.NODIRATIME], [MS.NOSYMFOLLOW, ATTR.NOSYMFOLLOW], [MS.NOATIME, ATTR.NOATIME], [MS.STRICTATIME, ATTR.STRICTATIME]];
  const attrSet = pairs.reduce((set, [ms, attr]) => (flags & ms ? set | attr : set), 0);
  const atime = flags & (MS.NOATIME | MS.STRICTATIME | MS.RELATIME);
  return { attrSet, attrClear: atime ? ATTR.ATIME_MASK : 0 };
}

/** The text a uid_map or gid_map file takes. */
export function idMapText(maps: LinuxIDMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}
