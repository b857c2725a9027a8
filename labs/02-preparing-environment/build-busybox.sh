#!/bin/sh
# build-busybox.sh VERSION [DIR]
#
# Downloads BusyBox VERSION (e.g. 1.36.1) from busybox.net, checks it
# against the .sha256 file published beside it, and builds a static binary
# into DIR (default: ./busybox-VERSION). Needs gcc, make, bzip2 and curl.
#
# Containers From Scratch, chapter 2.
set -eu
v=${1:?usage: build-busybox.sh VERSION [DIR]}
dir=${2:-busybox-$v}
url=https://busybox.net/downloads/busybox-$v.tar.bz2
curl -fsSLO "$url"
curl -fsSL "$url.sha256" | sha256sum -c -
tar xjf "busybox-$v.tar.bz2"
[ "$dir" = "busybox-$v" ] || mv "busybox-$v" "$dir"
cd "$dir"
make -s defconfig
# one binary that needs no shared libraries: it must run alone in a rootfs
sed -i 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' .config
# tc does not build against kernel headers from 6.8 on (CBQ was removed)
sed -i 's/^CONFIG_TC=y$/# CONFIG_TC is not set/' .config
make -s -j"$(nproc)"
./busybox | head -n 1
