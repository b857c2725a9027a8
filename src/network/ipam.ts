/**
 * Address management: IPv4 subnets as numbers, and the allocation table of
 * one network, kept as JSON next to its lock file (sys/lock.ts: flock, which
 * the kernel drops when its holder dies), so fifty `runts run` at once take
 * turns. Each allocation names its container and the process that keeps it
 * alive (the container's init, with its start time against pid reuse); an
 * allocation whose process is gone is reclaimed by the next allocator, so a
 * crash never leaks an address for good.
 *
 * The book: docs/07-networking.md.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RuntsError } from '../errors.ts';
import { processStartTime } from '../runtime/process.ts';
import { withFileLock } from '../sys/lock.ts';
import { writeFileAtomic } from '../sys/files.ts';

export interface Subnet { base: number; prefix: number }

export function parseIp(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new RuntsError('EINVAL', `not an IPv4 address: ${s}`);
  return parts.reduce((a, p) => a * 256 + Number(p), 0);
}

export function formatIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function parseSubnet(s: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (!m || Number(m[2]) > 30 || Number(m[2]) < 8) throw new RuntsError('EINVAL', `subnet ${s}: expected an IPv4 CIDR with a prefix from /8 to /30, such as 10.77.0.0/16`);
  const prefix = Number(m[2]);
  const ip = parseIp(m[1]!);
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0) throw new RuntsError('EINVAL', `subnet ${s}: host bits are set (did you mean ${formatIp(ip - (ip % size))}/${prefix}?)`);
  return { base: ip, prefix };
}

export const subnetSize = (s: Subnet) => 2 ** (32 - s.prefix);
export const formatSubnet = (s: Subnet) => `${formatIp(s.base)}/${s.prefix}`;
export const inSubnet = (s: Subnet, ip: number) => ip >= s.base && ip < s.base + subnetSize(s);
export const overlaps = (a: Subnet, b: Subnet) => a.base < b.base + subnetSize(b) && b.base < a.base + subnetSize(a);

export interface Allocation {
  ip: string;
  /** the process whose death frees the address: the container's init once attached */
  pid: number;
  startTime: string;
  ports: PortMapping[];
  /** the container's /etc/hosts (on the host), rewritten as members come and go */
  hosts?: string;
  hostname?: string;
}

export interface PortMapping { hostIp: string; hostPort: number; containerPort: number; proto: 'tcp' | 'udp' }

export interface NetworkTable {
  subnet: string;
  gateway: string;
  allocations: Record<string, Allocation>;
}

/** The lowest free address: not the network, gateway or broadcast address. */
export function nextFree(table: NetworkTable): string {
  const s = parseSubnet(table.subnet);
  const used = new Set([parseIp(table.gateway), ...Object.values(table.allocations).map((a) => parseIp(a.ip))]);
  for (let ip = s.base + 1; ip < s.base + subnetSize(s) - 1; ip++) if (!used.has(ip)) return formatIp(ip);
  throw new RuntsError('ENETWORK', `subnet ${table.subnet} is exhausted: all ${subnetSize(s) - 3} addresses are in use`);
}

/** A host port already published (on the same address, or on 0.0.0.0, by either side). */
export function portTaken(table: NetworkTable, p: PortMapping): string | undefined {
  for (const [id, a] of Object.entries(table.allocations)) {
    for (const q of a.ports) {
      if (q.proto === p.proto && q.hostPort === p.hostPort && (q.hostIp === p.hostIp || q.hostIp === '0.0.0.0' || p.hostIp === '0.0.0.0')) return id;
    }
  }
  return undefined;
}

export const isAlive = (a: Allocation) => processStartTime(a.pid) === a.startTime;

/** Runs `fn` holding `<file>.lock`: at most 30 s of waiting, then a clear error. Not re-entrant. */
export function withLock<T>(file: string, fn: () => T): T {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  return withFileLock(`${file}.lock`, fn, { what: 'network state' });
}

export function readTable(file: string): NetworkTable | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as NetworkTable;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RuntsError('ENETWORK', `${file}: ${(err as Error).message}`, { path: file, cause: err });
  }
}

/** Written to a temporary file and renamed: a crash leaves the old table or the new one. */
export function writeTable(file: string, table: NetworkTable): void {
  writeFileAtomic(file, JSON.stringify(table, null, 2) + '\n');
}
