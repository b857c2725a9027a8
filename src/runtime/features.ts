/**
 * `runts features`: what this runtime supports, in the runtime-spec's
 * features.md shape, so engines can ask instead of guessing.
 *
 * The runtime-spec's features document is features.md in
 * github.com/opencontainers/runtime-spec; engines read it through `runts features`.
 *
 * The book: docs/10-real-world-oci.md, "What engines read: features".
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { CAPABILITY_NAMES, NAMESPACE_FLAGS } from '../oci/kernel-numbers.ts';
import { cgroupLayout } from '../cgroups/layout.ts';
import { securityFeatures } from '../security/features.ts';
import { RUNTIME_OPTION_NAMES } from '../rootfs/mount-options.ts';
import { isRootless } from '../rootless/detect.ts';
import { criuPath } from './checkpoint.ts';

const MOUNT_OPTIONS = [
  'async', 'atime', 'bind', 'dev', 'diratime', 'dirsync', 'exec', 'idmap', 'lazytime', 'mand', 'noatime', 'nodev', 'nodiratime', 'noexec',
  'nolazytime', 'nomand', 'norelatime', 'nostrictatime', 'nosuid', 'nosymfollow', 'private', 'rbind', 'relatime', 'remount', 'ro',
  'ridmap', 'rprivate', 'rshared', 'rslave', 'runbindable', 'rw', 'shared', 'slave', 'strictatime', 'suid', 'symfollow', 'sync', 'unbindable',
];

export function features() {
  const layout = cgroupLayout();
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.2.1',
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: [...MOUNT_OPTIONS, ...RUNTIME_OPTION_NAMES].sort(),
    linux: {
      // time namespaces came in Linux 5.6
      namespaces: Object.keys(NAMESPACE_FLAGS).filter((n) => n !== 'time' || existsSync('/proc/self/ns/time')),
      capabilities: Object.keys(CAPABILITY_NAMES),
      cgroup: { v1: layout.mode === 1, v2: layout.mode === 2, systemd: false, systemdUser: false, rdma: false },
      ...securityFeatures(),
      intelRdt: { enabled: false },
      // mount_setattr(MOUNT_ATTR_IDMAP) came in Linux 5.12 (rootfs/idmap.ts)
      mountExtensions: { idmap: { enabled: kernelAtLeast(5, 12) } },
      // moving a host interface needs root on the host (network/net-devices.ts)
      netDevices: { enabled: !isRootless() },
    },
    annotations: {
      'org.opencontainers.runtime-spec.features.runts.version': '0.1.0',
      // runc's key: checkpoint and restore work here only if CRIU's own check passes (docs/design/checkpoint.md)
      'org.opencontainers.runc.checkpoint.enabled': String(criuWorks()),
    },
  };
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = release().split('.').map((n) => parseInt(n, 10));
  return a > major || (a === major && b >= minor);
}

/** `criu check` (a tenth of a second): false where CRIU is missing or cannot run on this kernel. */
function criuWorks(): boolean {
  const criu = criuPath();
  return !!criu && spawnSync(criu, ['check'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}
