# resume.sh: pick chapter 8 up again in a new shell. Source it, don't run it:
#
#   source ~/runts/labs/08-security/resume.sh
#
# Puts back what lived in the shell that typed the chapter's commands: the
# current directory, ~/lab/08; RUNTS_STORE, the chapter's image store
# (~/lab/08/store, exported); and Node 24, from the checkout's node_modules,
# first on PATH (labs/08-security/bpf.ts needs it). What the first block of
# the chapter made is made again if it is missing: the lab's programs
# (seccomp-deny, suid-id, attempt) and the busybox image. Then it prints one
# line saying what it found.
#
# Containers From Scratch, chapter 8.

mkdir -p ~/lab/08 && cd ~/lab/08 || return 1
export RUNTS_STORE=~/lab/08/store
for d in ~/runts/node_modules/node-linux-*/bin; do [ -x "$d/node" ] && PATH=$d:${PATH//$d:/} && export PATH; done
[ -x seccomp-deny ] && [ -x suid-id ] && [ -x attempt ] || make -s -f ~/runts/labs/08-security/Makefile || return 1
runts images --format '{{.Repository}}' 2>/dev/null | grep -qx busybox ||
  runts import ~/runts/dist/images/busybox/rootfs busybox > /dev/null || return 1
echo "chapter 8: in ~/lab/08, RUNTS_STORE=~/lab/08/store, node $(node --version)," \
  "lab programs: $(echo $(ls seccomp-deny suid-id attempt))"
