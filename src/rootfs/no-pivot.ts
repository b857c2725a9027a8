/**
 * --no-pivot: what must go from the host's mount tree before the chroot.
 *
 * Without pivot_root the host's mounts stay in the container's mount
 * namespace, under its root. The kernel allows a new proc or sysfs mount
 * (in a nested user namespace, say) only where one is fully visible, and
 * the host's /proc and /sys are: a container could mount a bare /proc, with
 * none of the masked and read-only paths. So every full proc and sysfs mount
 * outside the container's root is detached first (runc does the same).
 *
 * The book: docs/09-writing-runtime.md, "Deep dive: why pivot_root needs a
 * mount point".
 */
import { unescapeMountPath } from '../sys/mounts.ts';

/** Mount points of full (root "/") proc and sysfs mounts outside rootfs, in mountinfo order (parents first); mountinfo as the host probe read it (plan/host.ts). */
export function hostPseudoMounts(rootfs: string, mountinfo: string): string[] {
  const inside = (p: string) => p === rootfs || p.startsWith(rootfs.endsWith('/') ? rootfs : `${rootfs}/`);
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const fields = pre.split(' ');
    const fstype = post.split(' ')[0];
    const root = unescapeMountPath(fields[3] ?? '');
    const mountPoint = unescapeMountPath(fields[4] ?? '');
    if (root === '/' && (fstype === 'proc' || fstype === 'sysfs') && !inside(mountPoint)) out.push(mountPoint);
  }
  return out;
}
