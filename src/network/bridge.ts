/**
 * The bridge driver: one Linux bridge per network (runts0 by default) with
 * the gateway address, and per container a veth pair whose host end joins
 * the bridge and whose other end is created directly in the container's
 * network namespace as eth0, with an address from the subnet and a default
 * route via the bridge.
 *
 * Every change of shared state (the allocation table, the bridge, the nft
 * table and its port maps) happens under the network's lock, so concurrent
 * `runts run`s never race each other.
 *
 * The book: docs/07-networking.md.
 */
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import { faultPoint } from '../sys/fault.ts';
import { deleteLink, ipBatch, linkExists, linkInfo, nft, setInterfaceSysctl } from './exec.ts';
import { hostsFile } from './files.ts';
import { processStartTime } from '../runtime/process.ts';
import { formatIp, inSubnet, isAlive, nextFree, parseIp, parseSubnet, portTaken, readTable, withLock, writeTable, type Allocation, type NetworkTable, type PortMapping } from './ipam.ts';
import { applyNat, loopbackGuardScript, publishScript, tableComplete, tableExists, tableScript, unpublishScript } from './nat.ts';
import { formatPublish } from './ports.ts';

export interface BridgeNetwork {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** the nft table (family ip) that holds this network's NAT */
  table: string;
  stateFile: string;
  /** members find each other by name (user-defined networks, as with Docker) */
  dns?: boolean;
}

export const STATE_DIR = process.env.RUNTS_NET_STATE ?? '/run/runts/network';

/**
 * The default network. RUNTS_NET_BRIDGE and RUNTS_NET_SUBNET choose another
 * bridge and subnet (tests use them so they never touch a user's runts0).
 */
export function defaultNetwork(): BridgeNetwork {
  const bridge = process.env.RUNTS_NET_BRIDGE ?? 'runts0';
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw new RuntsError('EINVAL', `RUNTS_NET_BRIDGE ${bridge}: an interface name of at most 15 letters, digits, '_', '.', '-'`);
  const s = parseSubnet(process.env.RUNTS_NET_SUBNET ?? '10.77.0.0/16');
  return {
    name: 'bridge',
    bridge,
    subnet: `${formatIp(s.base)}/${s.prefix}`,
    gateway: formatIp(s.base + 1),
    table: bridge === 'runts0' ? 'runts' : `runts_${bridge.replace(/[^a-zA-Z0-9_]/g, '_')}`,
    stateFile: join(STATE_DIR, `${bridge}.json`),
  };
}

/** The host end's name: stable per container and network, 15 characters at most. */
export const hostVeth = (net: BridgeNetwork, id: string) => `rv${createHash('sha256').update(`${net.bridge}/${id}`).digest('hex').slice(0, 11)}`;

const portOf = (link: string) => linkInfo(link)?.master;
const isBridge = (name: string) => linkInfo(name)?.kind === 'bridge';

function ensureInfrastructure(net: BridgeNetwork): void {
  if (linkExists(net.bridge) && !isBridge(net.bridge)) throw new RuntsError('ENETWORK', `${net.bridge} exists and is not a bridge: choose another bridge name`);
  if (!linkExists(net.bridge)) {
    const prefix = net.subnet.split('/')[1];
    ipBatch([`link add ${net.bridge} type bridge`, `addr add ${net.gateway}/${prefix} dev ${net.bridge}`, `link set ${net.bridge} up`], `create bridge ${net.bridge}`);
  }
  setInterfaceSysctl(net.bridge, 'forwarding', '1');
  setInterfaceSysctl(net.bridge, 'route_localnet', '1');
  if (tableComplete(net.table)) return;
  if (!tableExists(net.table)) nft(tableScript(net), `create nft table ip ${net.table}`);
  else nft(loopbackGuardScript(net), `add the loopback guard to nft table ip ${net.table}`);
}

/** Frees the allocations whose process is gone: their veth went with their namespace; their ports go now. */
function reclaimStale(net: BridgeNetwork, table: NetworkTable): void {
  let dropped = false;
  for (const [id, a] of Object.entries(table.allocations)) {
    if (isAlive(a)) continue;
    dropAllocation(net, table, id, a);
    dropped = true;
  }
  if (dropped) refreshHosts(net, table);
}

/**
 * Rewrites every member's /etc/hosts in place (the same inode: it is
 * bind-mounted into the running container): its own line, and on a network
 * with dns every other member's.
 */
function refreshHosts(net: BridgeNetwork, table: NetworkTable): void {
  const members = Object.entries(table.allocations);
  for (const [id, a] of members) {
    if (!a.hosts) continue;
    const names = (x: Allocation, xid: string) => [...new Set([x.hostname ?? xid, xid])];
    const peers = net.dns ? members.filter(([pid]) => pid !== id).map(([pid, p]) => ({ ip: p.ip, names: names(p, pid) })) : [];
    try {
      writeFileSync(a.hosts, hostsFile({ ip: a.ip, names: [id] }, a.hostname ?? id, peers));
    } catch { /* the container's directory is gone: nothing to update */ }
  }
}

