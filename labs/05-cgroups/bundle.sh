#!/bin/sh
# bundle.sh - an OCI bundle of the built-in busybox image, for one command.
#
#   bundle.sh DIR COMMAND [ARG...]
#
# Copies runts's busybox root filesystem into DIR/rootfs, writes the default
# config.json with `runts spec`, and sets the process: no terminal, and
# COMMAND as its argv. Change the rest (linux.resources, ...) with jq.
# Needs runts and jq on PATH; RUNTS_CHECKOUT is the checkout (default ~/runts).
#
# The book: docs/05-cgroups.md.
set -e
[ $# -ge 2 ] || { echo "usage: bundle.sh DIR COMMAND [ARG...]" >&2; exit 2; }
dir=$1
shift
checkout=${RUNTS_CHECKOUT:-$HOME/runts}
mkdir -p "$dir"
cd "$dir"
rm -rf rootfs config.json
cp -a "$checkout/dist/images/busybox/rootfs" rootfs
runts spec
args=$(jq -cn '$ARGS.positional' --args "$@")
jq --argjson args "$args" '.process.terminal = false | .process.args = $args' config.json > config.json.new
mv config.json.new config.json
