#!/bin/sh
# containerd-down.sh DIR
#
# Stops the containerd that containerd-up.sh started in DIR, after killing
# and deleting every task and container it still has, in every containerd
# namespace (remove pods with the lab's `cri stopp` and `cri rmp` first:
# that also gives their network back through CNI). A shim outlives its
# containerd by design, so this waits for the shims of DIR to exit.
#
# Containers From Scratch, chapter 10.
set -eu
dir=$(cd "${1:?usage: containerd-down.sh DIR}" && pwd)
ctr="ctr --address $dir/containerd.sock"
if [ -S "$dir/containerd.sock" ]; then
  for ns in $($ctr namespaces list --quiet); do
    for t in $($ctr -n "$ns" tasks list --quiet); do
      $ctr -n "$ns" tasks kill --signal KILL "$t" > /dev/null 2>&1 || true
      $ctr -n "$ns" tasks delete --force "$t" > /dev/null 2>&1 || true
    done
    for c in $($ctr -n "$ns" containers list --quiet); do $ctr -n "$ns" containers delete "$c" > /dev/null 2>&1 || true; done
  done
fi
if [ -f "$dir/containerd.pid" ]; then
  pid=$(cat "$dir/containerd.pid")
  kill "$pid" 2> /dev/null || true
  while kill -0 "$pid" 2> /dev/null; do sleep 0.1; done
  rm -f "$dir/containerd.pid"
fi
for _ in $(seq 100); do
  pgrep -f "containerd-shim-runc-v2 .*-address $dir/" > /dev/null || exit 0
  sleep 0.1
done
echo "containerd-down: shims of $dir still running: $(pgrep -f "containerd-shim-runc-v2 .*-address $dir/" | tr '\n' ' ')" >&2
exit 1
