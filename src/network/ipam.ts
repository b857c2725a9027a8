/**
 * Address management: IPv4 subnets as numbers, and the allocation table of
 * one network, kept as JSON next to a lock file.
 *
 * The lock is an O_EXCL-created file holding the owner's pid: creating it is
 * atomic, so fifty `runts run` at once take turns; a lock whose owner died is
 * broken. Each allocation names its container and the process that keeps it
 * alive (the container's init, with its start time against pid reuse); an
 * allocation whose process is gone is reclaimed by the next allocator, so a
 * crash never leaks an address for good.
 *
 * The book: docs/07-networking.md.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { RuntsError } from '../errors.ts';

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

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export const isAlive = (a: Allocation) => processStartTime(a.pid) === a.startTime;

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const me = () => `${process.pid} ${processStartTime(process.pid)}\n`;
const ownerDead = (content: string) => {
  const [pid, start] = content.trim().split(' ');
  return !!pid && processStartTime(Number(pid)) !== start;
};
const readOr = (path: string, or: string) => { try { return readFileSync(path, 'utf8'); } catch { return or; } };

/**
 * Breaks a lock whose owner died holding it. Judging and unlinking are two
 * steps, so a breaker first takes `<lock>.break` (O_EXCL) and judges again:
 * no one else breaks meanwhile, and an owner that released normally left no
 * dead owner's content behind to be judged. A break lock is held for
 * microseconds; one older than ten seconds belonged to a crashed breaker.
 */
function breakStale(lock: string): void {
  const guard = `${lock}.break`;
  try {
    closeSync(openSync(guard, 'wx', 0o600));
  } catch {
    try { if (Date.now() - statSync(guard).mtimeMs > 10_000) unlinkSync(guard); } catch { /* gone */ }
    return;
  }
  try {
    const content = readOr(lock, '');
    if (content && ownerDead(content)) unlinkSync(lock);
  } finally {
    unlinkSync(guard);
  }
}

/** Runs `fn` holding `<file>.lock`; at most ~30 s of waiting, then a clear error. */
export function withLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  mkdirSync(dirname(lock), { recursive: true, mode: 0o700 });
  for (let i = 0; ; i++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, me());
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // An empty file is an owner between open and write: wait for it.
      const content = readOr(lock, '');
      if (content && ownerDead(content)) { breakStale(lock); continue; }
      if (i >= 3000) throw new RuntsError('ENETWORK', `${lock}: held by process ${content.split(' ')[0]} for too long`, { path: lock });
      sleep(10);
    }
  }
  try {
    return fn();
  } finally {
    unlinkSync(lock);
  }
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
  writeFileSync(`${file}.tmp`, JSON.stringify(table, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}
