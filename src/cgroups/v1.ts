/**
 * The cgroup v1 driver: one hierarchy per controller (memory, cpu, cpuset,
 * pids, blkio, devices, freezer, hugetlb, net_cls, net_prio, rdma), each
 * with its own files. Hybrid hosts use this driver, as runc does.
 *
 * The book: docs/05-cgroups.md, "cgroup v1 and hybrid hosts".
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LinuxResources } from '../oci/types.ts';
import { deviceRules, v1RuleText } from './device-rules.ts';
import type { CgroupHost } from './host.ts';
import type { CgroupLayout } from './layout.ts';
import { checkList, invalidResource, limitValue, nonNegative, unsupportedResource, type CgroupWrite } from './writes.ts';

export interface ResourceOptions {
  /** linux.resources, or "update" for a live change. */
  field: string;
  /** Rewrite the device rules (create); update leaves them alone. */
  devices: boolean;
  warn: (msg: string) => void;
}

/** The hierarchy mount point of a v1 controller, if the host mounts it. */
export function v1MountPoint(layout: CgroupLayout, controller: string): string | undefined {
  return layout.hierarchies.find((h) => h.version === 1 && h.controllers.includes(controller))?.mountPoint;
}

/** Files the kernel offers in every cgroup but the root one. */
const NOT_ON_ROOT = new Set(['pids.max', 'blkio.bfq.weight', 'blkio.bfq.weight_device']);

