// The config.json that `runts spec` writes: the same starting point `runc spec`
// gives (runc's libcontainer/specconv/example.go), with the hostname "runts".
//
// It is deliberately small: a shell as pid 1, three capabilities, a new
// namespace of every kind but user (and time), the kernel filesystems mounted
// read-only where a container has no business writing, and the /proc and /sys
// files that leak host information masked or made read-only.
//
// `--rootless` applies runc's ToRootless: an unprivileged user cannot create
// a network namespace that reaches anywhere, mount a fresh sysfs, map ids it
// does not own, or write to cgroups, so those parts change (see toRootless).
//
// The book: docs/01-what-is-a-container.md (a bundle from `runts spec`);
// docs/design/runtime-core.md.

import type { Linux, Mount, Spec } from './types.ts';

/** The runtime-spec version runts implements and writes. */
export const OCI_VERSION = '1.2.0';

export interface DefaultSpecOptions {
  /** produce a config an unprivileged user can run (runc spec --rootless) */
  rootless?: boolean | undefined;
  /** host ids mapped to root in the container when rootless; default: this process's euid/egid */
  uid?: number | undefined;
  gid?: number | undefined;
  /** a cgroup namespace too (default true; runc adds one only on cgroup v2 hosts) */
  cgroupNamespace?: boolean | undefined;
}

/** The example config.json, as `runc spec` (or `runc spec --rootless`) writes it. */
export function defaultSpec(opts: DefaultSpecOptions = {}): Spec {
  const capabilities = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'] as const;
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...capabilities],
        effective: [...capabilities],
        permitted: [...capabilities],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runts',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      // deny every device; the default /dev nodes are allowed by the runtime itself
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, ...(opts.cgroupNamespace === false ? [] : [{ type: 'cgroup' as const }])],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
        // current runc also hides the TPM (measured-boot logs, a device handle)
        '/sys/devices/virtual/tpm',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  if (!opts.rootless) return spec;
  return toRootless(spec, { uid: opts.uid ?? process.geteuid!(), gid: opts.gid ?? process.getegid!() });
}

/**
 * runc's ToRootless: returns a copy of `spec` that an unprivileged user can run,
 * with `ids` (the caller's own uid and gid) mapped to root in the container.
 */
export function toRootless(spec: Spec, ids: { uid: number; gid: number }): Spec {
  const out = structuredClone(spec);
  const linux = out.linux ?? {};
  // A new user namespace is what makes every other namespace possible without
  // privilege. A network namespace would work, but nothing could connect it
  // to the host (veth pairs need CAP_NET_ADMIN there), so runc shares the host's.
  const namespaces = (linux.namespaces ?? []).filter((ns) => ns.type !== 'network' && ns.type !== 'user');
  namespaces.push({ type: 'user' });
  // cgroup limits need write access to the cgroup tree, which the user lacks: dropped
  const rest: Linux = { ...linux };
  for (const key of ['uidMappings', 'gidMappings', 'resources', 'namespaces'] as const) delete rest[key];
  out.linux = {
    // an unprivileged process may map exactly one id: its own (user_namespaces(7))
    uidMappings: [{ containerID: 0, hostID: ids.uid, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: ids.gid, size: 1 }],
    namespaces,
    ...rest,
  };
  out.mounts = (out.mounts ?? []).map(rootlessMount);
  return out;
}

function rootlessMount(mount: Mount): Mount {
  // sysfs may only be mounted by the owner of the network namespace; share the host's, read-only
  if (mount.destination.replace(/\/+$/, '') === '/sys') {
    return { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
  }
  // ids such as devpts gid=5 are not mapped in a one-id user namespace
  const options = mount.options?.filter((o) => !o.startsWith('uid=') && !o.startsWith('gid='));
  return options === undefined ? { ...mount } : { ...mount, options };
}
