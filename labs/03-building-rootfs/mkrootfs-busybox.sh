#!/bin/sh
# mkrootfs-busybox.sh DIR
#
# Builds a minimal root filesystem in DIR (which must not exist yet) from the
# static BusyBox on this machine: the directories programs expect, one
# symlink per applet, the few files in /etc that give names to ids and to the
# machine, and the device nodes a shell needs. About 2 MB, one real binary.
#
# Containers From Scratch, chapter 3.
set -eu
root=${1:?usage: mkrootfs-busybox.sh DIR}
[ ! -e "$root" ] || { echo "mkrootfs-busybox: $root already exists" >&2; exit 1; }
busybox=${BUSYBOX:-$(command -v busybox)}

# the skeleton; /tmp is world-writable with the sticky bit, like the host's
mkdir -p "$root"
cd "$root"
mkdir -p bin sbin usr/bin usr/sbin etc root proc sys dev tmp var/tmp run
chmod 1777 tmp var/tmp
chmod 0700 root

# one binary, and a symlink per applet (BusyBox picks its applet from argv[0])
cp "$busybox" bin/busybox
# (except linuxrc: an init for initial ramdisks, which a container is not)
for applet in $(bin/busybox --list-full); do
  [ "$applet" = linuxrc ] || [ -e "$applet" ] || ln -s /bin/busybox "$applet"
done

# names for uid/gid 0 and for nobody; a hostname; name resolution for localhost
cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > etc/group <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo minimal > etc/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > etc/hosts

# the device nodes a shell expects; a container runtime makes these itself
mknod -m 666 dev/null c 1 3
mknod -m 666 dev/zero c 1 5
mknod -m 666 dev/full c 1 7
mknod -m 666 dev/random c 1 8
mknod -m 666 dev/urandom c 1 9
mknod -m 666 dev/tty c 5 0
ln -s /proc/self/fd dev/fd
ln -s /proc/self/fd/0 dev/stdin
ln -s /proc/self/fd/1 dev/stdout
ln -s /proc/self/fd/2 dev/stderr
echo "$root: $(find . | wc -l) files, $(du -sk . | cut -f1) KiB"
