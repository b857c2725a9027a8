/**
 * The host probe: everything the compiler needs to know about this machine,
 * read once per create into one typed value, HostFacts. The compiler
 * (compile.ts) is then a pure function of the config, these facts and the
 * verb's options: it reads nothing, so a plan can be computed, printed and
 * tested for a host that is not this one (test/unit/plan-host.test.ts fakes
 * v1, v2 and hybrid hosts, hosts without user namespaces, with and without
 * AppArmor).
 *
 * What is read: the kernel's namespaces, the cgroup layout and what its
 * controllers offer (cgroups/host.ts), the LSMs enabled, the capabilities
 * runts may hand out, the mount table, runts's own privilege, and what the
 * filesystem says about the paths the config names (the root, bind
 * sources). Facts only some configs need are read only for those: the id
 * map tools for a new user namespace, delegation for a rootless cgroup.
 * Each concern keeps the one function that reads its part; this file calls
 * each of them once. The whole probe costs well under a millisecond.
 *
 * Design: docs/design/runtime-core.md, "One probe, one pure compiler".
 */
import { accessSync, constants, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { listIfThere, readIfThere } from '../sys/read.ts';
import { dirname, resolve } from 'node:path';
import type { Spec } from '../oci/types.ts';
import { readCgroupHost, type CgroupHost } from '../cgroups/host.ts';
import type { PathFact } from '../rootfs/mounts.ts';
import type { DirOwner } from '../rootfs/userns-reach.ts';
import { cgroupLayout } from '../cgroups/layout.ts';
import { rootlessCgroup } from '../cgroups/placement.ts';
import { hostUid, isRootless } from '../rootless/detect.ts';
import { idMapHost, type IdMapHost } from '../rootless/idmap.ts';
import { grantableCapabilities } from '../security/capabilities.ts';
import { hostLsms, type HostLsms } from '../security/lsm.ts';
import type { SeccompArch } from '../oci/types.ts';
import { nativeArch } from '../security/seccomp/arch.ts';

export interface HostFacts {
  /** runts's effective uid. */
  euid: number;
  /** That uid as the host sees it: itself, unless runts runs in a user namespace (the front end's, rootless podman's). */
  hostUid: number;
  /** runts has no privilege over the host: a non-root euid, or root of a user namespace (rootless/detect.ts). */
  rootless: boolean;
  /** The namespace files the kernel has in /proc/self/ns (mnt, net, pid, user, cgroup, time, ...). */
  namespaces: string[];
  /** May a user namespace be made? (/proc/sys/user/max_user_namespaces is not 0) */
  userNamespaces: boolean;
  cgroup: CgroupHost;
  /** Rootless on cgroup v2: which delegation paths runts may write, and the delegated cgroup.controllers. */
  cgroupAccess?: { writable: Record<string, boolean>; files: Record<string, string> };
  lsms: HostLsms;
  /** The capabilities runts may hand out (security/capabilities.ts). */
  capabilities: bigint;
  /** The seccomp ABI of this machine. */
  arch: SeccompArch;
  /** Does /proc/kcore exist (the /dev/core symlink points at it)? */
  kcore: boolean;
  /** /proc/self/mountinfo, as read. */
  mountinfo: string;
  /** Who may write id maps and with what ranges; only for a config that makes a user namespace. */
  idMap?: IdMapHost;
  /** The config's paths (resolved against the bundle): the root, and every mount source. */
  paths: Record<string, PathFact>;
  /** Only for a config that makes a user namespace: owner and mode of each directory above a mount source (rootfs/userns-reach.ts). */
  dirOwners?: Record<string, DirOwner>;
}

/** The paths of a config the compiler asks about: root.path, then each mount's source. */
export function configPaths(spec: Spec, bundle: string): { root: string; sources: string[] } {
  return {
    root: resolve(bundle, spec.root?.path ?? 'rootfs'),
    sources: (spec.mounts ?? []).filter((m) => m.source).map((m) => resolve(bundle, m.source!)),
  };
}

export function probeHost(spec: Spec, opts: { bundle: string; id: string }): HostFacts {
  const layout = cgroupLayout();
  const rootless = isRootless();
  const namespaces = listIfThere('/proc/self/ns');
  const maxUserns = readIfThere('/proc/sys/user/max_user_namespaces');
  const facts: HostFacts = {
    euid: process.geteuid!(),
    hostUid: hostUid(process.geteuid!()),
    rootless,
    namespaces,
    userNamespaces: namespaces.includes('user') && maxUserns?.trim() !== '0',
    cgroup: readCgroupHost(spec.linux?.resources, layout),
    lsms: hostLsms(),
    capabilities: grantableCapabilities(),
    arch: nativeArch(),
    kcore: existsSync('/proc/kcore'),
    mountinfo: readFileSync('/proc/self/mountinfo', 'utf8'),
    paths: probePaths(spec, opts.bundle),
  };
  if (spec.linux?.namespaces?.some((n) => n.type === 'user' && !n.path)) {
    facts.idMap = idMapHost();
    facts.dirOwners = probeDirOwners(configPaths(spec, opts.bundle).sources);
  }
  const v2 = layout.hierarchies.find((h) => h.version === 2);
  if (rootless && layout.mode === 2 && v2) {
    const { mustWrite, controllersFile } = rootlessCgroup(v2, opts.id, spec.linux?.cgroupsPath);
    facts.cgroupAccess = {
      writable: Object.fromEntries(mustWrite.map((p) => [p, writable(p)])),
      files: { [controllersFile]: readIfThere(controllersFile) ?? '' },
    };
  }
  return facts;
}

/** What stat(2) says about the config's paths (the root's real path too: it must not be the host's "/"). */
export function probePaths(spec: Spec, bundle: string): Record<string, PathFact> {
  const { root, sources } = configPaths(spec, bundle);
  const paths: Record<string, PathFact> = { [root]: pathFact(root, true) };
  for (const s of sources) paths[s] ??= pathFact(s, false);
  return paths;
}

/** Owner and mode of each directory above the sources (rootfs/userns-reach.ts decides from them). */
export function probeDirOwners(sources: string[]): Record<string, DirOwner> {
  const owners: Record<string, DirOwner> = {};
  for (const source of sources) {
    for (let dir = dirname(source); !(dir in owners); dir = dirname(dir)) {
      const st = statSync(dir, { throwIfNoEntry: false });
      if (st) owners[dir] = { uid: st.uid, gid: st.gid, mode: st.mode };
      if (dir === '/') break;
    }
  }
  return owners;
}

function pathFact(path: string, withRealpath: boolean): PathFact {
  try {
    const st = statSync(path);
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    return withRealpath ? { kind, realpath: realpathSync(path) } : { kind };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { kind: 'error', code: e.code ?? '', errno: e.errno ?? 0, message: e.message };
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The namespaces exec may join (/proc/<pid>/ns names). */
const EXEC_NAMESPACES = ['user', 'ipc', 'uts', 'net', 'pid', 'time', 'cgroup', 'mnt'];

/** What exec's compiler (compile-exec.ts) needs of the machine. */
export interface ExecHostFacts {
  /** The namespaces of the container's INIT (/proc/<pid>/ns names) to join: those runts is not in. */
  join: string[];
  capabilities: bigint;
  arch: SeccompArch;
}

export function probeExecHost(pid: number): ExecHostFacts {
  return { join: namespacesToJoin(pid), capabilities: grantableCapabilities(), arch: nativeArch() };
}

/**
 * The namespaces of pid that runts is not in. One the container shares with
 * runts is not joined: setns into the user namespace one already is in
 * fails (EINVAL), and for the others it would change nothing.
 */
export function namespacesToJoin(pid: number): string[] {
  return EXEC_NAMESPACES.filter((file) => {
    const theirs = statSync(`/proc/${pid}/ns/${file}`, { throwIfNoEntry: false });
    if (!theirs) return false; // a kernel without this namespace type
    const ours = statSync(`/proc/self/ns/${file}`);
    return theirs.ino !== ours.ino || theirs.dev !== ours.dev;
  });
}
