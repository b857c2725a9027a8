/**
 * The three files every container on a network gets: /etc/hosts,
 * /etc/hostname and /etc/resolv.conf, written into the container's directory
 * and bind-mounted over the image's, as Docker does.
 *
 * resolv.conf is the host's, minus loopback resolvers (127.0.0.0/8, ::1: a
 * resolver on the host's loopback is not reachable from another network
 * namespace); if none remain, Docker's fallback public resolvers are used.
 *
 * The book: docs/07-networking.md.
 */
import { readFileSync } from 'node:fs';

export const FALLBACK_RESOLVERS = ['8.8.8.8', '8.8.4.4'];

export function containerResolvConf(host: string, keepLoopback = false): string {
  const out: string[] = [];
  let servers = 0;
  for (const line of host.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) {
      const loopback = /^127\./.test(m[1]!) || m[1] === '::1' || /^0*:(0*:)*:?0*1$/.test(m[1]!);
      if (loopback && !keepLoopback) continue;
      servers++;
    }
    if (line.trim()) out.push(line.trimEnd());
  }
  if (!servers) out.push(...FALLBACK_RESOLVERS.map((s) => `nameserver ${s}`));
  return out.join('\n') + '\n';
}

export function hostResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

export interface HostsEntry { ip: string; names: string[] }

export function hostsFile(self: HostsEntry | undefined, hostname: string, peers: HostsEntry[] = []): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (self) lines.push(`${self.ip}\t${[...new Set([hostname, ...self.names])].join(' ')}`);
  else lines.push(`127.0.1.1\t${hostname}`);
  for (const p of peers) lines.push(`${p.ip}\t${p.names.join(' ')}`);
  return lines.join('\n') + '\n';
}
