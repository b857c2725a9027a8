#!/bin/sh
# containerd-up.sh DIR
#
# Starts a containerd of the lab's own, everything it keeps under DIR: its
# root (images, snapshots), state, socket DIR/containerd.sock, log
# DIR/containerd.log, pid DIR/containerd.pid. The host's containerd, if it
# has one, is never touched. The CRI plugin (what the kubelet talks to) is
# on, with two runtime handlers, as a Kubernetes node would configure
# them for two RuntimeClasses:
#   runc    the runc shim (io.containerd.runc.v2) running runc
#   runts   the same shim running $RUNTS (default: the runts on PATH)
# each keeping its containers' state under DIR/<handler>; its pods get a
# network from the CNI bridge plugin: bridge lab10, 10.88.10.0/24, with
# the addresses it hands out recorded under DIR/ipam. The pods' sandbox
# image is localhost/lab/pause:1 (build it first: see the chapter).
# Stop it with containerd-down.sh DIR.
#
# Containers From Scratch, chapter 10.
set -eu
dir=${1:?usage: containerd-up.sh DIR}
mkdir -p "$dir/net.d"
dir=$(cd "$dir" && pwd)
runts=${RUNTS:-$(command -v runts)} || { echo "containerd-up: no runts on PATH (or set RUNTS)" >&2; exit 1; }
[ ! -S "$dir/containerd.sock" ] || { echo "containerd-up: $dir/containerd.sock exists: is a containerd running there?" >&2; exit 1; }

cat > "$dir/net.d/10-lab10.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "lab10",
  "plugins": [
    { "type": "bridge", "bridge": "lab10", "isGateway": true, "ipMasq": false,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.88.10.0/24" }]], "dataDir": "$dir/ipam" } }
  ]
}
JSON

cri='plugins."io.containerd.grpc.v1.cri"'
cat > "$dir/config.toml" <<TOML
version = 2
[debug]
  address = ""
[metrics]
  address = ""
[$cri]
  sandbox_image = "localhost/lab/pause:1"
  # the CRI plugin gives a sandbox an oom_score_adj of -998; a lab VM may refuse lowering it
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[$cri.containerd]
  default_runtime_name = "runc"
[$cri.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[$cri.containerd.runtimes.runc.options]
  Root = "$dir/runc"
[$cri.containerd.runtimes.runts]
  runtime_type = "io.containerd.runc.v2"
[$cri.containerd.runtimes.runts.options]
  BinaryName = "$runts"
  Root = "$dir/runts"
[$cri.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$dir/net.d"
TOML

containerd --config "$dir/config.toml" --root "$dir/root" --state "$dir/state" \
  --address "$dir/containerd.sock" > "$dir/containerd.log" 2>&1 &
echo $! > "$dir/containerd.pid"
for _ in $(seq 100); do
  ctr --address "$dir/containerd.sock" version > /dev/null 2>&1 && exit 0
  kill -0 "$(cat "$dir/containerd.pid")" 2> /dev/null || break
  sleep 0.1
done
echo "containerd-up: containerd did not answer on $dir/containerd.sock; its log:" >&2
tail -n 20 "$dir/containerd.log" >&2
exit 1
