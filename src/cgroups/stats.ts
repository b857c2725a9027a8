/**
 * Usage figures of a container's cgroup, in the JSON shape of runc's
 * `events --stats` (so tools that read runc's read ours): cpu in
 * nanoseconds, memory in bytes, pids, block I/O per device, huge pages.
 *
 * The book: docs/05-cgroups.md, "Accounting".
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryEntry { limit: number; usage?: number; max?: number; failcnt: number }
export interface BlkioEntry { major: number; minor: number; op: string; value: number }
export interface CgroupStats {
  cpu: {
    usage: { total?: number; percpu?: number[]; kernel: number; user: number };
    throttling: { periods?: number; throttledPeriods?: number; throttledTime?: number };
  };
  memory: { cache?: number; usage?: MemoryEntry; swap?: MemoryEntry; kernel?: MemoryEntry; kernelTCP?: MemoryEntry; raw?: Record<string, number> };
  pids: { current?: number; limit?: number };
  blkio: { ioServiceBytesRecursive?: BlkioEntry[]; ioServicedRecursive?: BlkioEntry[] };
  hugetlb: Record<string, { usage?: number; max?: number; failcnt: number }>;
}

const UNLIMITED = 18446744073709551615; // what runc reports for "max"
const USER_HZ = 100;

function text(dir: string | undefined, file: string): string | undefined {
  if (!dir) return undefined;
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

function num(dir: string | undefined, file: string): number | undefined {
  const t = text(dir, file)?.trim();
  if (t === undefined || t === '') return undefined;
  return t === 'max' ? UNLIMITED : Number(t);
}

/** "key value" lines (memory.stat, cpu.stat, ...) as a record. */
function keyed(t: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (t ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

function hugePageLabels(dir: string | undefined, suffix: string): string[] {
  if (!dir) return [];
  try {
    return readdirSync(dir).map((f) => new RegExp(`^hugetlb\\.([0-9]+[KMG]B)\\.${suffix.replace('.', '\\.')}$`).exec(f)?.[1]).filter((x): x is string => !!x);
  } catch {
    return [];
  }
}

export function v1Stats(dirFor: (controller: string) => string | undefined): CgroupStats {
  const acct = dirFor('cpuacct');
  const cpu = dirFor('cpu');
  const mem = dirFor('memory');
  const ticks = keyed(text(acct, 'cpuacct.stat'));
  const throttling = keyed(text(cpu, 'cpu.stat'));
  const entry = (prefix: string): MemoryEntry | undefined => {
    const usage = num(mem, `${prefix}usage_in_bytes`);
    if (usage === undefined) return undefined;
    return { limit: num(mem, `${prefix}limit_in_bytes`) ?? 0, usage, max: num(mem, `${prefix}max_usage_in_bytes`), failcnt: num(mem, `${prefix}failcnt`) ?? 0 };
  };
  const raw = keyed(text(mem, 'memory.stat'));
  const blkio = dirFor('blkio');
  const hugetlb = dirFor('hugetlb');
  const pidsMax = num(dirFor('pids'), 'pids.max');
  return {
    cpu: {
      usage: {
        total: num(acct, 'cpuacct.usage'),
        percpu: text(acct, 'cpuacct.usage_percpu')?.trim().split(/\s+/).filter(Boolean).map(Number),
        kernel: ((ticks.system ?? 0) * 1e9) / USER_HZ,
        user: ((ticks.user ?? 0) * 1e9) / USER_HZ,
      },
      throttling: { periods: throttling.nr_periods, throttledPeriods: throttling.nr_throttled, throttledTime: throttling.throttled_time },
    },
    memory: { cache: raw.cache, usage: entry('memory.'), swap: entry('memory.memsw.'), kernel: entry('memory.kmem.'), kernelTCP: entry('memory.kmem.tcp.'), raw },
    pids: { current: num(dirFor('pids'), 'pids.current'), limit: pidsMax === UNLIMITED ? 0 : pidsMax },
    blkio: {
      ioServiceBytesRecursive: v1Blkio(text(blkio, 'blkio.throttle.io_service_bytes_recursive')),
      ioServicedRecursive: v1Blkio(text(blkio, 'blkio.throttle.io_serviced_recursive')),
    },
    hugetlb: Object.fromEntries(hugePageLabels(hugetlb, 'usage_in_bytes').map((size) => [size, {
      usage: num(hugetlb, `hugetlb.${size}.usage_in_bytes`),
      max: num(hugetlb, `hugetlb.${size}.max_usage_in_bytes`),
      failcnt: num(hugetlb, `hugetlb.${size}.failcnt`) ?? 0,
    }])),
  };
}

function v1Blkio(t: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (t ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

export function v2Stats(dir: string | undefined): CgroupStats {
  const cpu = keyed(text(dir, 'cpu.stat'));
  const raw = keyed(text(dir, 'memory.stat'));
  const events = keyed(text(dir, 'memory.events'));
  const swapEvents = keyed(text(dir, 'memory.swap.events'));
  const usage = num(dir, 'memory.current');
  const swap = num(dir, 'memory.swap.current');
  const pidsMax = num(dir, 'pids.max');
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of (text(dir, 'io.stat') ?? '').split('\n')) {
    const m = /^(\d+):(\d+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const kv = Object.fromEntries(m[3]!.split(' ').map((p) => p.split('=')).map(([k, v]) => [k, Number(v)]));
    const dev = { major: Number(m[1]), minor: Number(m[2]) };
    bytes.push({ ...dev, op: 'Read', value: kv.rbytes ?? 0 }, { ...dev, op: 'Write', value: kv.wbytes ?? 0 });
    ios.push({ ...dev, op: 'Read', value: kv.rios ?? 0 }, { ...dev, op: 'Write', value: kv.wios ?? 0 });
  }
  return {
    cpu: {
      usage: { total: cpu.usage_usec !== undefined ? cpu.usage_usec * 1000 : undefined, kernel: (cpu.system_usec ?? 0) * 1000, user: (cpu.user_usec ?? 0) * 1000 },
      throttling: { periods: cpu.nr_periods, throttledPeriods: cpu.nr_throttled, throttledTime: cpu.throttled_usec !== undefined ? cpu.throttled_usec * 1000 : undefined },
    },
    memory: {
      cache: raw.file,
      usage: usage === undefined ? undefined : { limit: num(dir, 'memory.max') ?? UNLIMITED, usage, max: num(dir, 'memory.peak'), failcnt: events.max ?? 0 },
      swap: swap === undefined ? undefined : { limit: num(dir, 'memory.swap.max') ?? UNLIMITED, usage: swap, max: num(dir, 'memory.swap.peak'), failcnt: swapEvents.max ?? 0 },
      raw,
    },
    pids: { current: num(dir, 'pids.current'), limit: pidsMax === UNLIMITED ? 0 : pidsMax },
    blkio: { ioServiceBytesRecursive: bytes, ioServicedRecursive: ios },
    hugetlb: Object.fromEntries(hugePageLabels(dir, 'current').map((size) => [size, {
      usage: num(dir, `hugetlb.${size}.current`),
      max: num(dir, `hugetlb.${size}.max`),
      failcnt: keyed(text(dir, `hugetlb.${size}.events`)).max ?? 0,
    }])),
  };
}
