#!/bin/sh
# cgrun.sh - run a command inside a cgroup (v2).
#
#   cgrun.sh CGROUP COMMAND [ARG...]
#
# CGROUP is a directory under /sys/fs/cgroup (c05/mem) or an absolute path.
# The shell writes its own pid to the cgroup's cgroup.procs, which moves it
# there, then becomes COMMAND with exec: the command and everything it forks
# start life in the cgroup. That is all cgexec, systemd-run --scope or a
# container runtime does to put a process in a cgroup.
#
# The book: docs/05-cgroups.md.
set -e
[ $# -ge 2 ] || { echo "usage: cgrun.sh CGROUP COMMAND [ARG...]" >&2; exit 2; }
case $1 in
  /*) cg=$1 ;;
  *) cg=/sys/fs/cgroup/$1 ;;
esac
shift
echo $$ > "$cg/cgroup.procs"
exec "$@"
