/**
 * A front-end container's network, from `--network` and `-p` to a wired
 * namespace and back: what `runts run` calls before create (address, ports,
 * /etc files, spec edits), between create and start (the veth, once the
 * container's network namespace exists), and when the container goes.
 *
 * The container records its choice in network.json beside its config.json,
 * so stop, rm and a later prune know what to undo.
 *
 * The book: docs/07-networking.md.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import type { Mount, Spec } from '../oci/types.ts';
import { attach, release, reserve, type BridgeNetwork } from './bridge.ts';
import { lookupNetwork } from './networks.ts';
import { ipBatch } from './exec.ts';
import { containerResolvConf, hostResolvConf, hostsFile } from './files.ts';
import type { PortMapping } from './ipam.ts';
import { parsePublish } from './ports.ts';

export type NetworkMode = 'bridge' | 'none' | 'host' | 'container';

export interface NetworkRecord { mode: NetworkMode; net?: BridgeNetwork; ip?: string; ports: PortMapping[]; container?: string }

/** What `--network container:<name>` needs of the other container: its init and its directory. */
export type PeerLookup = (name: string) => { pid: number; dir: string };

export interface ContainerNetwork {
  record: NetworkRecord;
  /** bind mounts for /etc/hosts, /etc/hostname, /etc/resolv.conf; host mode drops the network namespace */
  editSpec(spec: Spec): void;
  /** between create and start: `pid` is the container's init, already in its namespaces */
  attach(pid: number): void;
}

/** Checks the flags only: every mistake fails before anything is made. */
export function parseNetworkFlags(network = 'bridge', publish: string[] = []): { mode: NetworkMode; net?: BridgeNetwork; ports: PortMapping[]; container?: string } {
  const ports = publish.map(parsePublish);
  if (network.startsWith('container:')) {
    const container = network.slice('container:'.length);
    if (!container) throw new RuntsError('EINVAL', `--network ${network}: name the container whose network to join`);
    if (ports.length) throw new RuntsError('EINVAL', '-p with --network container:<name>: publish the ports on that container instead');
    return { mode: 'container', ports, container };
  }
  if (network === 'none' || network === 'host') {
    if (ports.length) throw new RuntsError('EINVAL', `-p needs a bridge network: a container on --network ${network} has no address to publish`);
    return { mode: network, ports };
  }
  let net: BridgeNetwork;
  try {
    net = lookupNetwork(network);
  } catch (err) {
    throw new RuntsError('ENOTFOUND', `--network ${network}: no such network (bridge, none, host and those of \`runts network ls\`)`, { cause: err });
  }
  return { mode: 'bridge', net, ports };
}

const recordFile = (dir: string) => join(dir, 'network.json');

export function prepareNetwork(dir: string, id: string, hostname: string, flags: { network?: string; publish?: string[] }, peers?: PeerLookup): ContainerNetwork {
  const { mode, net, ports, container } = parseNetworkFlags(flags.network, flags.publish);
  const record: NetworkRecord = { mode, ports, container };
  // Docker's container mode: the other's namespace, and its /etc files as they are
  const peer = container === undefined ? undefined : peers ? peers(container) : undefined;
  if (container !== undefined && !peer) throw new RuntsError('ENOTSUP', `--network container:${container}: not available here`);
  const hosts = join(dir, 'hosts');
  if (net) {
    record.net = net;
    writeFileSync(recordFile(dir), JSON.stringify(record) + '\n');
    record.ip = reserve(net, id, ports, { hosts, hostname }).ip;
  }
  writeFileSync(recordFile(dir), JSON.stringify(record) + '\n');
  const files = {
    // on a bridge network, reserve() wrote it, with the other members
    hosts: mode === 'host' ? readFileSync('/etc/hosts', 'utf8') : net ? readFileSync(hosts, 'utf8') : hostsFile(undefined, hostname),
    hostname: `${hostname}\n`,
    'resolv.conf': containerResolvConf(hostResolvConf(), mode === 'host'),
  };
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text, { mode: 0o644 });
  const source = (f: string) => (peer && f !== 'hostname' && existsSync(join(peer.dir, f)) ? join(peer.dir, f) : join(dir, f));
  return {
    record,
    editSpec(spec) {
      const mounts: Mount[] = Object.keys(files).map((f) => ({ destination: `/etc/${f}`, type: 'bind', source: source(f), options: ['rbind', 'rprivate'] }));
      spec.mounts = [...(spec.mounts ?? []), ...mounts];
      if (mode === 'host' && spec.linux?.namespaces) spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
      if (peer && spec.linux?.namespaces) {
        spec.linux.namespaces = spec.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network', path: `/proc/${peer.pid}/ns/net` } : n));
      }
    },
    attach(pid) {
      if (net) attach(net, id, pid);
      else if (mode === 'none') ipBatch(['link set lo up'], `bring lo up in ${id}`, pid);
    },
  };
}

/** Undoes prepareNetwork and attach; safe to call twice, and for a container that never had a network. */
export function releaseNetwork(dir: string, id: string): void {
  const file = recordFile(dir);
  if (!existsSync(file)) return;
  const record = JSON.parse(readFileSync(file, 'utf8')) as NetworkRecord;
  if (record.net) release(record.net, id);
  rmSync(file, { force: true });
}
