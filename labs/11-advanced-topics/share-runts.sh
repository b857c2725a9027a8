#!/bin/sh
# share-runts.sh DEST
#
# Makes this checkout's runts reachable by every user: bind-mounts the
# checkout, read-only, on DEST (created if needed). The checkout usually
# lives in root's home, which no other user may enter; its own files are
# readable by all (bin/runts, dist/, Node under node_modules/), so a second
# path to them that does not pass through the home is all an unprivileged
# user needs. DEST/bin/runts is then the command. `umount DEST` undoes it.
#
# Containers From Scratch, chapter 11.
set -eu
dest=${1:?usage: share-runts.sh DEST}
repo=$(cd "$(dirname "$0")/../.." && pwd -P)
[ -f "$repo/dist/runts.mjs" ] || { echo "share-runts: build the project first ($repo/dist is missing)" >&2; exit 1; }
mkdir -p "$dest"
mount --bind "$repo" "$dest"
mount -o remount,bind,ro "$dest"
echo "runts for every user: $dest/bin/runts"
