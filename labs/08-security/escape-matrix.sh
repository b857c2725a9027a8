#!/usr/bin/env bash
# escape-matrix.sh - which defence stops which escape attempt?
#
#   escape-matrix.sh BUNDLE
#
# BUNDLE holds a config.json with every defence on (capabilities, seccomp,
# masked and read-only paths, no_new_privs) and a rootfs/ with the lab's
# static /attempt and a setuid-root /suid-id in it (docs/08-security.md
# builds one). For each column, the script writes a copy of the config with
# some defences turned off (jq), runs a container of it with runts, tries
# every attempt inside, and prints one row per attempt:
#
#   mount      mount(2) a tmpfs                    (CAP_SYS_ADMIN)
#   mknod      make a block device node, 7:0       (CAP_MKNOD)
#   open-blk   open that node                      (the devices cgroup)
#   settime    set the clock                       (CAP_SYS_TIME, seccomp)
#   reboot     reboot(2)                           (CAP_SYS_BOOT, the pid namespace)
#   sysctl     write /proc/sys/vm/drop_caches      (read-only /proc/sys)
#   timers     read /proc/timer_list               (masked path)
#   setuid     run /suid-id as uid 1000            (no_new_privs)
#
# A cell is the kernel's answer: ok, or the errno ("-": not tried, as there
# is no node to open). For reboot (CAD_OFF, harmless even when allowed),
# EINVAL means CAP_SYS_BOOT was there and the pid namespace refused the
# command. settime sets the clock to the time it has just read: when it
# succeeds, the host's clock jumps back by microseconds. timers: "empty"
# (masked), "LEAKS" (the host's timers, with the names and pids of host
# processes) or the errno of the read; setuid: "ROOT" when /suid-id ran with
# euid 0, "ignored" when the setuid bit was ignored.
#
# The columns: all (every defence on); then one off at a time: caps (every
# capability), seccomp, masks (maskedPaths and readonlyPaths), nnp
# (no_new_privs); then none (all four off), and userns (all four off,
# in a user namespace whose root is host uid 100000). Container ids start
# with c08-esc-.
#
# Needs runts and jq, as root. The book: docs/08-security.md, "An escape matrix".
set -euo pipefail
bundle=$(cd "${1:?usage: escape-matrix.sh BUNDLE}" && pwd)
[[ -x $bundle/rootfs/attempt && -u $bundle/rootfs/suid-id ]] || { echo "escape-matrix: $bundle/rootfs needs /attempt and a setuid /suid-id" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy of the root, in a directory anyone may enter: in a user namespace,
# root of the container is host uid 100000, which must reach the rootfs
# (a home directory, mode 0700, would stop it).
chmod 755 "$work"
cp -a "$bundle/rootfs" "$work/rootfs"

ALL_CAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_LINUX_IMMUTABLE","CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST","CAP_NET_ADMIN","CAP_NET_RAW","CAP_IPC_LOCK","CAP_IPC_OWNER","CAP_SYS_MODULE","CAP_SYS_RAWIO","CAP_SYS_CHROOT","CAP_SYS_PTRACE","CAP_SYS_PACCT","CAP_SYS_ADMIN","CAP_SYS_BOOT","CAP_SYS_NICE","CAP_SYS_RESOURCE","CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_MKNOD","CAP_LEASE","CAP_AUDIT_WRITE","CAP_AUDIT_CONTROL","CAP_SETFCAP","CAP_MAC_OVERRIDE","CAP_MAC_ADMIN","CAP_SYSLOG","CAP_WAKE_ALARM","CAP_BLOCK_SUSPEND","CAP_AUDIT_READ","CAP_PERFMON","CAP_BPF","CAP_CHECKPOINT_RESTORE"]'

# jq filters that turn one defence off
declare -A OFF=(
  [caps]=".process.capabilities = {bounding: $ALL_CAPS, effective: $ALL_CAPS, permitted: $ALL_CAPS}"
  [seccomp]='del(.linux.seccomp)'
  [masks]='del(.linux.maskedPaths, .linux.readonlyPaths)'
  [nnp]='.process.noNewPrivileges = false'
  # root in the container is host uid 100000; v1 cgroup hierarchies cannot be mounted there
  [userns]='.linux.namespaces += [{type: "user"}]
    | .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
    | .linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
    | .mounts |= map(select(.destination != "/sys/fs/cgroup"))'
)
COLUMNS_=(all caps seccomp masks nnp none userns)
off_list() {
  case $1 in
    all) ;;
    none) echo caps seccomp masks nnp ;;
    userns) echo caps seccomp masks nnp userns ;;
    *) echo "$1" ;;
  esac
}

