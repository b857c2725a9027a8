#!/bin/bash
# cleanup.sh - remove what chapter 11 makes, if it is there: the chapter's
# user c11user (its processes, such as podman's pause process, its home and
# its /etc/subuid and /etc/subgid lines), its runtime directory, the shared
# checkout mounted on /tmp/c11/app, and /tmp/c11. Silent when there is
# nothing to remove; the chapter runs it first (an earlier attempt that
# stopped half-way leaves a user behind) and last.
#
# Containers From Scratch, chapter 11.
set -u
if uid=$(id -u c11user 2>/dev/null); then
  pkill -KILL -u c11user 2>/dev/null && sleep 0.5
  userdel --remove c11user 2>&1 | grep -v 'mail spool\|home directory'
  rm -rf "/run/user/$uid"
fi
mountpoint -q /tmp/c11/app && umount /tmp/c11/app
rm -rf /tmp/c11
exit 0
