/**
 * From an image config and `runts run` flags to an OCI config.json, with the
 * defaults podman and Docker ship: their reduced capability set, the default
 * seccomp profile for those capabilities, masked and read-only /proc and /sys
 * paths, no_new_privs, and new pid, mount, uts, ipc, network and cgroup
 * namespaces. A user who wants less asks for it by flag.
 *
 * Pure: it reads nothing and touches nothing, so every rule here has a unit test.
 *
 * The book: docs/09-writing-runtime.md, "A tiny Docker".
 */
import { isAbsolute } from 'node:path';
import { RuntsError } from '../errors.ts';
import type { ImageConfig } from '../image/archive.ts';
import { defaultSpec } from '../oci/spec.ts';
import type { CapabilityName, LinuxSeccomp, Mount, Spec } from '../oci/types.ts';
import { CAPABILITY_NAMES } from '../oci/kernel-numbers.ts';
import { defaultSeccompProfile } from '../security/seccomp/default-profile.ts';
import type { IdRange } from '../rootless/idmap.ts';

/** podman's default set (containers.conf `default_capabilities`). */
export const DEFAULT_CAPABILITIES: CapabilityName[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE',
  'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT',
];

export interface RunFlags {
  env: string[];
  workdir?: string;
  /** already resolved to numbers by the caller (names need the image's /etc/passwd) */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  hostname?: string;
  readOnly?: boolean;
  volumes: string[];
  /** `ALL` or names, with or without `CAP_` */
  capAdd?: string[];
  capDrop?: string[];
  /** `no-new-privileges[=true|false]`, `seccomp=unconfined`, `seccomp=<profile.json contents>` are resolved by the caller */
  noNewPrivileges?: boolean;
  seccomp?: 'default' | 'unconfined' | LinuxSeccomp;
  /** bytes */
  memory?: number;
  /** CPUs, as a fraction: 1.5 */
  cpus?: number;
  pidsLimit?: number;
  tty?: boolean;
}

/** `512m`, `1g`, `1048576` (bytes) as Docker reads `--memory`. */
export function parseBytes(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)b?$/i.exec(v.trim());
  if (!m) throw new RuntsError('EINVAL', `${flag} ${v}: expected a size such as 512m or 1g`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  return Math.floor(Number(m[1]) * unit);
}

/** The capability set after --cap-add / --cap-drop (drop wins over the defaults, add over drop ALL). */
export function capabilitySet(add: string[] = [], drop: string[] = []): CapabilityName[] {
  const norm = (c: string) => {
    const up = c.toUpperCase();
    return up === 'ALL' ? 'ALL' : up.startsWith('CAP_') ? up : `CAP_${up}`;
  };
  const known = new Set(Object.keys(CAPABILITY_NAMES));
  for (const c of [...add, ...drop].map(norm)) {
    if (c !== 'ALL' && !known.has(c)) throw new RuntsError('EINVAL', `unknown capability ${c}`);
  }
  const adds = add.map(norm), drops = drop.map(norm);
  let caps = new Set<string>(drops.includes('ALL') ? [] : DEFAULT_CAPABILITIES);
  for (const c of drops) caps.delete(c);
  if (adds.includes('ALL')) caps = new Set(known);
  for (const c of adds) if (c !== 'ALL') caps.add(c);
  return [...caps].sort() as CapabilityName[];
}

/** The command: CMD... replaces the image's Cmd, never its Entrypoint. */
export function commandOf(config: ImageConfig, cmd: string[]): string[] {
  const entrypoint = config.config?.Entrypoint ?? [];
  const args = [...entrypoint, ...(cmd.length ? cmd : config.config?.Cmd ?? [])];
  if (!args.length) throw new RuntsError('EINVAL', 'no command: the image has no Entrypoint or Cmd, and none was given');
  return args;
}

/** Later values win, per variable name, as `docker run -e` does. */
export function mergeEnv(...lists: string[][]): string[] {
  const out = new Map<string, string>();
  for (const list of lists) {
    for (const kv of list) {
      const eq = kv.indexOf('=');
      if (eq <= 0) {
        // `-e NAME` alone passes the caller's value through, when it has one
        const value = process.env[kv];
        if (eq < 0 && value !== undefined) out.set(kv, `${kv}=${value}`);
        else if (eq === 0) throw new RuntsError('EINVAL', `--env ${JSON.stringify(kv)}: no variable name`);
        continue;
      }
      out.set(kv.slice(0, eq), kv);
    }
  }
  return [...out.values()];
}

