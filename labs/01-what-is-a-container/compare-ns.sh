#!/bin/sh
# compare-ns.sh PID [OTHER-PID]
#
# For each kind of namespace, print whether process PID is in the same one as
# OTHER-PID (default: this shell) or in its own. Two processes share a
# namespace exactly when their /proc/PID/ns/KIND links name the same inode.
#
# Containers From Scratch, chapter 1.
set -eu
pid=${1:?usage: compare-ns.sh PID [OTHER-PID]}
other=${2:-$$}
printf '%-8s %-22s %-22s %s\n' KIND "PID $pid" "PID $other" VERDICT
for kind in cgroup ipc mnt net pid time user uts; do
  a=$(readlink "/proc/$pid/ns/$kind")
  b=$(readlink "/proc/$other/ns/$kind")
  if [ "$a" = "$b" ]; then verdict=shared; else verdict=own; fi
  printf '%-8s %-22s %-22s %s\n' "$kind" "$a" "$b" "$verdict"
done
