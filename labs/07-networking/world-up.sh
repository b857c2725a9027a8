#!/bin/sh
# world-up.sh - a fake internet on this machine: a network namespace "world"
# behind a veth pair, a route to it for 203.0.113.0/24, and a web server on
# 203.0.113.80 that logs the address of every client.
#
#   this machine                          namespace "world"
#   uplink 198.18.0.1/30  <== veth ==>  eth0 198.18.0.2/30
#   route 203.0.113.0/24 via 198.18.0.2  lo 203.0.113.80/32, busybox httpd :80
#
# Both ranges are reserved and never used on a real network: 198.18.0.0/15
# for benchmarks (RFC 2544), 203.0.113.0/24 for documentation (RFC 5737).
# The server's files and its log (world.log) go in $LAB, ~/lab/07 by default.
# world-down.sh undoes it all.
#
# Containers From Scratch, chapter 7.
set -eu
LAB=${LAB:-$HOME/lab/07}
mkdir -p "$LAB/world-www"
echo "hello from the internet" > "$LAB/world-www/index.html"

ip netns add world
ip link add uplink type veth peer name eth0 netns world
ip addr add 198.18.0.1/30 dev uplink
ip link set uplink up
ip -n world addr add 198.18.0.2/30 dev eth0
ip -n world addr add 203.0.113.80/32 dev lo
ip -n world link set lo up
ip -n world link set eth0 up
ip route add 203.0.113.0/24 via 198.18.0.2

# -f keeps httpd in the foreground, where -vv logs each request to stderr
ip netns exec world busybox httpd -f -vv -p 80 -h "$LAB/world-www" > /dev/null 2>> "$LAB/world.log" &
for _ in $(seq 50); do
  ip netns exec world ss -Hltn 'sport = :80' | grep -q . && exit 0
  sleep 0.1
done
echo "world-up.sh: the web server in namespace world did not start (see $LAB/world.log)" >&2
exit 1
