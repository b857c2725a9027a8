/**
 * The cgroup verbs of the command line, as runc spells them: update,
 * pause, resume, events. Argument parsing only.
 *
 * The book: docs/05-cgroups.md.
 */
import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { RuntsError } from '../errors.ts';
import type { LinuxResources } from '../oci/types.ts';
import type { RuntimeContext } from '../runtime/create.ts';
import { print } from './output.ts';

interface UpdateFlags {
  resources?: string;
  memory?: string;
  memoryReservation?: string;
  memorySwap?: string;
  kernelMemory?: string;
  kernelMemoryTcp?: string;
  cpuShares?: string;
  cpuShare?: string;
  cpuQuota?: string;
  cpuPeriod?: string;
  cpuBurst?: string;
  cpuRtPeriod?: string;
  cpuRtRuntime?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  cpuIdle?: string;
  pidsLimit?: string;
  blkioWeight?: string;
}

/** "64m", "1g", "1024", "-1" as bytes (runc accepts the same). */
export function parseBytes(flag: string, v: string): number {
  const m = /^(-1|\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v.trim());
  if (!m) throw new RuntsError('EINVAL', `${flag}: not a size: ${JSON.stringify(v)} (try 64m, 1g or -1)`);
  const scale = 1024 ** ' kmgtp'.indexOf((m[2] || ' ').toLowerCase());
  return m[1] === '-1' ? -1 : Math.round(Number(m[1]) * scale);
}

function parseInteger(flag: string, v: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new RuntsError('EINVAL', `${flag}: not an integer: ${JSON.stringify(v)}`);
  return Number(v);
}

/** runc's --interval: "5s", "500ms", "1m", or seconds. */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m || Number(m[1]) <= 0) throw new RuntsError('EINVAL', `${flag}: not a positive duration: ${JSON.stringify(v)} (try 5s or 500ms)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

function resourcesFromFlags(f: UpdateFlags): LinuxResources {
  let r: LinuxResources = {};
  if (f.resources) {
    const file = f.resources;
    let text: string;
    try {
      text = readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (err) {
      throw new RuntsError('ENOENT', `--resources ${file}: ${(err as Error).message}`, { path: file, cause: err });
    }
    try {
      r = JSON.parse(text) as LinuxResources;
    } catch (err) {
      throw new RuntsError('EINVAL', `--resources ${file}: not JSON: ${(err as Error).message}`, { path: file, cause: err });
    }
  }
  const memory = { ...r.memory };
  const cpu = { ...r.cpu };
  if (f.memory !== undefined) memory.limit = parseBytes('--memory', f.memory);
  if (f.memoryReservation !== undefined) memory.reservation = parseBytes('--memory-reservation', f.memoryReservation);
  if (f.memorySwap !== undefined) memory.swap = parseBytes('--memory-swap', f.memorySwap);
  if (f.kernelMemory !== undefined) memory.kernel = parseBytes('--kernel-memory', f.kernelMemory);
  if (f.kernelMemoryTcp !== undefined) memory.kernelTCP = parseBytes('--kernel-memory-tcp', f.kernelMemoryTcp);
  if (f.cpuShares !== undefined) cpu.shares = parseInteger('--cpu-shares', f.cpuShares);
  if (f.cpuShare !== undefined) cpu.shares = parseInteger('--cpu-share', f.cpuShare);
  if (f.cpuQuota !== undefined) cpu.quota = parseInteger('--cpu-quota', f.cpuQuota);
  if (f.cpuPeriod !== undefined) cpu.period = parseInteger('--cpu-period', f.cpuPeriod);
  if (f.cpuBurst !== undefined) cpu.burst = parseInteger('--cpu-burst', f.cpuBurst);
  if (f.cpuRtPeriod !== undefined) cpu.realtimePeriod = parseInteger('--cpu-rt-period', f.cpuRtPeriod);
  if (f.cpuRtRuntime !== undefined) cpu.realtimeRuntime = parseInteger('--cpu-rt-runtime', f.cpuRtRuntime);
  if (f.cpusetCpus !== undefined) cpu.cpus = f.cpusetCpus;
  if (f.cpusetMems !== undefined) cpu.mems = f.cpusetMems;
  if (f.cpuIdle !== undefined) cpu.idle = parseInteger('--cpu-idle', f.cpuIdle);
  if (Object.keys(memory).length) r.memory = memory;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (f.pidsLimit !== undefined) r.pids = { limit: parseInteger('--pids-limit', f.pidsLimit) };
  if (f.blkioWeight !== undefined) r.blockIO = { ...r.blockIO, weight: parseInteger('--blkio-weight', f.blkioWeight) };
  return r;
}

export function registerCgroupCommands(program: Command, ctx: () => RuntimeContext): void {
  program.command('update').description('change the resource limits of a container').argument('<id>')
    .option('-r, --resources <file>', 'linux.resources as JSON ("-": stdin)')
    .option('--memory <bytes>', 'memory limit (64m, 1g, -1)')
    .option('--memory-reservation <bytes>', 'memory soft limit')
    .option('--memory-swap <bytes>', 'memory plus swap limit')
    .option('--kernel-memory <bytes>', 'kernel memory limit (deprecated, ignored)')
    .option('--kernel-memory-tcp <bytes>', 'kernel TCP buffer limit (cgroup v1)')
    .option('--cpu-shares <n>', 'relative CPU weight')
    .addOption(new Option('--cpu-share <n>', 'runc\'s spelling of --cpu-shares').hideHelp())
    .option('--cpu-quota <us>', 'CPU time per period, in microseconds (-1: none)')
    .option('--cpu-period <us>', 'CFS period, in microseconds')
    .option('--cpu-burst <us>', 'CFS burst, in microseconds')
    .option('--cpu-rt-period <us>', 'realtime period, in microseconds')
    .option('--cpu-rt-runtime <us>', 'realtime runtime, in microseconds')
    .option('--cpuset-cpus <list>', 'CPUs to run on (0-3,5)')
    .option('--cpuset-mems <list>', 'memory nodes to use')
    .option('--cpu-idle <0|1>', 'SCHED_IDLE for the cgroup')
    .option('--pids-limit <n>', 'maximum number of processes')
    .option('--blkio-weight <n>', 'block I/O weight (10 to 1000)')
    .action(async (id: string, f: UpdateFlags) => (await import('../runtime/update.ts')).update(ctx(), id, resourcesFromFlags(f), f.resources ? `--resources ${f.resources}` : 'update'));

  program.command('pause').description('freeze every process of a container').argument('<id>')
    .action(async (id: string) => (await import('../runtime/pause.ts')).pause(ctx(), id));

  program.command('resume').description('thaw a paused container').argument('<id>')
    .action(async (id: string) => (await import('../runtime/pause.ts')).resume(ctx(), id));

  program.command('events').description('print usage figures and OOM events of a container, as JSON lines').argument('<id>')
    .option('--stats', 'print the figures once and exit')
    .option('--interval <duration>', 'time between figures (5s, 500ms)', '5s')
    .action(async (id: string, f: { stats?: boolean; interval: string }) => {
      const { events, stats } = await import('../runtime/events.ts');
      if (f.stats) {
        print(JSON.stringify(stats(ctx(), id)));
        return;
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      for await (const event of events(ctx(), id, parseDuration('--interval', f.interval), stop.signal)) print(JSON.stringify(event));
    });
}
