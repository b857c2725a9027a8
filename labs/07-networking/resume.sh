# resume.sh: pick chapter 7 up again in a new shell. Source it, don't run it:
#
#   source ~/runts/labs/07-networking/resume.sh
#
# What the chapter built lives in the kernel (namespaces, bridges, nft
# tables) and in ~/lab/07, and stays until you tear it down or reboot; what
# lived in the shell that typed the commands is put back here: the current
# directory, ~/lab/07, and the variables that point runts at the chapter's
# own image store, networks and CNI configuration (RUNTS_STORE,
# RUNTS_NET_CONFIG, RUNTS_CNI_CONFIG_DIR, exported). Then it prints one line
# saying what it found.
#
# Containers From Scratch, chapter 7.

mkdir -p ~/lab/07 && cd ~/lab/07 || return 1
export RUNTS_STORE=~/lab/07/store RUNTS_NET_CONFIG=~/lab/07/networks RUNTS_CNI_CONFIG_DIR=~/lab/07/cni/net.d
echo "chapter 7: in ~/lab/07, RUNTS_STORE=~/lab/07/store, RUNTS_NET_CONFIG=~/lab/07/networks;" \
  "lab namespaces: $(ip netns list | awk '$1 ~ /^(red|blue|world|guest|green)$/ { printf "%s%s", sep, $1; sep = " " }')"
