#!/bin/sh
# build-busybox.sh [defconfig|small]
#
# Builds a static BusyBox from the source Debian builds its own busybox
# packages from, in the current directory.
#
# The source comes from the Debian mirror with `apt-get source`, through a
# private apt configuration under ./apt: a sources list with one deb-src line
# of its own, and its own package lists and cache, so the machine's apt setup
# is left exactly as it was. apt checks what it downloads against the
# archive's signed index, as it does for packages. Then:
#
#   defconfig  (the default) every common applet, as `make defconfig` picks
#              them: a few minutes on two cores;
#   small      `make allnoconfig`, then a shell (ash) and a handful of
#              applets: well under a minute.
#
# Either way the binary is static (CONFIG_STATIC=y: it must run alone in a
# root filesystem), and the tc applet is left out (it does not build against
# kernel headers from Linux 6.8 on: CBQ was removed). The result is
# busybox-VERSION/busybox; the build's messages go to busybox-build.log.
# Needs dpkg-dev (apt-get source unpacks with dpkg-source), gcc, make, bzip2
# and xz-utils.
#
# Containers From Scratch, chapter 2.
set -eu
config=${1:-defconfig}
case $config in defconfig | small) ;; *) echo "usage: build-busybox.sh [defconfig|small]" >&2; exit 2 ;; esac

# 1. The source, through a private apt configuration.
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
mkdir -p apt/lists/partial apt/cache/archives/partial apt/sources.list.d
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" > apt/sources.list
apt() {
  apt-get -q -o Dir::Etc::SourceList="$PWD/apt/sources.list" -o Dir::Etc::SourceParts="$PWD/apt/sources.list.d" \
    -o Dir::State::Lists="$PWD/apt/lists" -o Dir::Cache="$PWD/apt/cache" -o APT::Sandbox::User=root "$@"
}
if ! ls -d busybox-[0-9]*/ > /dev/null 2>&1; then
  apt update > apt/update.log 2>&1 || { cat apt/update.log >&2; exit 1; }
  apt source busybox > apt/source.log 2>&1 || { cat apt/source.log >&2; exit 1; }
fi
dir=$(ls -d busybox-[0-9]*/ | sed -n 1p)
cd "$dir"

# 2. The configuration.
if [ "$config" = small ]; then
  make -s allnoconfig > /dev/null
  for opt in BUSYBOX ASH SH_IS_ASH ASH_ECHO CAT ECHO LS MKDIR HOSTNAME ID PS UNAME MOUNT; do
    sed -i "s/^# CONFIG_$opt is not set\$/CONFIG_$opt=y/" .config
  done
else
  make -s defconfig > /dev/null
fi
sed -i 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/; s/^CONFIG_TC=y$/# CONFIG_TC is not set/' .config
# settle what the switches above imply, taking the default for every question
yes "" | make oldconfig > /dev/null 2>&1

# 3. The build.
make -j"$(nproc)" > ../busybox-build.log 2>&1 || { tail -n 20 ../busybox-build.log >&2; exit 1; }
./busybox | sed -n 1p
