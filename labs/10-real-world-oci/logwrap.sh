#!/bin/sh
# logwrap.sh OUT RUNTIME LOG
#
# Writes OUT, an executable that engines can be given as their OCI runtime
# (podman --runtime OUT, containerd's BinaryName = OUT): it appends the
# command line it was called with to LOG, one line per call, then becomes
# RUNTIME with the same arguments. Reading LOG shows every call an engine
# makes, in order.
#
# Containers From Scratch, chapter 10.
set -eu
usage="usage: logwrap.sh OUT RUNTIME LOG"
out=${1:?$usage} runtime=${2:?$usage} log=${3:?$usage}
runtime=$(command -v "$runtime") || { echo "logwrap: no runtime $2" >&2; exit 1; }
cat > "$out" <<SCRIPT
#!/bin/sh
printf '%s\n' "\$*" >> '$log'
exec '$runtime' "\$@"
SCRIPT
chmod 755 "$out"
