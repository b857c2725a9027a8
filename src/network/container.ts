/**
 * A front-end container's network, from `--network` and `-p` to a wired
 * namespace and back: what `runts run` calls before create (address, ports,
 * /etc files, spec edits), between create and start (the veth, once the
 * container's network namespace exists), and when the container goes.
 *
 * The container records its choice in network.json beside its config.json,
 * so stop, rm and a later prune know what to undo. On `--network cni:<name>`
 * the plugins of a CNI configuration list do the wiring (cni.ts); the record
 * then keeps the list as ADD ran it, the pinned network namespace and ADD's
 * result, which CHECK and DEL are given. An unprivileged user's container
 * is on pasta by default (pasta.ts), whose watcher the record names.
 *
 * The book: docs/07-networking.md.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError, wrap } from '../errors.ts';
import { writeFileAtomic } from '../sys/files.ts';
import type { Mount, Spec } from '../oci/types.ts';
import { attach, release, reserve, type BridgeNetwork } from './bridge.ts';
import { cniAdd, cniCheck, cniConfigDir, cniDel, containerAddress, dnsResolvConf, loadNetwork, pinNetns, pinnedNetns, unpinNetns, type CniNetwork, type CniResult } from './cni.ts';
import { lookupNetwork } from './networks.ts';
import { ipBatch } from './exec.ts';
import { containerResolvConf, hostResolvConf, hostsFile } from './files.ts';
import type { PortMapping } from './ipam.ts';
import { checkUnprivilegedPorts, startPasta, stopPasta, unprivilegedPortStart, type PastaRecord } from './pasta.ts';
import { parsePublish } from './ports.ts';

export type NetworkMode = 'bridge' | 'none' | 'host' | 'container' | 'cni' | 'pasta';

/** A CNI attachment: the list ADD ran, the pinned namespace (set before ADD starts), ADD's result. */
export interface CniRecord { network: CniNetwork; netns?: string; result?: CniResult }

export interface NetworkRecord { mode: NetworkMode; net?: BridgeNetwork; ip?: string; ports: PortMapping[]; container?: string; cni?: CniRecord; pasta?: PastaRecord }

export interface NetworkFlags { mode: NetworkMode; net?: BridgeNetwork; ports: PortMapping[]; container?: string; cni?: CniNetwork }

/** What `--network container:<name>` needs of the other container: its init and its directory. */
export type PeerLookup = (name: string) => { pid: number; dir: string };

export interface ContainerNetwork {
  record: NetworkRecord;
  /** bind mounts for /etc/hosts, /etc/hostname, /etc/resolv.conf; host mode drops the network namespace */
  editSpec(spec: Spec): void;
  /** between create and start: `pid` is the container's init, already in its namespaces */
  attach(pid: number): void | Promise<void>;
}

/**
 * Checks the flags only: every mistake fails before anything is made.
 * `rootless`: the caller is an unprivileged user (or root of a user
 * namespace), whose default is pasta and who can make no bridge or veth.
 */
export function parseNetworkFlags(network?: string, publish: string[] = [], rootless = false): NetworkFlags {
  const ports = publish.map(parsePublish);
  network ??= rootless ? 'pasta' : 'bridge';
  if (rootless) checkRootlessNetwork(network, ports);
  if (network === 'pasta') {
    if (!rootless) throw new RuntsError('EINVAL', '--network pasta: the network of an unprivileged user\'s containers; root\'s use a bridge (the default)');
    return { mode: 'pasta', ports };
  }
  if (network.startsWith('cni:')) {
    const name = network.slice('cni:'.length);
    if (!name) throw new RuntsError('EINVAL', `--network ${network}: name the CNI network (the "name" of a configuration list in ${cniConfigDir()})`);
    let cni: CniNetwork;
    try {
      cni = loadNetwork(name);
    } catch (err) {
      throw wrap(err, `--network ${network}`);
    }
    if (ports.length && !cni.plugins.some((p) => p.capabilities?.portMappings)) {
      throw new RuntsError('EINVAL', `-p with --network ${network}: no plugin of ${cni.file} declares "capabilities": {"portMappings": true} (such as portmap)`);
    }
    return { mode: 'cni', ports, cni };
  }
  if (network.startsWith('container:')) {
    const container = network.slice('container:'.length);
    if (!container) throw new RuntsError('EINVAL', `--network ${network}: name the container whose network to join`);
    if (ports.length) throw new RuntsError('EINVAL', '-p with --network container:<name>: publish the ports on that container instead');
    return { mode: 'container', ports, container };
  }
  if (network === 'none' || network === 'host') {
    if (ports.length) throw new RuntsError('EINVAL', `-p needs a bridge network (pasta for an unprivileged user): a container on --network ${network} has no address to publish`);
    return { mode: network, ports };
  }
  let net: BridgeNetwork;
  try {
    net = lookupNetwork(network);
  } catch (err) {
    throw new RuntsError('ENOTFOUND', `--network ${network}: no such network (bridge, none, host, cni:<name> and those of \`runts network ls\`)`, { cause: err });
  }
  return { mode: 'bridge', net, ports };
}