/** `-v /host:/ctr[:ro|rw]` as a bind mount. */
export function volumeMount(v: string): Mount {
  const [source, destination, mode, extra] = v.split(':');
  if (!source || !destination || extra !== undefined || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw new RuntsError('EINVAL', `--volume ${v}: expected /host/path:/container/path[:ro|rw]`);
  }
  if (!isAbsolute(source) || !isAbsolute(destination)) throw new RuntsError('EINVAL', `--volume ${v}: both paths must be absolute`);
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate', ...(mode === 'ro' ? ['ro'] : [])] };
}

export function imageSpec(config: ImageConfig, cmd: string[], flags: RunFlags, id: string): Spec {
  const spec = defaultSpec();
  const c = config.config ?? {};
  const caps = capabilitySet(flags.capAdd, flags.capDrop);
  const p = spec.process!;
  p.args = commandOf(config, cmd);
  p.env = mergeEnv(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], c.Env ?? [], [`HOSTNAME=${flags.hostname ?? id.slice(0, 12)}`], flags.env);
  p.cwd = flags.workdir ?? (c.WorkingDir || '/');
  if (!isAbsolute(p.cwd)) throw new RuntsError('EINVAL', `--workdir ${p.cwd}: must be an absolute path`);
  p.user = flags.user ?? { uid: 0, gid: 0 };
  // Like podman: a non-root user keeps the bounding set but no effective capabilities.
  const effective = p.user.uid === 0 ? caps : [];
  p.capabilities = { bounding: caps, effective, permitted: effective };
  p.noNewPrivileges = flags.noNewPrivileges ?? true;
  p.terminal = !!flags.tty;
  spec.root = { path: 'merged', readonly: !!flags.readOnly };
  spec.hostname = flags.hostname ?? id.slice(0, 12);
  spec.mounts = [...(spec.mounts ?? []), ...flags.volumes.map(volumeMount)];
  const seccomp = flags.seccomp ?? 'default';
  if (seccomp === 'default') spec.linux!.seccomp = defaultSeccompProfile(caps);
  else if (seccomp !== 'unconfined') spec.linux!.seccomp = seccomp;
  const resources = spec.linux!.resources ?? {};
  if (flags.memory !== undefined) resources.memory = { limit: flags.memory };
  if (flags.cpus !== undefined) {
    if (!(flags.cpus > 0)) throw new RuntsError('EINVAL', `--cpus ${flags.cpus}: must be more than 0`);
    resources.cpu = { period: 100_000, quota: Math.round(flags.cpus * 100_000) };
  }
  if (flags.pidsLimit !== undefined) resources.pids = { limit: flags.pidsLimit };
  spec.linux!.resources = resources;
  return spec;
}

/**
 * An unprivileged user's container (docs/design/rootless.md, "The front
 * end"): runts runs in the front end's user namespace (rootless/userns.ts),
 * and the container gets one of its own mapped 1:1 onto it (`uids`, `gids`:
 * the ranges that namespace maps, as in namespaceRanges), so image files
 * owned by any of those ids keep their owners inside. Without a network
 * namespace of its own (host mode) it cannot mount sysfs: the host's is
 * bound read-only, as runc's ToRootless does.
 */
export function rootlessImageSpec(spec: Spec, uids: IdRange[], gids: IdRange[]): Spec {
  const linux = spec.linux!;
  const namespaces = (linux.namespaces ?? []).filter((n) => n.type !== 'user');
  const identity = (ranges: IdRange[]) => ranges.map((r) => ({ containerID: r.start, hostID: r.start, size: r.count }));
  linux.namespaces = [...namespaces, { type: 'user' }];
  linux.uidMappings = identity(uids);
  linux.gidMappings = identity(gids);
  if (!namespaces.some((n) => n.type === 'network')) {
    spec.mounts = (spec.mounts ?? []).map((m) => (m.destination === '/sys' ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] } : m));
  }
  return spec;
}
