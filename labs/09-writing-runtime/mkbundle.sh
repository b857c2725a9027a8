#!/bin/sh
# mkbundle.sh DIR
#
# Makes the test bundle of chapter 9 in DIR (which must not exist yet): the
# BusyBox root filesystem of the project's build, the project's probe
# (test/probe/probe.c, built static) as /probe, a directory data/ to bind
# into the container read-only, and a config.json that asks for everything
# tiny learns to do, level by level: namespaces, a hostname, mounts, a
# memory and a pids limit, a network (an annotation of tiny's), a user, the
# capabilities to keep, no_new_privs and a seccomp filter.
#
# Containers From Scratch, chapter 9.
set -eu
dir=${1:?usage: mkbundle.sh DIR}
[ ! -e "$dir" ] || { echo "mkbundle: $dir already exists" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ -d "$repo/dist/images/busybox/rootfs" ] || { echo "mkbundle: build the project first ($repo/dist is missing)" >&2; exit 1; }
mkdir -p "$dir/data"
cp -a "$repo/dist/images/busybox/rootfs" "$dir/rootfs"
cc -static -O2 -o "$dir/rootfs/probe" "$repo/test/probe/probe.c"
echo "hello from the host" > "$dir/data/hello"
cat > "$dir/config.json" <<'JSON'
{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": { "uid": 1000, "gid": 1000, "additionalGids": [1001] },
    "args": ["/probe"],
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello from tiny"],
    "cwd": "/tmp",
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_NET_BIND_SERVICE"],
      "inheritable": ["CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_NET_BIND_SERVICE"]
    },
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs" },
  "hostname": "tiny",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { "destination": "/data", "type": "bind", "source": "data", "options": ["bind", "ro"] }
  ],
  "linux": {
    "namespaces": [
      { "type": "pid" }, { "type": "mount" }, { "type": "uts" },
      { "type": "ipc" }, { "type": "network" }, { "type": "cgroup" }
    ],
    "resources": {
      "memory": { "limit": 67108864 },
      "pids": { "limit": 32 }
    },
    "seccomp": {
      "defaultAction": "SCMP_ACT_ALLOW",
      "architectures": ["SCMP_ARCH_X86_64"],
      "syscalls": [
        { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 }
      ]
    }
  },
  "annotations": { "tiny.network": "10.209.0.1/24 10.209.0.2/24" }
}
JSON
