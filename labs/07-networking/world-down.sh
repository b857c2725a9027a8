#!/bin/sh
# world-down.sh - removes what world-up.sh made: the web server, the
# namespace "world" and, with it, both ends of the veth pair and the route
# through it. Safe to run on a half-made world, or twice.
#
# Containers From Scratch, chapter 7.
pids=$(ip netns pids world 2> /dev/null)
[ -z "$pids" ] || kill $pids
# deleting the namespace destroys its eth0, hence the peer "uplink", hence the route
ip netns delete world 2> /dev/null
ip link delete uplink 2> /dev/null
true
