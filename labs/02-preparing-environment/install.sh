#!/bin/sh
# install.sh [--check | --list]
#
# Installs the Debian packages the labs use (the [lab] section of
# packages.txt beside this script), skipping those already installed.
# With --check, installs nothing: lists what is missing and exits 1 if
# anything is. With --list, prints the section, with the reason for each.
#
# Containers From Scratch, chapter 2.
set -eu
list=$(dirname "$0")/packages.txt
section=$(sed -n '/^\[lab\]$/,/^\[/{/^\[/d;p}' "$list")
if [ "${1:-}" = --list ]; then
  echo "$section"
  exit 0
fi
pkgs=$(echo "$section" | sed 's/#.*//' | tr -s ' \n' '\n' | grep -v '^$')
missing=
for p in $pkgs; do
  [ "$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing="$missing $p"
done
total=$(echo "$pkgs" | wc -l)
if [ -z "$missing" ]; then
  echo "all $total lab packages are installed"
  exit 0
fi
echo "missing:$missing"
[ "${1:-}" = --check ] && exit 1
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root to install them" >&2; exit 1; }
apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
