#!/bin/sh
# bridge-up.sh - the two-container network that chapter 7 builds by hand:
# network namespaces "red" and "blue", each with an eth0 whose veth peer is
# a port of the bridge lab0; addresses, default routes, IP forwarding, the
# NAT table of lab.nft (masquerade, and host port 8080 published to red's
# port 80), and a web server in red.
#
#   red  eth0 10.200.0.2 (02:00:00:00:00:02) == veth-red  --+
#                                                            lab0 10.200.0.1/24
#   blue eth0 10.200.0.3 (02:00:00:00:00:03) == veth-blue --+
#
# bridge-down.sh undoes it. Files (red's web pages) go in $LAB, ~/lab/07 by
# default.
#
# Containers From Scratch, chapter 7.
set -eu
LAB=${LAB:-$HOME/lab/07}
here=$(dirname "$(readlink -f "$0")")

ip link add lab0 type bridge
ip addr add 10.200.0.1/24 dev lab0
ip link set lab0 up
n=2
for c in red blue; do
  ip netns add $c
  ip link add veth-$c type veth peer name eth0 address 02:00:00:00:00:0$n netns $c
  ip link set veth-$c master lab0
  ip link set veth-$c up
  ip -n $c addr add 10.200.0.$n/24 dev eth0
  ip -n $c link set lo up
  ip -n $c link set eth0 up
  ip -n $c route add default via 10.200.0.1
  n=$((n + 1))
done

# route packets between interfaces; let 127.0.0.1, DNATed, leave through lab0
sysctl -q -w net.ipv4.ip_forward=1
sysctl -q -w net.ipv4.conf.lab0.route_localnet=1
nft -f "$here/lab.nft"

mkdir -p "$LAB/red-www"
echo "hello from red" > "$LAB/red-www/index.html"
# without -f, httpd goes to the background by itself; bridge-down.sh stops it
ip netns exec red busybox httpd -p 80 -h "$LAB/red-www"
