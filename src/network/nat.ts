/**
 * NAT and forwarding for one bridge network, in one nftables table of our
 * own (`table ip runts` for runts0): masquerade for egress, and published
 * ports as elements of four DNAT maps (by protocol, for any host address or
 * for one). A container's ports are map elements, so they are added and
 * removed exactly, atomically, in one `nft -f -`, without touching the rules.
 *
 * Into the bridge from elsewhere comes only what answers its containers
 * (established), what a published port let in (DNAT), and what its own
 * members send each other: a container of another network, or another host
 * routing to a container's address, is dropped, as Docker isolates its
 * networks.
 *
 * Reaching a published port from the host itself works through the output
 * hook; from 127.0.0.1 it needs route_localnet on our bridge (never on the
 * host's own interfaces) and a masquerade so the reply comes back to us.
 * route_localnet also lets the bridge route packets addressed to 127.0.0.0/8
 * to the host: a container (or anyone on the bridge) would reach services
 * bound to the host's loopback only (Kubernetes' CVE-2020-8558). The input
 * chain lets from the bridge into 127.0.0.0/8 only the replies of the
 * connections the host opened to a published port.
 *
 * The book: docs/07-networking.md.
 */
import { nft, nftQuery } from './exec.ts';
import type { PortMapping } from './ipam.ts';

export interface NatTarget { table: string; bridge: string; subnet: string }

export function tableExists(table: string): boolean {
  return nftQuery(['list', 'table', 'ip', table]).ok;
}

/** Does the table have every chain of tableScript (a table made by an older runts lacks the loopback guard)? */
export function tableComplete(table: string): boolean {
  return nftQuery(['list', 'chain', 'ip', table, 'input']).ok;
}

/** The input chain alone: added to a table made before it existed. */
export function loopbackGuardScript({ table, bridge }: NatTarget): string {
  return `table ip ${table} {\n${loopbackGuard(bridge)}}\n`;
}

function loopbackGuard(bridge: string): string {
  return `  chain input {
    type filter hook input priority filter; policy accept;
    iifname ${JSON.stringify(bridge)} ip daddr 127.0.0.0/8 ct state != { established, related } drop
  }
`;
}

/** The whole table, created at once (only when it does not exist: the caller holds the lock). */
export function tableScript({ table, bridge, subnet }: NatTarget): string {
  const br = JSON.stringify(bridge);
  return `table ip ${table} {
  map pub_tcp { type inet_service : ipv4_addr . inet_service; }
  map pub_udp { type inet_service : ipv4_addr . inet_service; }
  map pub_tcp_ip { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  map pub_udp_ip { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  chain publish {
    meta l4proto tcp dnat ip to ip daddr . tcp dport map @pub_tcp_ip
    meta l4proto udp dnat ip to ip daddr . udp dport map @pub_udp_ip
    meta l4proto tcp dnat ip to tcp dport map @pub_tcp
    meta l4proto udp dnat ip to udp dport map @pub_udp
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump publish
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local jump publish
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname ${br} ip saddr 127.0.0.0/8 masquerade
    oifname ${br} ip saddr ${subnet} ct status dnat masquerade
    ip saddr ${subnet} oifname != ${br} masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname ${br} accept
    oifname ${br} ct state established,related accept
    oifname ${br} ct status dnat accept
    oifname ${br} iifname != ${br} drop
  }
${loopbackGuard(bridge)}}
`;
}

function element(p: PortMapping, ip: string): string {
  const value = `${ip} . ${p.containerPort}`;
  return p.hostIp === '0.0.0.0'
    ? `pub_${p.proto} { ${p.hostPort} : ${value} }`
    : `pub_${p.proto}_ip { ${p.hostIp} . ${p.hostPort} : ${value} }`;
}

/** `create element` fails on a key already there: a taken port is never overwritten. */
export function publishScript(table: string, ip: string, ports: PortMapping[]): string {
  return ports.map((p) => `create element ip ${table} ${element(p, ip)}\n`).join('');
}

export function unpublishScript(table: string, ip: string, ports: PortMapping[]): string {
  return ports.map((p) => `delete element ip ${table} ${element(p, ip)}\n`).join('');
}

export function applyNat(script: string, what: string): void {
  if (script) nft(script, what);
}
