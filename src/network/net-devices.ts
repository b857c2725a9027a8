/**
 * linux.netDevices (runtime-spec 1.2): host network interfaces moved into
 * the container's network namespace, optionally renamed, as runc 1.3 does:
 * the link is set down, moved and renamed in one `ip link set ... netns
 * ... name ...`, its permanent global addresses (which the kernel drops on
 * the move) are added again inside, and it is set up there.
 *
 * Nothing moves them back: when the namespace goes, the kernel returns a
 * physical device to the host's initial namespace and destroys a virtual
 * one (dummy, veth, ...), which is what the runtime-spec asks and runc
 * does. Every interface is checked before the first one moves, so a bad
 * name fails create with nothing moved.
 *
 * The book: docs/07-networking.md; design: docs/design/network.md, "Moving host interfaces".
 */
import { spawnSync } from 'node:child_process';
import { RuntsError } from '../errors.ts';
import type { LinuxNetDevice } from '../oci/types.ts';
import { ipBatch, linkInfo } from './exec.ts';

type NetDevices = Record<string, LinuxNetDevice> | undefined;

/** Before anything is created: runts may move them, and each exists on the host. */
export function checkNetDevices(devices: NetDevices, rootless: boolean): void {
  const names = Object.keys(devices ?? {});
  if (!names.length) return;
  if (rootless) throw new RuntsError('ENOTSUP', 'linux.netDevices: moving a host interface needs root on the host; a rootless container cannot');
  for (const name of names) {
    if (!linkInfo(name)) throw new RuntsError('ENOENT', `linux.netDevices.${name}: no network interface ${name} on the host (ip link show ${name})`, { path: `linux.netDevices.${name}` });
  }
}

/** Moves each interface into the network namespace of pid (INIT, not yet running the container's process). */
export function moveNetDevices(devices: NetDevices, pid: number): void {
  for (const [name, dev] of Object.entries(devices ?? {})) {
    const inside = dev.name || name;
    const addresses = permanentGlobalAddresses(name);
    ipBatch([`link set dev ${name} down`, `link set dev ${name} netns ${pid} name ${inside}`], `linux.netDevices.${name}: move into the container as ${inside}`);
    ipBatch([...addresses.map((a) => `addr add ${a} dev ${inside}`), `link set dev ${inside} up`], `linux.netDevices.${name}: set up ${inside} in the container`, pid);
  }
}

interface AddrInfo { local: string; prefixlen: number; scope: string; dynamic?: boolean }

/** What the kernel drops on a move and runc adds again: user-configured addresses of global scope. */
function permanentGlobalAddresses(name: string): string[] {
  const r = spawnSync('ip', ['-j', 'addr', 'show', 'dev', name], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new RuntsError('ENETWORK', `linux.netDevices.${name}: read its addresses: ${(r.stderr ?? '').trim()}`);
  const [link] = JSON.parse(r.stdout) as { addr_info?: AddrInfo[] }[];
  return (link?.addr_info ?? []).filter((a) => a.scope === 'global' && !a.dynamic).map((a) => `${a.local}/${a.prefixlen}`);
}
