#!/bin/sh
# cgtree.sh - a cgroup v2 subtree, one line per cgroup.
#
#   cgtree.sh [DIR]      (default /sys/fs/cgroup)
#
# For each cgroup: its name (indented by depth), how many processes it holds,
# the controllers it hands to its children (cgroup.subtree_control, after
# "+"), and those of memory.max, memory.high, cpu.max, cpu.weight, pids.max,
# io.max and cgroup.freeze that differ from their defaults.
#
# The book: docs/05-cgroups.md.
root=${1:-/sys/fs/cgroup}
root=${root%/}
[ -f "$root/cgroup.procs" ] || { echo "cgtree.sh: $root is not a cgroup v2 directory" >&2; exit 2; }
find "$root" -type d | sort | while read -r dir; do
  rel=${dir#"$root"}
  depth=$(printf '%s' "$rel" | tr -cd / | wc -c)
  name=${rel##*/}
  [ -n "$name" ] || name=$root
  line=$(printf '%*s%s  procs=%s' $((depth * 2)) '' "$name" "$(wc -l < "$dir/cgroup.procs")")
  sub=$(cat "$dir/cgroup.subtree_control" 2>/dev/null)
  [ -n "$sub" ] && line="$line  +[$sub]"
  for f in memory.max memory.high cpu.max cpu.weight pids.max io.max cgroup.freeze; do
    [ -f "$dir/$f" ] || continue
    v=$(cat "$dir/$f")
    case "$f=$v" in
      memory.max=max | memory.high=max | "cpu.max=max 100000" | cpu.weight=100 | pids.max=max | io.max= | cgroup.freeze=0) ;;
      *) line="$line  $f=$(printf '%s' "$v" | tr '\n' ';')" ;;
    esac
  done
  echo "$line"
done
