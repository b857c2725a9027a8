/*
 * probe.ts - builds test/probe/probe.c (static, cached by content hash) and
 * types what it prints. The probe runs inside the container; see the header
 * of probe.c for its subcommands.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { MountEntry } from './host.ts';

export const REPO = resolve(import.meta.dirname, '../..');
const PROBE_SOURCE = join(REPO, 'test/probe/probe.c');
const CC_ARGS = ['-static', '-O2'];

export type { MountEntry };

export type NamespaceKind =
  'cgroup' | 'ipc' | 'mnt' | 'net' | 'pid' | 'pid_for_children' | 'time' | 'time_for_children' | 'user' | 'uts';

/* The one JSON object `probe` (no subcommand, or `probe -- ARGS`) prints. */
export interface ProbeReport {
  fds: Record<string, string | null> | null; // fd number -> readlink target
  fdsError?: string;
  pid: number;
  ppid: number;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  groups: number[]; // getgroups(2), kernel order
  umask: number; // numeric, e.g. 18 for 0o022
  cwd: string | null;
  cwdError?: string; // errno name when getcwd failed (e.g. ENOENT: unreachable)
  hostname: string;
  domainname: string;
  caps: { CapInh: string | null; CapPrm: string | null; CapEff: string | null; CapBnd: string | null; CapAmb: string | null };
  noNewPrivs: number | null;
  seccomp: number | null; // 0 off, 1 strict, 2 filter
  oomScoreAdj: number | null;
  rlimits: Record<string, [number, number] | null>; // OCI names; -1 = unlimited
  env: string[];
  argv: string[];
  ns: Record<NamespaceKind, string | null>; // readlink, "net:[4026531833]"
  mounts: MountEntry[] | null;
  mountsError?: string;
  cgroup: string | null; // raw /proc/self/cgroup
  uidMap: string | null; // raw /proc/self/uid_map
  gidMap: string | null;
}

export interface StatEntry {
  type?: 'file' | 'dir' | 'char' | 'block' | 'fifo' | 'symlink' | 'socket';
  mode?: number; // permission bits only (st_mode & 07777)
  major?: number; // of st_rdev
  minor?: number;
  uid?: number;
  gid?: number;
  size?: number;
  target?: string; // symlinks only
  error?: string; // errno name, e.g. ENOENT
}

let built: string | undefined;

/* Path of a static probe binary for this source; compiled once per content hash. */
export function probeBinary(): string {
  if (process.env.RUNTS_TEST_PROBE) return process.env.RUNTS_TEST_PROBE;
  if (built) return built;
  const source = readFileSync(PROBE_SOURCE);
  const hash = createHash('sha256').update(CC_ARGS.join(' ')).update(source).digest('hex').slice(0, 16);
  const cacheDir = join(tmpdir(), 'runts-test-cache');
  const bin = join(cacheDir, `probe-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
    const partial = `${bin}.${process.pid}.tmp`;
    const cc = spawnSync('cc', [...CC_ARGS, '-o', partial, PROBE_SOURCE], { encoding: 'utf8' });
    if (cc.status !== 0) {
      rmSync(partial, { force: true });
      throw new Error(`building the probe failed (cc ${CC_ARGS.join(' ')}): ${cc.stderr || cc.error}`);
    }
    chmodSync(partial, 0o755);
    renameSync(partial, bin); // atomic: concurrent test files never see half a binary
  }
  built = bin;
  return bin;
}

/* The probe prints exactly one JSON object on one line. */
export function parseProbeJson<T = unknown>(stdout: string, context = ''): T {
  const text = stdout.replace(/\r/g, '').trim();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`probe output is not one JSON object${context ? ` (${context})` : ''}: ${JSON.stringify(text.slice(0, 2000))}`);
  }
}

export function parseProbe(stdout: string, context = ''): ProbeReport {
  return parseProbeJson<ProbeReport>(stdout, context);
}

/* The mount visible at mountPoint (the topmost one when stacked). */
export function mountAt(report: ProbeReport, mountPoint: string): MountEntry | undefined {
  const all = (report.mounts ?? []).filter((m) => m.mountPoint === mountPoint);
  return all[all.length - 1];
}

export function optionList(options: string): string[] {
  return options.split(',').filter(Boolean);
}

/* "0 100000 65536\n" -> [[0, 100000, 65536]] */
export function parseIdMap(text: string | null): number[][] {
  return (text ?? '').split('\n').map((l) => l.trim().split(/\s+/).filter(Boolean).map(Number)).filter((r) => r.length === 3);
}

export interface CgroupLine {
  hierarchy: string;
  controllers: string[];
  path: string;
}

/* "4:memory:/a/b" lines; v2's "0::/a" has controllers []. */
export function parseCgroupFile(text: string | null): CgroupLine[] {
  return (text ?? '').split('\n').filter(Boolean).map((line) => {
    const [hierarchy = '', controllers = '', ...rest] = line.split(':');
    return { hierarchy, controllers: controllers ? controllers.split(',') : [], path: rest.join(':') };
  });
}

/* The inode in "net:[4026531833]", or the inode of a bind-mounted ns file. */
export function nsInode(link: string | null): number | null {
  const m = /\[(\d+)\]$/.exec(link ?? '');
  return m ? Number(m[1]) : null;
}

export const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

export type CapName = (typeof CAPABILITIES)[number];

export function capBits(names: readonly string[]): bigint {
  let mask = 0n;
  for (const n of names) {
    const bit = CAPABILITIES.indexOf(n as CapName);
    if (bit < 0) throw new Error(`unknown capability ${n}`);
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

/* The 16-hex-digit form /proc/self/status uses. */
export function capHex(mask: bigint): string {
  return mask.toString(16).padStart(16, '0');
}

export function capNames(hex: string | null): string[] {
  const mask = BigInt(`0x${hex ?? '0'}`);
  return CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}
