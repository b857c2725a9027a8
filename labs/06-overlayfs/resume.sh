# resume.sh: pick chapter 6 up again in a new shell. Source it, don't run it:
#
#   source ~/runts/labs/06-overlayfs/resume.sh
#
# The chapter keeps its files in ~/lab/06, and a few things in the shell
# that typed its commands: this puts them back.
#   - the current directory, ~/lab/06, and lab=~/runts/labs/06-overlayfs;
#   - RUNTS_STORE=~/lab/06/store, the chapter's own image store (exported);
#   - the digests of the hand-made image, read back from image/ rather than
#     remembered: MANIFEST, CONFIG, LAYER1, LAYER2 (blob digests) and DIFF1,
#     DIFF2 (diff ids), and the functions blob and size;
#   - the registry on 127.0.0.1:5000, started again (in the background, as
#     the chapter does) if nothing answers there; REGISTRY is its pid.
# Then it prints one line saying what it found.
#
# Containers From Scratch, chapter 6.

cd ~/lab/06 || return 1
lab=~/runts/labs/06-overlayfs
export RUNTS_STORE=~/lab/06/store

blob() {
  local hex=$(sha256sum "$1" | cut -d ' ' -f 1)
  mv "$1" image/blobs/sha256/$hex
  echo sha256:$hex
}
size() { stat -c %s image/blobs/sha256/${1#sha256:}; }

if [ -f image/index.json ]; then
  MANIFEST=$(jq -r '.manifests[0].digest' image/index.json)
  CONFIG=$(jq -r '.config.digest' image/blobs/sha256/${MANIFEST#sha256:})
  LAYER1=$(jq -r '.layers[0].digest' image/blobs/sha256/${MANIFEST#sha256:})
  LAYER2=$(jq -r '.layers[1].digest' image/blobs/sha256/${MANIFEST#sha256:})
  DIFF1=$(jq -r '.rootfs.diff_ids[0]' image/blobs/sha256/${CONFIG#sha256:})
  DIFF2=$(jq -r '.rootfs.diff_ids[1]' image/blobs/sha256/${CONFIG#sha256:})
  _resume_image="image ${MANIFEST:0:19}..."
else
  _resume_image="no image/ yet (the chapter builds it)"
fi

# the registry: whoever listens on 127.0.0.1:5000, or a new one
if curl -s -o /dev/null 127.0.0.1:5000/v2/; then
  REGISTRY=$(ss -Hltnp 'sport = :5000' | sed -n '/pid=/{s/.*pid=\([0-9]*\),.*/\1/p;q;}')
  _resume_registry="registry running (pid $REGISTRY)"
elif [ -f registry/config.yml ]; then
  docker-registry serve registry/config.yml > registry/log 2>&1 &
  REGISTRY=$!
  for _i in $(seq 50); do curl -s -o /dev/null 127.0.0.1:5000/v2/ && break; sleep 0.1; done
  _resume_registry="registry started (pid $REGISTRY)"
else
  _resume_registry="no registry yet (the chapter starts it)"
fi
echo "chapter 6: in ~/lab/06, RUNTS_STORE=~/lab/06/store, $_resume_image, $_resume_registry"
unset _resume_image _resume_registry _i
