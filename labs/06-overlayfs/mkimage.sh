#!/bin/sh
# mkimage.sh OUT LAYER...
#
# Builds an OCI image layout in OUT (which must not exist yet) with nothing
# but tar, gzip, sha256sum and a few lines of JSON, as chapter 6 does step by
# step. Each LAYER, base first, is a directory, archived as it is (names
# sorted, numeric owners, every date set to 0 so that the same files always
# give the same digest; `.wh.` files in it are whiteouts, recorded like any
# other file), or a tar file, used as it is. Then:
#
#   diff id    = sha256 of the plain tar          (listed by the config)
#   blob       = the tar, gzipped                 (listed by the manifest)
#   config     = platform, command, diff ids      (a blob too)
#   manifest   = config and layer blobs, digests and sizes (a blob too)
#   index.json = the manifest, tagged 1           (the layout's entry point)
#
# The image runs /bin/sh; CMD='["/bin/ls", "/"]' changes that.
#
#   mkimage.sh image rootfs changes && runts load --name demo:1 image
#
# Containers From Scratch, chapter 6.
set -eu
usage="usage: mkimage.sh OUT LAYER..."
out=${1:?$usage}
shift
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
[ ! -e "$out" ] || { echo "mkimage: $out already exists" >&2; exit 1; }
# Debian's names for amd64 and arm64 are the OCI's
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
finished=
# a failure leaves no half-made layout behind
trap 'rm -rf "$work"; [ -n "$finished" ] || rm -rf "$out"' EXIT
mkdir -p "$out/blobs/sha256"

# blob FILE: moves FILE into the layout under the name of its digest; prints the digest
blob() {
  hex=$(sha256sum "$1" | cut -d ' ' -f 1)
  mv "$1" "$out/blobs/sha256/$hex"
  echo "sha256:$hex"
}
size() { stat -c %s "$out/blobs/sha256/${1#sha256:}"; }

diff_ids= layers= n=0
for layer; do
  n=$((n + 1))
  if [ -d "$layer" ]; then
    tar --sort=name --numeric-owner --mtime=@0 -C "$layer" -cf "$work/$n.tar" .
  else
    cp "$layer" "$work/$n.tar"
  fi
  diff_id=sha256:$(sha256sum < "$work/$n.tar" | cut -d ' ' -f 1)
  gzip -n "$work/$n.tar"
  digest=$(blob "$work/$n.tar.gz")
  diff_ids="$diff_ids${diff_ids:+, }\"$diff_id\""
  layers="$layers${layers:+,
    }{ \"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\", \"digest\": \"$digest\", \"size\": $(size "$digest") }"
done

cat > "$work/config" <<JSON
{
  "architecture": "$arch",
  "os": "linux",
  "config": { "Cmd": ${CMD:-[\"/bin/sh\"]}, "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] },
  "rootfs": { "type": "layers", "diff_ids": [$diff_ids] }
}
JSON
config=$(blob "$work/config")

cat > "$work/manifest" <<JSON
{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": "$config", "size": $(size "$config") },
  "layers": [
    $layers
  ]
}
JSON
manifest=$(blob "$work/manifest")

cat > "$out/index.json" <<JSON
{
  "schemaVersion": 2,
  "manifests": [
    { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "$manifest", "size": $(size "$manifest"),
      "annotations": { "org.opencontainers.image.ref.name": "1" } }
  ]
}
JSON
echo '{ "imageLayoutVersion": "1.0.0" }' > "$out/oci-layout"
finished=1
echo "$out: $n layers, manifest $manifest"
