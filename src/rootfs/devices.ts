/**
 * /dev inside the container: the devices and symlinks the runtime spec
 * requires, plus linux.devices.
 *
 * A container gets a private tmpfs /dev with a handful of harmless nodes, never
 * the host's /dev. In a user namespace mknod is forbidden, so each node is a
 * bind mount of the host's node instead.
 *
 * The book: docs/03-building-rootfs.md, "Device nodes".
 */
import type { LinuxDevice, Mount } from '../oci/types.ts';
import { steps, type Step } from '../protocol/steps.ts';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

const DEFAULT_DEVICES: LinuxDevice[] = ([
  { path: '/dev/null', type: 'c', major: 1, minor: 3 },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5 },
  { path: '/dev/full', type: 'c', major: 1, minor: 7 },
  { path: '/dev/random', type: 'c', major: 1, minor: 8 },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9 },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0 },
] as const).map((d) => ({ ...d, fileMode: 0o666, uid: 0, gid: 0 }));

/** runc's rule: a bind mount over /dev means the user brings their own. */
export function needsDevSetup(mounts: Mount[]): boolean {
  return !mounts.some((m) => m.destination.replace(/\/+$/, '') === '/dev' && (m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind')));
}

/** kcore: the host has /proc/kcore (the host probe says), which /dev/core points at. */
export function deviceSteps(devices: LinuxDevice[], opts: { setupDev: boolean; inUserns: boolean; kcore: boolean }): Step[] {
  const wanted = new Map<string, LinuxDevice>();
  if (opts.setupDev) for (const d of DEFAULT_DEVICES) wanted.set(d.path, d);
  for (const d of devices) wanted.set(d.path, d);
  const out: Step[] = [];
  for (const d of wanted.values()) {
    if (opts.inUserns) {
      out.push(steps.bindDevice(d.path, d.path));
      continue;
    }
    const type = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR;
    out.push(steps.mknod({ path: d.path, mode: type | ((d.fileMode ?? 0o666) & 0o7777), major: d.major ?? 0, minor: d.minor ?? 0, uid: d.uid ?? 0, gid: d.gid ?? 0 }));
  }
  if (opts.setupDev) {
    out.push(steps.symlink('/proc/self/fd', '/dev/fd'));
    ['stdin', 'stdout', 'stderr'].forEach((name, fd) => out.push(steps.symlink(`/proc/self/fd/${fd}`, `/dev/${name}`)));
    if (opts.kcore) out.push(steps.symlink('/proc/kcore', '/dev/core'));
    out.push(steps.symlink('pts/ptmx', '/dev/ptmx'));
  }
  return out;
}
