#!/bin/sh
# mkbundle.sh DIR [ARG...]
#
# Makes an OCI bundle in DIR (which must not exist yet): the BusyBox root
# filesystem of the project's build, and the config.json that `runts spec`
# writes, with no terminal, the hostname lab10 and ARG... as the process
# (default: sleep 600).
# The same bundle runs under runc, runts, crun and runsc: nothing in it is
# particular to one runtime.
#
# Containers From Scratch, chapter 10.
set -eu
dir=${1:?usage: mkbundle.sh DIR [ARG...]}
shift
[ ! -e "$dir" ] || { echo "mkbundle: $dir already exists" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ -d "$repo/dist/images/busybox/rootfs" ] || { echo "mkbundle: build the project first ($repo/dist is missing)" >&2; exit 1; }
[ $# -gt 0 ] || set -- sleep 600
mkdir -p "$dir"
cp -a "$repo/dist/images/busybox/rootfs" "$dir/rootfs"
(cd "$dir" && "$repo/bin/runts" spec)
# ociVersion 1.0.2: the version every runtime here knows (crun 1.8 refuses
# a config newer than the spec it implements, and runts spec writes 1.2.0)
args=$(printf '%s\0' "$@" | jq -R -s -c 'split("\u0000") | if .[-1] == "" then .[:-1] else . end')
jq --argjson args "$args" '.ociVersion = "1.0.2" | .process.terminal = false | .process.args = $args | .hostname = "lab10"' \
  "$dir/config.json" > "$dir/config.json.new"
mv "$dir/config.json.new" "$dir/config.json"
