#!/bin/sh
# bridge-down.sh - removes what bridge-up.sh (or chapter 7, by hand) made:
# the processes in namespaces red and blue, the namespaces (and with them
# both veth pairs), the bridge lab0 and the nft table "lab". Safe to run on
# a half-made network, or twice. net.ipv4.ip_forward is left as it is.
#
# Containers From Scratch, chapter 7.
for c in red blue; do
  pids=$(ip netns pids $c 2> /dev/null)
  # a namespace outlives its name while a process is still in it
  [ -z "$pids" ] || kill $pids
  ip netns delete $c 2> /dev/null
done
ip link delete lab0 2> /dev/null
nft delete table ip lab 2> /dev/null
true