# What runs inside, as root: one "name result" line per attempt.
PROBE='
/attempt mount tmpfs /tmp
/attempt mknod /dev/blk 7 0
/attempt open /dev/blk
/attempt settime
/attempt reboot
r=$( (echo 1 > /proc/sys/vm/drop_caches) 2>&1) && echo "{\"attempt\":\"sysctl\",\"result\":\"ok\"}" || case $r in
  *Read-only*) echo "{\"attempt\":\"sysctl\",\"result\":\"EROFS\"}" ;;
  *denied*) echo "{\"attempt\":\"sysctl\",\"result\":\"EACCES\"}" ;;
  *) echo "{\"attempt\":\"sysctl\",\"result\":\"other\"}" ;;
esac
if n=$(wc -c < /proc/timer_list 2>/dev/null); then [ "$n" -gt 0 ] && t=LEAKS || t=empty; else t=EACCES; fi
echo "{\"attempt\":\"timers\",\"result\":\"$t\"}"
'

declare -A cell
n=0
for col in "${COLUMNS_[@]}"; do
  n=$((n + 1))
  filter='.process.terminal = false | .root.path = $rootfs'
  for d in $(off_list "$col"); do filter+=" | ${OFF[$d]}"; done
  dir=$work/$n
  mkdir -p "$dir"
  jq --arg rootfs "$work/rootfs" "$filter"' | .process.args = ["/bin/sh", "-c", $probe]' --arg probe "$PROBE" "$bundle/config.json" > "$dir/config.json"
  out=$(runts run --bundle "$dir" "c08-esc-$n" 2>&1) || true
  while IFS= read -r line; do
    [[ $line == '{"attempt"'* ]] || continue
    name=$(jq -r .attempt <<<"$line")
    [[ $name == open ]] && name=open-blk
    cell[$name,$col]=$(jq -r .result <<<"$line")
  done <<<"$out"
  grep -q '^{"attempt"' <<<"$out" || echo "escape-matrix: $col: $(grep -m 1 '^runts: [^w]' <<<"$out")" >&2
  # the setuid attempt, as uid 1000
  jq '.process.user = {uid: 1000, gid: 1000} | .process.args = ["/suid-id"]' "$dir/config.json" > "$dir/c.json" && mv "$dir/c.json" "$dir/config.json"
  out=$(runts run --bundle "$dir" "c08-esc-$n" 2>&1) || true
  case $out in
    *" euid=0 "*) cell[setuid,$col]=ROOT ;;
    *" euid=1000 "*) cell[setuid,$col]=ignored ;;
    *) cell[setuid,$col]=failed; echo "escape-matrix: $col, setuid: $out" >&2 ;;
  esac
  [[ ${cell[mknod,$col]:-} == ok ]] || cell[open-blk,$col]=-
done

printf '%-9s' attempt
for col in "${COLUMNS_[@]}"; do printf ' %-8s' "$col"; done
printf '\n'
for a in mount mknod open-blk settime reboot sysctl timers setuid; do
  printf '%-9s' "$a"
  for col in "${COLUMNS_[@]}"; do printf ' %-8s' "${cell[$a,$col]:-?}"; done
  printf '\n'
done