/**
 * What an unprivileged user may ask for: no bridge or CNI network (they need
 * root on the host), no port it may not bind. Not another container's
 * network either: its namespace belongs to that container's user namespace,
 * which the new container's INIT, in a user namespace of its own, may not
 * join.
 */
function checkRootlessNetwork(network: string, ports: PortMapping[]): void {
  if (network.startsWith('container:')) throw new RuntsError('ENOTSUP', `--network ${network}: an unprivileged user's container cannot join another container's network (it belongs to that container's user namespace): publish the ports of both on the host, or run them as root`);
  const allowed = network === 'pasta' || network === 'none' || network === 'host';
  if (!allowed) throw new RuntsError('EPERM', `--network ${network}: an unprivileged user's container cannot be wired to a bridge or CNI network (a veth and a bridge need root on the host): use pasta (the default), none or host`);
  checkUnprivilegedPorts(ports, unprivilegedPortStart());
}

const recordFile = (dir: string) => join(dir, 'network.json');

export function prepareNetwork(dir: string, id: string, hostname: string, flags: { network?: string; publish?: string[]; rootless?: boolean }, peers?: PeerLookup): ContainerNetwork {
  const { mode, net, ports, container, cni } = parseNetworkFlags(flags.network, flags.publish, flags.rootless);
  const record: NetworkRecord = { mode, ports, container, ...(cni ? { cni: { network: cni } } : {}) };
  const save = () => writeFileAtomic(recordFile(dir), JSON.stringify(record) + '\n');
  // Docker's container mode: the other's namespace, and its /etc files as they are
  const peer = container === undefined ? undefined : peers ? peers(container) : undefined;
  if (container !== undefined && !peer) throw new RuntsError('ENOTSUP', `--network container:${container}: not available here`);
  const hosts = join(dir, 'hosts');
  if (net) {
    record.net = net;
    save();
    record.ip = reserve(net, id, ports, { hosts, hostname }).ip;
  }
  save();
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
    async attach(pid) {
      if (mode === 'pasta') {
        record.pasta = await startPasta(dir, pid, ports);
        save();
        return;
      }
      if (net) attach(net, id, pid);
      else if (mode === 'none' || mode === 'cni') ipBatch(['link set lo up'], `bring lo up in ${id}`, pid);
      if (record.cni) attachCni(dir, id, pid, hostname, record, save);
    },
  };
}

/** ADD with the namespace pinned first; on failure the plugins have undone their part and the pin goes too. */
function attachCni(dir: string, id: string, pid: number, hostname: string, record: NetworkRecord, save: () => void): void {
  const cni = record.cni!;
  const pin = join(dir, 'netns');
  cni.netns = pin;
  save(); // before anything exists: teardown looks for the pin even if runts dies now
  try {
    pinNetns(pin, pid);
    cni.result = cniAdd(cni.network, { id, netns: pin, ports: record.ports });
  } catch (err) {
    unpinNetns(pin);
    delete cni.netns;
    save();
    throw err;
  }
  record.ip = containerAddress(cni.result);
  save();
  // in place: the files are already bind-mounted into the container
  writeFileSync(join(dir, 'hosts'), hostsFile(record.ip ? { ip: record.ip, names: [id] } : undefined, hostname));
  const resolv = dnsResolvConf(cni.result.dns);
  if (resolv) writeFileSync(join(dir, 'resolv.conf'), resolv);
}

function readRecord(dir: string): NetworkRecord | undefined {
  const file = recordFile(dir);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as NetworkRecord : undefined;
}

/**
 * CNI CHECK of a container on `--network cni:<name>`: every plugin confirms
 * the attachment is still what ADD made. False when the list sets
 * disableCheck (CHECK is then never called).
 */
export function checkNetwork(dir: string, id: string): boolean {
  const record = readRecord(dir);
  const cni = record?.cni;
  if (!record || !cni?.netns || !cni.result) throw new RuntsError('ENOTSUP', `container ${id} is not attached to a CNI network (its network: ${record?.mode ?? 'none recorded'})`);
  const netns = pinnedNetns(cni.netns);
  if (!netns) throw new RuntsError('ESTATE', `container ${id}: its network namespace ${cni.netns} is no longer pinned`);
  return cniCheck(cni.network, { id, netns, ports: record.ports }, cni.result);
}

/** Undoes prepareNetwork and attach; safe to call twice, and for a container that never had a network. */
export function releaseNetwork(dir: string, id: string): void {
  const record = readRecord(dir);
  if (!record) return;
  if (record.pasta) stopPasta(record.pasta);
  if (record.net) release(record.net, id);
  if (record.cni?.netns) {
    const { network, netns, result } = record.cni;
    try {
      cniDel(network, { id, netns: pinnedNetns(netns), ports: record.ports }, result);
    } catch (err) {
      throw wrap(err, `release ${id} from CNI network ${network.name} (kept in ${recordFile(dir)}: try again once the plugin works)`);
    }
    unpinNetns(netns);
  }
  rmSync(recordFile(dir), { force: true });
}
