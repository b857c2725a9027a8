/**
 * What the cgroup drivers need to know about the host to turn
 * linux.resources into file writes: the layout, the controllers cgroup v2
 * offers, the files each v1 hierarchy's root has (a file the kernel lacks
 * means the feature is missing), the cpus and memory nodes online, and the
 * huge page sizes. Read once (by the host probe, plan/host.ts, for create;
 * here again for `update`), so the decision itself reads nothing and can
 * be tested against a made-up host. Only what the resources asked for can
 * need is read: the v1 hierarchies of the controllers they name (devices
 * always, create writes its rules), cpus and nodes for a cpuset, page sizes
 * for huge page limits.
 *
 * The book: docs/05-cgroups.md, "What runts does".
 */
import { listIfThere, readIfThere } from '../sys/read.ts';
import { join } from 'node:path';
import type { LinuxResources } from '../oci/types.ts';
import { cgroupLayout, type CgroupLayout } from './layout.ts';

export interface CgroupHost {
  layout: CgroupLayout;
  /** cgroup v2: the controllers its root offers (cgroup.controllers). */
  controllers: string[];
  /** cgroup v1: the files in the root of each hierarchy the resources need, by mount point. */
  rootFiles: Record<string, string[]>;
  /** /sys/devices/system/cpu/online and node/online ("0-3"); '' when no cpuset is asked for. */
  cpusOnline: string;
  memsOnline: string;
  /** Huge page sizes the kernel offers: "2MB" -> bytes (read only for huge page limits). */
  hugePageSizes: Record<string, number>;
}

/** The v1 controllers whose files each linux.resources key writes. */
const V1_CONTROLLERS: Record<string, string[]> = {
  memory: ['memory'], cpu: ['cpu', 'cpuset'], pids: ['pids'], blockIO: ['blkio'], hugepageLimits: ['hugetlb'],
  network: ['net_cls', 'net_prio'], rdma: ['rdma'], devices: ['devices'],
};

export function readCgroupHost(resources: LinuxResources = {}, layout: CgroupLayout = cgroupLayout()): CgroupHost {
  const v2 = layout.mode === 2 ? layout.hierarchies.find((h) => h.version === 2) : undefined;
  const wanted = new Set(['devices', ...Object.keys(resources)].flatMap((k) => V1_CONTROLLERS[k] ?? []));
  const rootFiles: Record<string, string[]> = {};
  if (layout.mode === 1) {
    for (const h of layout.hierarchies) if (h.version === 1 && h.controllers.some((c) => wanted.has(c))) rootFiles[h.mountPoint] = listIfThere(h.mountPoint);
  }
  const cpuset = !!(resources.cpu?.cpus || resources.cpu?.mems);
  return {
    layout,
    controllers: v2 ? (readIfThere(join(v2.mountPoint, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean) : [],
    rootFiles,
    cpusOnline: cpuset ? (readIfThere('/sys/devices/system/cpu/online') ?? '0').trim() : '',
    memsOnline: cpuset ? (readIfThere('/sys/devices/system/node/online') ?? '0').trim() : '',
    hugePageSizes: resources.hugepageLimits?.length ? hugePageSizes() : {},
  };
}

/** "2MB" -> 2097152; the page sizes the kernel offers are in /sys/kernel/mm/hugepages. */
function hugePageSizes(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of listIfThere('/sys/kernel/mm/hugepages')) {
    const m = /^hugepages-(\d+)kB$/.exec(name);
    if (!m) continue;
    const kb = Number(m[1]);
    const label = kb >= 1 << 20 ? `${kb >> 20}GB` : kb >= 1 << 10 ? `${kb >> 10}MB` : `${kb}KB`;
    out[label] = kb * 1024;
  }
  return out;
}
