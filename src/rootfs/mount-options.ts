/**
 * OCI mount options -> mount(2) flags, propagation changes and filesystem data.
 *
 * The kernel takes generic options ("ro", "nosuid") as MS_* bits, propagation
 * ("rshared") only in a separate mount call, and everything else ("size=64k",
 * "mode=755") as a comma-separated data string for the filesystem. A few
 * options are the runtime's, never the kernel's: "idmap" and "ridmap"
 * (rootfs/idmap.ts), runc's recursive "r" options (mount_setattr), and
 * "tmpcopyup", runc's and crun's: a tmpfs that starts with a copy of what the
 * image has at its mount point (rootfs/mounts.ts decides the steps,
 * native/steps_copyup.c copies; podman asks for it with --tmpfs and
 * --read-only).
 *
 * The book: docs/04-namespaces.md (mount propagation), docs/03-building-rootfs.md
 * (tmpcopyup), docs/09-writing-runtime.md.
 */
import { RuntsError } from '../errors.ts';

export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** option -> [bits to set, bits to clear] */
const FLAG_OPTIONS: Record<string, [number, number]> = {
  ro: [MS.RDONLY, 0],
  rw: [0, MS.RDONLY],
  nosuid: [MS.NOSUID, 0],
  suid: [0, MS.NOSUID],
  nodev: [MS.NODEV, 0],
  dev: [0, MS.NODEV],
  noexec: [MS.NOEXEC, 0],
  exec: [0, MS.NOEXEC],
  sync: [MS.SYNCHRONOUS, 0],
  async: [0, MS.SYNCHRONOUS],
  dirsync: [MS.DIRSYNC, 0],
  mand: [MS.MANDLOCK, 0],
  nomand: [0, MS.MANDLOCK],
  noatime: [MS.NOATIME, 0],
  atime: [0, MS.NOATIME],
  nodiratime: [MS.NODIRATIME, 0],
  diratime: [0, MS.NODIRATIME],
  relatime: [MS.RELATIME, 0],
  norelatime: [0, MS.RELATIME],
  strictatime: [MS.STRICTATIME, 0],
  nostrictatime: [0, MS.STRICTATIME],
  lazytime: [MS.LAZYTIME, 0],
  nolazytime: [0, MS.LAZYTIME],
  nosymfollow: [MS.NOSYMFOLLOW, 0],
  symfollow: [0, MS.NOSYMFOLLOW],
  bind: [MS.BIND, 0],
  rbind: [MS.BIND | MS.REC, 0],
  remount: [MS.REMOUNT, 0],
};

const PROPAGATION_OPTIONS: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** MOUNT_ATTR_* bits of mount_setattr(2) (linux/mount.h). */
export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, ATIME_MASK: 0x70, RELATIME: 0, NOATIME: 0x10, STRICTATIME: 0x20, NODIRATIME: 0x80, NOSYMFOLLOW: 0x200000 } as const;

/**
 * runc's recursive options: applied with mount_setattr(AT_RECURSIVE) (native/steps_mounttree.c) to the
 * mount and every mount below it (an "rbind" tree). option -> [set, clear].
 * An atime choice clears the whole atime field, as the kernel requires.
 */
const RECURSIVE_OPTIONS: Record<string, [number, number]> = {
  rro: [MOUNT_ATTR.RDONLY, 0],
  rrw: [0, MOUNT_ATTR.RDONLY],
  rnosuid: [MOUNT_ATTR.NOSUID, 0],
  rsuid: [0, MOUNT_ATTR.NOSUID],
  rnodev: [MOUNT_ATTR.NODEV, 0],
  rdev: [0, MOUNT_ATTR.NODEV],
  rnoexec: [MOUNT_ATTR.NOEXEC, 0],
  rexec: [0, MOUNT_ATTR.NOEXEC],
  rnodiratime: [MOUNT_ATTR.NODIRATIME, 0],
  rdiratime: [0, MOUNT_ATTR.NODIRATIME],
  rnosymfollow: [MOUNT_ATTR.NOSYMFOLLOW, 0],
  rsymfollow: [0, MOUNT_ATTR.NOSYMFOLLOW],
  rnoatime: [MOUNT_ATTR.NOATIME, MOUNT_ATTR.ATIME_MASK],
  rrelatime: [MOUNT_ATTR.RELATIME, MOUNT_ATTR.ATIME_MASK],
  rstrictatime: [MOUNT_ATTR.STRICTATIME, MOUNT_ATTR.ATIME_MASK],
};

