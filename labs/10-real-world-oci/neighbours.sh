#!/bin/bash
# neighbours.sh RUNTIME...
#
# Runs one bundle (mkbundle.sh, BusyBox) under each RUNTIME in turn — runc,
# runts, crun, runsc (gVisor) — and prints what the process inside sees:
# the kernel it believes it runs on, the kernel's log, its seccomp mode,
# no_new_privs and effective capabilities, and how long 20 000 tiny
# system calls take (dd copying 10 000 single bytes: a read and a write
# each). runsc runs with --platform=ptrace (no KVM needed) and
# --network=none. A runtime that refuses the host says why, and the next
# one runs.
#
# Containers From Scratch, chapter 10.
set -u -o pipefail
[ $# -gt 0 ] || { echo "usage: neighbours.sh RUNTIME..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/mkbundle.sh" "$work/bundle" sh -c '
  echo "kernel: $(uname -r)"
  echo "dmesg: $(dmesg 2>&1 | head -n 1)"
  grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status | tr -s "\t\n" "  "; echo
  start=$(cut -d " " -f 1 /proc/uptime)
  dd if=/dev/zero of=/dev/null bs=1 count=10000 2> /dev/null
  echo "20000 syscalls: $(awk -v s="$start" "{ printf \"%d ms\", (\$1 - s) * 1000 }" /proc/uptime)"'
for rt; do
  echo "== $rt"
  case $rt in
    runsc) set -- runsc --platform=ptrace --network=none ;;
    *) set -- "$rt" ;;
  esac
  # stdio through pipes of its own: gVisor writes the container's output at
  # offset 0 of a file, and runsc chowns the stdio it is given to its sandbox
  # user (nobody): given the host's /dev/null or your terminal, it would
  # change their owner for everyone
  : | "$@" --root "$work/state-$rt" run --bundle "$work/bundle" "c10-$rt-$$" 2>&1 | cat || echo "($rt: exit status $?)"
done