export function v1Writes(r: LinuxResources, host: CgroupHost, opts: ResourceOptions): CgroupWrite[] {
  const { layout } = host;
  /** Does the root of the controller's hierarchy have this file? */
  const hasFile = (controller: string, file: string) => {
    const mount = v1MountPoint(layout, controller);
    return !!mount && (host.rootFiles[mount] ?? []).includes(file);
  };
  const out: CgroupWrite[] = [];
  const f = (name: string) => `${opts.field}.${name}`;
  const add = (controller: string, file: string, value: string, field: string) => {
    const mount = v1MountPoint(layout, controller);
    if (!mount) unsupportedResource(field, `the host does not mount the cgroup v1 ${controller} controller`);
    if (!NOT_ON_ROOT.has(file) && !hasFile(controller, file)) unsupportedResource(field, `not supported by this kernel (no ${controller}/${file})`);
    out.push({ controller, file, value, field });
  };
  if (r.unified && Object.keys(r.unified).length) unsupportedResource(f('unified'), 'invalid configuration for this host: cgroup v2 keys cannot be applied to cgroup v1');

  const m = r.memory;
  if (m) {
    const limit = m.limit !== undefined ? limitValue(f('memory.limit'), m.limit, '-1') : undefined;
    // no limit on memory, none on memory+swap either (when the host accounts swap), as runc:
    // a memsw limit left below would refuse the new unlimited memory limit
    const unlimitSwap = m.limit === -1 && m.swap === undefined && hasFile('memory', 'memory.memsw.limit_in_bytes');
    const swap = m.swap !== undefined ? limitValue(f('memory.swap'), m.swap, '-1') : unlimitSwap ? '-1' : undefined;
    if (m.limit !== undefined && m.swap !== undefined && m.swap !== -1 && (m.limit === -1 || m.swap < m.limit)) {
      invalidResource(f('memory.swap'), `memory+swap (${m.swap}) must be at least memory.limit (${m.limit})`);
    }
    // memsw must stay >= limit at every step: limit first unless that is refused.
    if (limit !== undefined) add('memory', 'memory.limit_in_bytes', limit, f('memory.limit'));
    if (swap !== undefined) add('memory', 'memory.memsw.limit_in_bytes', swap, f('memory.swap'));
    if (limit !== undefined && swap !== undefined) out.at(-2)!.orNextFirst = true;
    if (m.reservation !== undefined) add('memory', 'memory.soft_limit_in_bytes', limitValue(f('memory.reservation'), m.reservation, '-1'), f('memory.reservation'));
    if (m.kernel !== undefined) opts.warn(`${f('memory.kernel')}: kernel memory limits are deprecated and not set (as runc)`);
    if (m.kernelTCP !== undefined) add('memory', 'memory.kmem.tcp.limit_in_bytes', limitValue(f('memory.kernelTCP'), m.kernelTCP, '-1'), f('memory.kernelTCP'));
    if (m.swappiness !== undefined) {
      if (!Number.isSafeInteger(m.swappiness) || m.swappiness < 0 || m.swappiness > 100) invalidResource(f('memory.swappiness'), `must be 0 to 100, not ${m.swappiness}`);
      add('memory', 'memory.swappiness', String(m.swappiness), f('memory.swappiness'));
    }
    if (m.useHierarchy !== undefined) add('memory', 'memory.use_hierarchy', m.useHierarchy ? '1' : '0', f('memory.useHierarchy'));
    if (m.disableOOMKiller !== undefined) add('memory', 'memory.oom_control', m.disableOOMKiller ? '1' : '0', f('memory.disableOOMKiller'));
  }

  const c = r.cpu;
  if (c) {
    if (c.shares !== undefined) {
      if (!Number.isSafeInteger(c.shares) || c.shares < 2 || c.shares > 262144) invalidResource(f('cpu.shares'), `must be 2 to 262144, not ${c.shares}`);
      add('cpu', 'cpu.shares', String(c.shares), f('cpu.shares'));
    }
    // A quota is checked against the period: set the period first.
    if (c.period !== undefined) add('cpu', 'cpu.cfs_period_us', periodValue(f('cpu.period'), c.period), f('cpu.period'));
    if (c.quota !== undefined) {
      if (c.quota !== -1 && c.quota <= 0) invalidResource(f('cpu.quota'), `must be -1 (unlimited) or positive, not ${c.quota}`);
      add('cpu', 'cpu.cfs_quota_us', limitValue(f('cpu.quota'), c.quota, '-1'), f('cpu.quota'));
      // a shorter period with the old quota can exceed a parent's (a pod's)
      // limit: then the new quota goes first (as runc)
      if (c.period !== undefined) out.at(-2)!.orNextFirst = true;
    }
    if (c.burst !== undefined) add('cpu', 'cpu.cfs_burst_us', nonNegative(f('cpu.burst'), c.burst), f('cpu.burst'));
    if (c.realtimePeriod !== undefined) add('cpu', 'cpu.rt_period_us', periodValue(f('cpu.realtimePeriod'), c.realtimePeriod), f('cpu.realtimePeriod'));
    if (c.realtimeRuntime !== undefined) add('cpu', 'cpu.rt_runtime_us', limitValue(f('cpu.realtimeRuntime'), c.realtimeRuntime, '-1'), f('cpu.realtimeRuntime'));
    if (c.idle !== undefined) {
      if (c.idle !== 0 && c.idle !== 1) invalidResource(f('cpu.idle'), `must be 0 or 1, not ${c.idle}`);
      add('cpu', 'cpu.idle', String(c.idle), f('cpu.idle'));
    }
    if (c.cpus !== undefined && c.cpus !== '') {
      checkList(f('cpu.cpus'), c.cpus, host.cpusOnline);
      add('cpuset', 'cpuset.cpus', c.cpus, f('cpu.cpus'));
    }
    if (c.mems !== undefined && c.mems !== '') {
      checkList(f('cpu.mems'), c.mems, host.memsOnline);
      add('cpuset', 'cpuset.mems', c.mems, f('cpu.mems'));
    }
  }

  if (r.pids) add('pids', 'pids.max', r.pids.limit <= 0 ? (r.pids.limit < -1 ? invalidResource(f('pids.limit'), `must be -1/0 (unlimited) or positive, not ${r.pids.limit}`) : 'max') : String(r.pids.limit), f('pids.limit'));

  const b = r.blockIO;
  if (b) {
    const weight = (field: string, w: number) => {
      if (!Number.isSafeInteger(w) || w < 10 || w > 1000) invalidResource(field, `must be 10 to 1000, not ${w}`);
      return String(w);
    };
    // Without CFQ the weight lives in the BFQ files, as runc does it.
    // (BFQ's weight files exist below the root only; its statistics show it is there)
    const bfq = !hasFile('blkio', 'blkio.weight') && hasFile('blkio', 'blkio.bfq.io_service_bytes');
    if (b.weight !== undefined) add('blkio', bfq ? 'blkio.bfq.weight' : 'blkio.weight', weight(f('blockIO.weight'), b.weight), f('blockIO.weight'));
    if (b.leafWeight !== undefined) add('blkio', 'blkio.leaf_weight', weight(f('blockIO.leafWeight'), b.leafWeight), f('blockIO.leafWeight'));
    (b.weightDevice ?? []).forEach((d, i) => {
      const df = f(`blockIO.weightDevice[${i}]`);
      const dev = deviceNumber(df, d.major, d.minor);
      if (d.weight !== undefined) add('blkio', bfq ? 'blkio.bfq.weight_device' : 'blkio.weight_device', `${dev} ${weight(`${df}.weight`, d.weight)}`, `${df}.weight`);
      if (d.leafWeight !== undefined) add('blkio', 'blkio.leaf_weight_device', `${dev} ${weight(`${df}.leafWeight`, d.leafWeight)}`, `${df}.leafWeight`);
    });
    const throttles = [
      ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
      ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
      ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
      ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
    ] as const;
    for (const [key, file] of throttles) {
      (b[key] ?? []).forEach((d, i) => {
        const df = f(`blockIO.${key}[${i}]`);
        add('blkio', file, `${deviceNumber(df, d.major, d.minor)} ${nonNegative(`${df}.rate`, d.rate)}`, df);
      });
    }
  }

  if (r.hugepageLimits?.length) {
    const sizes = host.hugePageSizes;
    r.hugepageLimits.forEach((h, i) => {
      const hf = f(`hugepageLimits[${i}]`);
      if (!(h.pageSize in sizes)) invalidResource(`${hf}.pageSize`, `${JSON.stringify(h.pageSize)} is not a huge page size of this host (${Object.keys(sizes).join(', ') || 'none'})`);
      add('hugetlb', `hugetlb.${h.pageSize}.limit_in_bytes`, nonNegative(`${hf}.limit`, h.limit), `${hf}.limit`);
    });
  }

  if (r.network) {
    if (r.network.classID !== undefined) add('net_cls', 'net_cls.classid', String(r.network.classID), f('network.classID'));
    (r.network.priorities ?? []).forEach((p, i) => {
      if (!/^[^\s/]{1,15}$/.test(p.name)) invalidResource(f(`network.priorities[${i}].name`), `not an interface name: ${JSON.stringify(p.name)}`);
      add('net_prio', 'net_prio.ifpriomap', `${p.name} ${p.priority}`, f(`network.priorities[${i}]`));
    });
  }

  for (const [dev, limits] of Object.entries(r.rdma ?? {})) {
    const parts = [];
    if (limits.hcaHandles !== undefined) parts.push(`hca_handle=${limits.hcaHandles}`);
    if (limits.hcaObjects !== undefined) parts.push(`hca_object=${limits.hcaObjects}`);
    if (parts.length) add('rdma', 'rdma.max', `${dev} ${parts.join(' ')}`, f(`rdma.${dev}`));
  }

  if (opts.devices) {
    const rules = deviceRules(r.devices, f('devices'));
    add('devices', 'devices.deny', 'a', f('devices'));
    for (const rule of rules) add('devices', rule.allow ? 'devices.allow' : 'devices.deny', v1RuleText(rule), f('devices'));
  }
  return out;
}

function periodValue(field: string, v: number): string {
  if (!Number.isSafeInteger(v) || v <= 0) invalidResource(field, `must be a positive number of microseconds, not ${v}`);
  return String(v);
}

export function deviceNumber(field: string, major: number, minor: number): string {
  for (const [name, n] of [['major', major], ['minor', minor]] as const) {
    if (!Number.isSafeInteger(n) || n < 0) invalidResource(`${field}.${name}`, `must be a device number, not ${n}`);
  }
  return `${major}:${minor}`;
}

export function readV1(mount: string | undefined, file: string): string | undefined {
  if (!mount) return undefined;
  try {
    return readFileSync(join(mount, file), 'utf8');
  } catch {
    return undefined;
  }
}
