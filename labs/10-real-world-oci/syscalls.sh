#!/bin/sh
# syscalls.sh BUNDLE RUNTIME...
#
# Runs the bundle in DIR to completion once under each RUNTIME (`RUNTIME
# run`, its own state directory), each under `strace -f -c`, and prints one
# table: how many times each runtime made a few telling system calls, and
# all calls together (the runtime's own work, the process it runs, and for
# a runtime in Go or JavaScript, its threads' futex calls; the thread
# counts vary from run to run).
#
# Containers From Scratch, chapter 10.
set -eu
bundle=${1:?usage: syscalls.sh BUNDLE RUNTIME...}
shift
[ $# -gt 0 ] || { echo "usage: syscalls.sh BUNDLE RUNTIME..." >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
names="execve unshare clone3 mount pivot_root sethostname capset seccomp"
for rt; do
  # strace exits with the status of the program it ran
  strace -f -c -U name,calls -o "$work/$(basename "$rt")" \
    "$rt" --root "$work/state-$(basename "$rt")" run --bundle "$bundle" "c10-syscalls-$$" > /dev/null
done
{
  printf 'syscall'
  for rt; do printf ' %s' "$(basename "$rt")"; done
  echo
  for n in $names total; do
    printf '%s' "$n"
    for rt; do printf ' %s' "$(awk -v n="$n" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$work/$(basename "$rt")")"; done
    echo
  done
} | column -t
