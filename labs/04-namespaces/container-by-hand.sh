#!/bin/sh
# container-by-hand.sh ROOTFS COMMAND [ARG...]
#
# Runs COMMAND in ROOTFS in new mount, uts, ipc, net and pid namespaces, with
# ROOTFS as / through pivot_root, a fresh /proc and the hostname "by-hand".
# What a runtime does, without cgroups, capabilities or seccomp: the
# isolation half of a container and none of the confinement.
#
# Containers From Scratch, chapter 4.
set -eu
root=$(cd "${1:?usage: container-by-hand.sh ROOTFS COMMAND [ARG...]}" && pwd)
shift
[ $# -gt 0 ] || { echo "usage: container-by-hand.sh ROOTFS COMMAND [ARG...]" >&2; exit 2; }

# What runs inside the new namespaces, as their pid 1 (until it execs COMMAND)
inside='
set -eu
root=$1; shift
# pivot_root needs the new root to be a mount point: bind it onto itself
mount --bind "$root" "$root"
cd "$root"
mkdir -p .old-root proc
# swap: the rootfs becomes /, the old / moves to /.old-root ...
pivot_root . .old-root
# ... and is detached, so no path leads back to the host files
umount -l /.old-root
rmdir /.old-root
# /proc for our new pid namespace
mount -t proc proc /proc
hostname by-hand
exec "$@"
'
exec unshare --mount --uts --ipc --net --pid --fork --propagation private \
  /bin/sh -c "$inside" inside "$root" "$@"
