/**
 * `-p [hostip:]hostport:containerport[/tcp|udp]`, as `docker run -p` reads it
 * (one port per flag; no ranges).
 *
 * The book: docs/07-networking.md.
 */
import { RuntsError } from '../errors.ts';
import { parseIp, type PortMapping } from './ipam.ts';

export function parsePublish(spec: string): PortMapping {
  const bad = (why: string) => new RuntsError('EINVAL', `-p ${spec}: ${why}; expected [hostip:]hostport:containerport[/tcp|udp]`);
  const [addr, proto = 'tcp', extra] = spec.split('/');
  if (extra !== undefined || (proto !== 'tcp' && proto !== 'udp')) throw bad(`unknown protocol ${JSON.stringify(proto)}`);
  const parts = addr!.split(':');
  if (parts.length < 2 || parts.length > 3) throw bad('a host port and a container port are both needed');
  const [hostIp, hostPort, containerPort] = parts.length === 3 ? parts : ['0.0.0.0', ...parts];
  try { parseIp(hostIp!); } catch { throw bad(`not an IPv4 address: ${hostIp}`); }
  const port = (s: string) => {
    if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw bad(`not a port number: ${JSON.stringify(s)}`);
    return Number(s);
  };
  return { hostIp: hostIp!, hostPort: port(hostPort!), containerPort: port(containerPort!), proto };
}

export const formatPublish = (p: PortMapping) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.proto}`;
