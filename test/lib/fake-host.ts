// Made-up hosts for the plan compiler (src/plan/host.ts): cgroup v2, v1 and
// hybrid, with every namespace, no LSM, every capability; a test changes
// what it needs (no user namespaces, AppArmor on, rootless ...).
import type { HostFacts } from '../../src/plan/host.ts';
import type { CgroupLayout, Hierarchy } from '../../src/cgroups/layout.ts';

const v1 = (controllers: string[], files: string[] = []): [Hierarchy, string[]] => [
  { mountPoint: `/sys/fs/cgroup/${controllers.map((c) => c.replace(/^name=/, '')).join(',')}`, controllers, version: 1, ownPath: '/' },
  files,
];

const V1: [Hierarchy, string[]][] = [
  v1(['cpu', 'cpuacct'], ['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us']),
  v1(['cpuset'], ['cpuset.cpus', 'cpuset.mems']),
  v1(['memory'], ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.soft_limit_in_bytes', 'memory.swappiness', 'memory.oom_control']),
  v1(['devices'], ['devices.allow', 'devices.deny']),
  v1(['freezer'], ['freezer.state']),
  v1(['pids']),
  v1(['name=systemd']),
];

export type HostShape = 'v1' | 'v2' | 'hybrid';

export function fakeHost(shape: HostShape, extra: Partial<HostFacts> = {}): HostFacts {
  const unified: Hierarchy = { mountPoint: shape === 'v2' ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified', controllers: ['cgroup2'], version: 2, ownPath: '/' };
  const hierarchies = shape === 'v2' ? [unified] : [...V1.map(([h]) => h), ...(shape === 'hybrid' ? [unified] : [])];
  const layout: CgroupLayout = { mode: shape === 'v2' ? 2 : 1, hierarchies };
  return {
    euid: 0,
    rootless: false,
    namespaces: ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'],
    userNamespaces: true,
    cgroup: {
      layout,
      controllers: shape === 'v2' ? ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'] : [],
      rootFiles: shape === 'v2' ? {} : Object.fromEntries(V1.map(([h, files]) => [h.mountPoint, files])),
      cpusOnline: '0-3',
      memsOnline: '0',
      hugePageSizes: { '2MB': 2 << 20 },
    },
    lsms: { apparmor: false, selinux: false },
    capabilities: (1n << 41n) - 1n,
    arch: 'SCMP_ARCH_X86_64',
    kcore: true,
    mountinfo: '1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n',
    idMap: { euid: 0, egid: 0, userName: 'root', subuid: undefined, subgid: undefined, newuidmap: undefined, newgidmap: undefined },
    paths: {},
    ...extra,
    hostUid: extra.hostUid ?? extra.euid ?? 0,
  };
}
