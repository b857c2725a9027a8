/**
 * The cgroup v2 driver: one hierarchy, controllers enabled per subtree
 * (cgroup.subtree_control), and v2 file names and units. v1-style values in
 * config.json are converted the way runc converts them (cpu shares to
 * weight, blkio weight to io weight, memory+swap to swap alone).
 *
 * The book: docs/05-cgroups.md, "cgroup v2: one tree of groups" (the
 * files, by hand) and "What runts does" (the OCI-to-file table).
 */
import type { LinuxResources } from '../oci/types.ts';
import { deviceRules } from './device-rules.ts';
import type { CgroupHost } from './host.ts';
import type { CgroupLayout } from './layout.ts';
import { deviceNumber, type ResourceOptions } from './v1.ts';
import { checkList, invalidResource, limitValue, nonNegative, unsupportedResource, type CgroupWrite } from './writes.ts';

export function v2Root(layout: CgroupLayout): string {
  return layout.hierarchies.find((h) => h.version === 2)!.mountPoint;
}

/** cpu.shares (2..262144) to cpu.weight (1..10000), runc's formula. */
export function sharesToWeight(shares: number): number {
  return shares === 0 ? 0 : 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio weight (10..1000) to io.weight (1..10000), runc's formula. */
export function blkioToIoWeight(w: number): number {
  return 1 + Math.floor(((w - 10) * 9999) / 990);
}

export function v2Writes(r: LinuxResources, host: CgroupHost, opts: ResourceOptions): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  const have = new Set(host.controllers);
  const f = (name: string) => `${opts.field}.${name}`;
  const add = (file: string, value: string, field: string) => {
    const controller = file.split('.')[0]!;
    if (controller !== 'cgroup' && !have.has(controller)) unsupportedResource(field, `the host's cgroup v2 has no ${controller} controller`);
    out.push({ controller: '', file, value, field });
  };
  const v1Only = (field: string) => unsupportedResource(field, 'has no cgroup v2 equivalent');

  const m = r.memory;
  if (m) {
    if (m.limit !== undefined) add('memory.max', limitValue(f('memory.limit'), m.limit), f('memory.limit'));
    if (m.reservation !== undefined) add('memory.low', limitValue(f('memory.reservation'), m.reservation), f('memory.reservation'));
    if (m.swap !== undefined) {
      // OCI's swap is memory+swap (v1); v2 limits swap alone.
      limitValue(f('memory.swap'), m.swap);
      let value: string;
      if (m.swap === -1) value = 'max';
      else if (m.limit === undefined || m.limit === -1) invalidResource(f('memory.swap'), 'a memory+swap limit needs memory.limit on cgroup v2');
      else if (m.swap < m.limit) invalidResource(f('memory.swap'), `memory+swap (${m.swap}) must be at least memory.limit (${m.limit})`);
      else value = String(BigInt(m.swap) - BigInt(m.limit));
      add('memory.swap.max', value!, f('memory.swap'));
    }
    if (m.kernel !== undefined) opts.warn(`${f('memory.kernel')}: kernel memory limits are deprecated and not set (as runc)`);
    if (m.kernelTCP !== undefined) v1Only(f('memory.kernelTCP'));
    if (m.swappiness !== undefined) v1Only(f('memory.swappiness'));
    if (m.disableOOMKiller) v1Only(f('memory.disableOOMKiller'));
    if (m.useHierarchy === false) v1Only(f('memory.useHierarchy')); // v2 is always hierarchical
  }

  const c = r.cpu;
  if (c) {
    if (c.shares !== undefined) {
      if (!Number.isSafeInteger(c.shares) || c.shares < 2 || c.shares > 262144) invalidResource(f('cpu.shares'), `must be 2 to 262144, not ${c.shares}`);
      add('cpu.weight', String(sharesToWeight(c.shares)), f('cpu.shares'));
    }
    if (c.quota !== undefined || c.period !== undefined) {
      if (c.quota !== undefined && c.quota !== -1 && c.quota <= 0) invalidResource(f('cpu.quota'), `must be -1 (unlimited) or positive, not ${c.quota}`);
      if (c.period !== undefined && (!Number.isSafeInteger(c.period) || c.period <= 0)) invalidResource(f('cpu.period'), `must be a positive number of microseconds, not ${c.period}`);
      const quota = c.quota === undefined || c.quota === -1 ? 'max' : String(c.quota);
      add('cpu.max', c.period === undefined ? quota : `${quota} ${c.period}`, f(c.quota !== undefined ? 'cpu.quota' : 'cpu.period'));
    }
    if (c.burst !== undefined) add('cpu.max.burst', nonNegative(f('cpu.burst'), c.burst), f('cpu.burst'));
    if (c.realtimeRuntime !== undefined) v1Only(f('cpu.realtimeRuntime'));
    if (c.realtimePeriod !== undefined) v1Only(f('cpu.realtimePeriod'));
    if (c.idle !== undefined) {
      if (c.idle !== 0 && c.idle !== 1) invalidResource(f('cpu.idle'), `must be 0 or 1, not ${c.idle}`);
      add('cpu.idle', String(c.idle), f('cpu.idle'));
    }
    if (c.cpus) {
      checkList(f('cpu.cpus'), c.cpus, host.cpusOnline);
      add('cpuset.cpus', c.cpus, f('cpu.cpus'));
    }
    if (c.mems) {
      checkList(f('cpu.mems'), c.mems, host.memsOnline);
      add('cpuset.mems', c.mems, f('cpu.mems'));
    }
  }

  if (r.pids) {
    if (!Number.isSafeInteger(r.pids.limit) || r.pids.limit < -1) invalidResource(f('pids.limit'), `must be -1/0 (unlimited) or positive, not ${r.pids.limit}`);
    add('pids.max', r.pids.limit <= 0 ? 'max' : String(r.pids.limit), f('pids.limit'));
  }

  const b = r.blockIO;
  if (b) {
    const weight = (field: string, w: number) => {
      if (!Number.isSafeInteger(w) || w < 10 || w > 1000) invalidResource(field, `must be 10 to 1000, not ${w}`);
      return blkioToIoWeight(w);
    };
    if (b.weight !== undefined) add('io.weight', `default ${weight(f('blockIO.weight'), b.weight)}`, f('blockIO.weight'));
    if (b.leafWeight !== undefined) v1Only(f('blockIO.leafWeight'));
    (b.weightDevice ?? []).forEach((d, i) => {
      const df = f(`blockIO.weightDevice[${i}]`);
      if (d.weight !== undefined) add('io.weight', `${deviceNumber(df, d.major, d.minor)} ${weight(`${df}.weight`, d.weight)}`, `${df}.weight`);
      if (d.leafWeight !== undefined) v1Only(`${df}.leafWeight`);
    });
    const throttles = [
      ['throttleReadBpsDevice', 'rbps'],
      ['throttleWriteBpsDevice', 'wbps'],
      ['throttleReadIOPSDevice', 'riops'],
      ['throttleWriteIOPSDevice', 'wiops'],
    ] as const;
    for (const [key, name] of throttles) {
      (b[key] ?? []).forEach((d, i) => {
        const df = f(`blockIO.${key}[${i}]`);
        add('io.max', `${deviceNumber(df, d.major, d.minor)} ${name}=${d.rate === 0 ? 'max' : nonNegative(`${df}.rate`, d.rate)}`, df);
      });
    }
  }

  if (r.hugepageLimits?.length) {
    const sizes = host.hugePageSizes;
    r.hugepageLimits.forEach((h, i) => {
      const hf = f(`hugepageLimits[${i}]`);
      if (!(h.pageSize in sizes)) invalidResource(`${hf}.pageSize`, `${JSON.stringify(h.pageSize)} is not a huge page size of this host (${Object.keys(sizes).join(', ') || 'none'})`);
      add(`hugetlb.${h.pageSize}.max`, nonNegative(`${hf}.limit`, h.limit), `${hf}.limit`);
    });
  }

  if (r.network && (r.network.classID !== undefined || r.network.priorities?.length)) v1Only(f('network'));

  for (const [dev, limits] of Object.entries(r.rdma ?? {})) {
    const parts = [];
    if (limits.hcaHandles !== undefined) parts.push(`hca_handle=${limits.hcaHandles}`);
    if (limits.hcaObjects !== undefined) parts.push(`hca_object=${limits.hcaObjects}`);
    if (parts.length) add('rdma.max', `${dev} ${parts.join(' ')}`, f(`rdma.${dev}`));
  }

  // Device rules are no file on v2: the executor attaches a program (device-bpf.ts).
  if (opts.devices) deviceRules(r.devices, f('devices'));
  else if (r.devices) unsupportedResource(f('devices'), 'cannot be changed on a running container on cgroup v2');

  for (const [key, value] of Object.entries(r.unified ?? {})) {
    const field = f(`unified.${key}`);
    if (!/^[a-z_]+\.[a-z0-9_.]+$/.test(key) || key.includes('..')) invalidResource(field, `not a cgroup v2 file name`);
    if (key.startsWith('cgroup.') && !['cgroup.max.depth', 'cgroup.max.descendants', 'cgroup.type'].includes(key)) invalidResource(field, 'cgroup core files are the runtime\'s');
    add(key, value, field);
  }
  return out;
}
