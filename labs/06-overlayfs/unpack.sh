#!/bin/sh
# unpack.sh LAYOUT DEST
#
# Unpacks the image of an OCI image layout (the first manifest its index
# names) into DEST/1, DEST/2, ..., base layer first, each in the form
# OverlayFS reads, as chapter 6 does by hand; then prints the lowerdir option
# that stacks them (top layer first). Each layer tar is extracted with tar,
# then its whiteouts are converted:
#
#   dir/.wh..wh..opq  ->  the attribute trusted.overlay.opaque="y" on dir
#   dir/.wh.NAME      ->  dir/NAME, a character device 0/0
#
#   lower=$(unpack.sh image layers)
#   mount -t overlay overlay -o "$lower,upperdir=upper,workdir=work" merged
#
# A teaching tool: it trusts its input. A layer is hostile input, and the
# chapter's last deep dive shows what a real unpacker must refuse.
# Needs jq, and python3 for the attribute (or setfattr, from Debian's attr).
#
# Containers From Scratch, chapter 6.
set -eu
usage="usage: unpack.sh LAYOUT DEST"
layout=${1:?$usage}
dest=${2:?$usage}
[ ! -e "$dest" ] || { echo "unpack: $dest already exists" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
finished=
# a failure leaves no half-unpacked layers behind
trap '[ -n "$finished" ] || rm -rf "$dest"' EXIT
blob() { echo "$layout/blobs/sha256/${1#sha256:}"; }

manifest=$(jq -r '.manifests[0].digest' "$layout/index.json")
n=0 lower=
for layer in $(jq -r '.layers[].digest' "$(blob "$manifest")"); do
  n=$((n + 1))
  dir=$dest/$n
  mkdir -p "$dir"
  tar -xf "$(blob "$layer")" -C "$dir"
  # the opaque markers first: they are whiteouts too, by name
  find "$dir" -name .wh..wh..opq | while read -r marker; do
    "$here/xattr.py" -w trusted.overlay.opaque y "$(dirname "$marker")"
    rm "$marker"
  done
  find "$dir" -name '.wh.*' | while read -r whiteout; do
    hidden=$(dirname "$whiteout")/$(basename "$whiteout" | cut -c 5-)
    rm -rf "$whiteout" "$hidden"
    mknod -m 000 "$hidden" c 0 0
  done
  lower=$dir${lower:+:$lower}
done
finished=1
echo "lowerdir=$lower"
