#!/bin/sh
# look.sh PID
#
# What makes process PID a container, read from /proc: its namespaces next to
# ours, its cgroups, its root and mounts, its pid on both sides of the pid
# namespace, and its capabilities. Changes nothing.
#
# Containers From Scratch, chapter 1.
set -eu
pid=${1:?usage: look.sh PID}
here=$(dirname "$0")

echo "== process"
ps -o pid=,comm= -p "$pid"
echo "== namespaces (against this shell)"
"$here/compare-ns.sh" "$pid" $$ | awk 'NR > 1 { print "  " $1 ": " $4 }'
echo "== pid, from outside then from inside"
sed -n 's/^NSpid:[[:space:]]*/  /p' "/proc/$pid/status"
echo "== cgroups"
sed 's/^/  /' "/proc/$pid/cgroup"
echo "== its / (through /proc/$pid/root)"
echo "  $(ls "/proc/$pid/root" | tr '\n' ' ')"
echo "== mounts: $(wc -l < "/proc/$pid/mountinfo") in its mount namespace, $(wc -l < /proc/self/mountinfo) in ours"
echo "== capabilities (effective)"
sed -n 's/^CapEff:[[:space:]]*/  /p' "/proc/$pid/status"