function dropAllocation(net: BridgeNetwork, table: NetworkTable, id: string, a: Allocation): void {
  if (a.ports.length && tableExists(net.table)) {
    try { applyNat(unpublishScript(net.table, a.ip, a.ports), `unpublish ports of ${id}`); } catch { /* already gone */ }
  }
  // only a port of our bridge is ours: a link that merely has the name is left alone
  const veth = hostVeth(net, id);
  if (portOf(veth) === net.bridge) deleteLink(veth);
  delete table.allocations[id];
}

function loadTable(net: BridgeNetwork): NetworkTable {
  const t = readTable(net.stateFile) ?? { subnet: net.subnet, gateway: net.gateway, allocations: {} };
  if (t.subnet !== net.subnet) throw new RuntsError('ENETWORK', `network ${net.name} (${net.bridge}) already has subnet ${t.subnet}, not ${net.subnet}: remove its containers and run \`runts network prune\` first`);
  return t;
}

/**
 * Takes an address and publishes the ports, before the container exists, so
 * that a taken port or a full subnet fails before anything else is made.
 * The allocation belongs to the calling process until attach().
 */
export function reserve(net: BridgeNetwork, id: string, ports: PortMapping[], member: { hosts?: string; hostname?: string } = {}): Allocation {
  return withLock(net.stateFile, () => {
    const table = loadTable(net);
    reclaimStale(net, table);
    if (table.allocations[id]) throw new RuntsError('EEXIST', `container ${id} is already on network ${net.name}`);
    const mine: PortMapping[] = [];
    for (const p of ports) {
      const holder = portTaken({ ...table, allocations: { ...table.allocations, [id]: { ip: '', pid: 0, startTime: '', ports: mine } } }, p);
      if (holder) throw new RuntsError('EEXIST', `-p ${formatPublish(p)}: host port ${p.hostPort}/${p.proto} is already published by ${holder === id ? 'another -p of this container' : `container ${holder}`}`);
      mine.push(p);
    }
    const ip = nextFree(table);
    ensureInfrastructure(net);
    // Recorded before the ports are published: if this process dies in
    // between, the allocation (of a dead pid) is reclaimed with its ports,
    // never an element that no allocation names.
    const a: Allocation = { ip, pid: process.pid, startTime: processStartTime(process.pid)!, ports, ...member };
    table.allocations[id] = a;
    writeTable(net.stateFile, table);
    try {
      applyNat(publishScript(net.table, ip, ports), `publish ports of ${id}`);
    } catch (err) {
      delete table.allocations[id];
      writeTable(net.stateFile, table);
      throw err;
    }
    faultPoint('network.published');
    refreshHosts(net, table);
    return a;
  });
}

/** Wires the container whose init is `pid` to the bridge; the allocation now lives as long as that process. */
export function attach(net: BridgeNetwork, id: string, pid: number): void {
  withLock(net.stateFile, () => {
    const table = loadTable(net);
    const a = table.allocations[id];
    if (!a) throw new RuntsError('EINTERNAL', `container ${id} has no address on network ${net.name}`);
    if (!inSubnet(parseSubnet(net.subnet), parseIp(a.ip))) throw new RuntsError('EINTERNAL', `${a.ip} is outside ${net.subnet}`);
    const veth = hostVeth(net, id);
    const prefix = net.subnet.split('/')[1];
    // a link by that name is not ours to delete on failure: refuse before making anything
    if (linkExists(veth)) throw new RuntsError('EEXIST', `create veth ${veth} for ${id}: an interface named ${veth} already exists`);
    try {
      ipBatch([`link add ${veth} type veth peer name eth0 netns ${pid}`, `link set ${veth} master ${net.bridge}`, `link set ${veth} up`], `create veth ${veth} for ${id}`);
      ipBatch(['link set lo up', `addr add ${a.ip}/${prefix} dev eth0`, 'link set eth0 up', `route add default via ${net.gateway} dev eth0`], `configure eth0 of ${id}`, pid);
    } catch (err) {
      deleteLink(veth);
      throw err;
    }
    faultPoint('network.attached');
    a.pid = pid;
    a.startTime = processStartTime(pid) ?? '';
    writeTable(net.stateFile, table);
  });
}

/** Frees the address, the ports and the veth; nothing to do for a container that has none. */
export function release(net: BridgeNetwork, id: string): void {
  if (!readTable(net.stateFile)) return;
  withLock(net.stateFile, () => {
    const table = loadTable(net);
    const a = table.allocations[id];
    if (!a) return;
    dropAllocation(net, table, id, a);
    writeTable(net.stateFile, table);
    refreshHosts(net, table);
  });
}

export function listAllocations(net: BridgeNetwork): Record<string, Allocation> {
  return readTable(net.stateFile)?.allocations ?? {};
}

/** Removes the bridge, the nft table and the table file when no live container uses them; true when it did. */
export function prune(net: BridgeNetwork): boolean {
  return withLock(net.stateFile, () => {
    const table = readTable(net.stateFile);
    if (table) {
      reclaimStale(net, table);
      writeTable(net.stateFile, table);
      if (Object.keys(table.allocations).length) return false;
    }
    if (tableExists(net.table)) nft(`delete table ip ${net.table}\n`, `delete nft table ip ${net.table}`);
    if (isBridge(net.bridge)) ipBatch([`link del ${net.bridge}`], `delete bridge ${net.bridge}`);
    rmSync(net.stateFile, { force: true });
    return true;
  });
}
