/**
 * User-defined networks (`runts network create|ls|inspect|rm|prune`): each is
 * a bridge network of its own, with its subnet and gateway, whose members
 * find each other by name (every member's /etc/hosts lists the others).
 *
 * Definitions are JSON files under RUNTS_NET_CONFIG (default
 * /var/lib/runts/networks): they outlive a reboot, while the bridge, the nft
 * table and the allocations (under /run) are remade on demand.
 *
 * The book: docs/07-networking.md.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import { defaultNetwork, listAllocations, prune, STATE_DIR, type BridgeNetwork } from './bridge.ts';
import { linkExists } from './exec.ts';
import { hostResolvConf } from './files.ts';
import { formatIp, formatSubnet, inSubnet, overlaps, parseIp, parseSubnet, subnetSize, withLock, type Subnet } from './ipam.ts';

export const CONFIG_DIR = process.env.RUNTS_NET_CONFIG ?? '/var/lib/runts/networks';
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;
const RESERVED = new Set(['bridge', 'host', 'none', 'default']);

export interface NetworkCreateOptions { subnet?: string; gateway?: string; bridge?: string }

function definitions(): BridgeNetwork[] {
  if (!existsSync(CONFIG_DIR)) return [];
  return readdirSync(CONFIG_DIR).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(readFileSync(join(CONFIG_DIR, f), 'utf8')) as BridgeNetwork);
}

/** The default network first, then the user's. */
export function listNetworks(): BridgeNetwork[] {
  return [defaultNetwork(), ...definitions()];
}

export function lookupNetwork(name: string): BridgeNetwork {
  const net = listNetworks().find((n) => n.name === name);
  if (!net) throw new RuntsError('ENOTFOUND', `no such network: ${name} (see \`runts network ls\`)`);
  return net;
}

/** The host's own IPv4 subnets: a network overlapping one would make that part of the host unreachable. */
function hostSubnets(except: Set<string>): { dev: string; subnet: Subnet }[] {
  const r = spawnSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const links = JSON.parse(r.stdout) as { ifname: string; addr_info: { local: string; prefixlen: number }[] }[];
  return links.filter((l) => !except.has(l.ifname)).flatMap((l) => l.addr_info.map((a) => {
    const size = 2 ** (32 - a.prefixlen);
    const ip = parseIp(a.local);
    return { dev: l.ifname, subnet: { base: ip - (ip % size), prefix: a.prefixlen } };
  }));
}

/** The host's routes other than the default (a VPN, another bridge). */
function hostRoutes(except: Set<string>): { what: string; subnet: Subnet }[] {
  const r = spawnSync('ip', ['-j', '-4', 'route', 'show', 'table', 'main'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const routes = JSON.parse(r.stdout) as { dst: string; dev?: string }[];
  return routes.filter((x) => x.dst !== 'default' && !except.has(x.dev ?? '')).flatMap((x) => {
    const [ip, prefix = '32'] = x.dst.split('/');
    try {
      const size = 2 ** (32 - Number(prefix));
      const n = parseIp(ip!);
      return [{ what: `the host's route to ${x.dst}`, subnet: { base: n - (n % size), prefix: Number(prefix) } }];
    } catch { return []; }
  });
}

/** The host's DNS servers: a network over one would hide it from the host. */
function hostResolvers(): { what: string; subnet: Subnet }[] {
  return [...hostResolvConf().matchAll(/^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)]
    .map((m) => ({ what: `the host's resolver ${m[1]}`, subnet: { base: parseIp(m[1]!), prefix: 32 } }));
}

export function createNetwork(name: string, opts: NetworkCreateOptions): BridgeNetwork {
  if (!NAME.test(name) || RESERVED.has(name)) throw new RuntsError('EINVAL', `network name ${name}: use letters, digits, '_', '.', '-' (64 at most), and not bridge, host, none or default`);
  const bridge = opts.bridge ?? `rn${createHash('sha256').update(name).digest('hex').slice(0, 10)}`;
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw new RuntsError('EINVAL', `--bridge ${bridge}: an interface name of at most 15 letters, digits, '_', '.', '-'`);
  mkdirSync(CONFIG_DIR, { recursive: true, mode: 0o700 });
  return withLock(join(CONFIG_DIR, 'networks'), () => {
    const all = listNetworks();
    if (all.some((n) => n.name === name)) throw new RuntsError('EEXIST', `network ${name} already exists`);
    const sameBridge = all.find((n) => n.bridge === bridge);
    if (sameBridge) throw new RuntsError('EEXIST', `bridge ${bridge} is already network ${sameBridge.name}'s`);
    if (linkExists(bridge)) throw new RuntsError('EEXIST', `an interface named ${bridge} already exists on the host`);
    const taken = [...all.map((n) => ({ what: `network ${n.name}`, subnet: parseSubnet(n.subnet) })),
      ...hostSubnets(new Set(all.map((n) => n.bridge))).map((h) => ({ what: `the host's ${h.dev}`, subnet: h.subnet })),
      ...hostRoutes(new Set(all.map((n) => n.bridge))), ...hostResolvers()];
    let subnet: Subnet;
    if (opts.subnet) {
      subnet = parseSubnet(opts.subnet);
      const clash = taken.find((t) => overlaps(t.subnet, subnet));
      if (clash) throw new RuntsError('EINVAL', `--subnet ${opts.subnet} overlaps ${clash.what} (${formatSubnet(clash.subnet)})`);
    } else {
      // Docker's habit: the first free /24 of a private range
      const free = Array.from({ length: 256 }, (_, i) => parseSubnet(`10.78.${i}.0/24`)).find((s) => !taken.some((t) => overlaps(t.subnet, s)));
      if (!free) throw new RuntsError('ENETWORK', 'no free /24 left in 10.78.0.0/16: give --subnet');
      subnet = free;
    }
    const gateway = opts.gateway ?? formatIp(subnet.base + 1);
    const g = parseIp(gateway);
    if (!inSubnet(subnet, g) || g === subnet.base || g === subnet.base + subnetSize(subnet) - 1) {
      throw new RuntsError('EINVAL', `--gateway ${gateway}: not a host address of ${formatSubnet(subnet)}`);
    }
    const net: BridgeNetwork = {
      name, bridge, subnet: formatSubnet(subnet), gateway, dns: true,
      table: `runts_${bridge.replace(/[^a-zA-Z0-9_]/g, '_')}`, stateFile: join(STATE_DIR, `${bridge}.json`),
    };
    writeFileSync(join(CONFIG_DIR, `${name}.json`), JSON.stringify(net, null, 2) + '\n', { mode: 0o600 });
    return net;
  });
}

/** Refuses while a live container is on it; removes the bridge, the nft table and the definition. */
export function removeNetwork(name: string): void {
  if (RESERVED.has(name)) throw new RuntsError('EINVAL', `network ${name} is built in: it cannot be removed`);
  const net = lookupNetwork(name);
  if (!prune(net)) {
    throw new RuntsError('ESTATE', `network ${name} is in use by ${Object.keys(listAllocations(net)).join(', ')}: remove those containers first`);
  }
  rmSync(join(CONFIG_DIR, `${name}.json`), { force: true });
}

/** Removes every network no container uses: the user's go entirely, the default one's bridge and table go. */
export function pruneNetworks(): string[] {
  const gone: string[] = [];
  for (const net of listNetworks()) {
    if (!prune(net)) continue;
    if (net.name !== 'bridge') rmSync(join(CONFIG_DIR, `${net.name}.json`), { force: true });
    gone.push(net.name);
  }
  return gone;
}
