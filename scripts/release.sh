#!/usr/bin/env bash
# release.sh [OUTDIR] - makes the release tarball of this checkout:
# OUTDIR/containers-from-scratch-VERSION.tar.gz (OUTDIR: the current
# directory by default), VERSION being package.json's "version".
#
# The tarball is the source at HEAD (`git archive`: committed files only,
# nothing ignored, no build output), under one top directory,
# containers-from-scratch-VERSION/. That is all a reader needs: unpacked into
# ~/runts, `bash scripts/setup.sh` installs the packages and builds dist/, as
# in a clone (docs/02-preparing-environment.md shows both). The repository's
# address is package.json's "repository" field.
#
# Prints the tarball's path and its sha256, the checksum to publish beside it.
# Uncommitted changes are not in a release: it says so, and goes on.
set -euo pipefail

out=${1:-.}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -d $out ]] || { echo "release: $out is not a directory" >&2; exit 1; }
out=$(cd "$out" && pwd)
version=$(jq -r .version "$top/package.json")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || { echo "release: no version in package.json" >&2; exit 1; }
name=containers-from-scratch-$version
git -C "$top" rev-parse --git-dir > /dev/null 2>&1 || { echo "release: $top is not a git clone: a release is made from one" >&2; exit 1; }

if [[ -n $(git -C "$top" status --porcelain --untracked-files=no) ]]; then
  echo "release: uncommitted changes are left out; the release is HEAD ($(git -C "$top" rev-parse --short HEAD))" >&2
fi
git -C "$top" archive --format=tar.gz --prefix="$name/" -o "$out/$name.tar.gz" HEAD
(cd "$out" && sha256sum "$name.tar.gz")