/** Options the runtime understands but the kernel does not (runc extensions). */
const UNSUPPORTED = new Set(['ratime', 'rnorelatime', 'rnostrictatime']);

/** The recursive options runts applies, and tmpcopyup (runts features lists them, as runc's does). */
export const RUNTIME_OPTION_NAMES = [...Object.keys(RECURSIVE_OPTIONS), 'tmpcopyup'];

export interface ParsedMountOptions {
  flags: number;
  /** The generic options that set flags, for explanations. */
  flagNames: string[];
  propagation: { flags: number; name: string }[];
  data: string;
  /** "idmap" or "ridmap" (recursive): the mount gets an id mapping (rootfs/idmap.ts). */
  idmap?: 'idmap' | 'ridmap';
  /** The "r" options: MOUNT_ATTR_* bits for the whole tree (none: set = clear = 0). */
  recursive: { set: number; clear: number; names: string[] };
  /** Where "tmpcopyup" is in the options (rootfs/mounts.ts checks the mount is a tmpfs). */
  copyUp?: number;
}

export function parseMountOptions(options: string[], where: string): ParsedMountOptions {
  let flags = 0;
  const flagNames: string[] = [];
  const propagation: ParsedMountOptions['propagation'] = [];
  const data: string[] = [];
  let idmap: ParsedMountOptions['idmap'];
  const recursive = { set: 0, clear: 0, names: [] as string[] };
  let copyUp: number | undefined;
  options.forEach((opt, i) => {
    const flag = FLAG_OPTIONS[opt];
    const prop = PROPAGATION_OPTIONS[opt];
    const rec = RECURSIVE_OPTIONS[opt];
    if (rec) {
      recursive.set = (recursive.set & ~rec[1] & ~rec[0]) | rec[0];
      recursive.clear = (recursive.clear & ~rec[0]) | rec[1];
      recursive.names.push(opt);
    } else if (flag) {
      flags = (flags | flag[0]) & ~flag[1];
      if (opt !== 'bind' && opt !== 'rbind') flagNames.push(opt);
    } else if (prop !== undefined) {
      propagation.push({ flags: prop, name: opt });
    } else if (opt === 'tmpcopyup') {
      copyUp = i;
    } else if (opt === 'idmap' || opt === 'ridmap') {
      idmap = idmap === 'ridmap' ? idmap : opt;
    } else if (UNSUPPORTED.has(opt)) {
      throw new RuntsError('ENOTSUP', `${where}.options[${i}]: mount option "${opt}" is not supported by runts`, { path: `${where}.options[${i}]` });
    } else {
      data.push(opt);
    }
  });
  return { flags, flagNames, propagation, data: data.join(','), recursive, ...(idmap && { idmap }), ...(copyUp !== undefined && { copyUp }) };
}

/** "rslave" style name of a propagation flag set, for explanations. */
export function propagationName(flags: number): string {
  const rec = flags & MS.REC ? 'r' : '';
  if (flags & MS.SHARED) return rec + 'shared';
  if (flags & MS.SLAVE) return rec + 'slave';
  if (flags & MS.UNBINDABLE) return rec + 'unbindable';
  return rec + 'private';
}

export function propagationFlags(name: string): number | undefined {
  return PROPAGATION_OPTIONS[name];
}
