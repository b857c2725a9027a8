/*
 * network.ts - a benchmark, not a test: what the network costs.
 *
 *   1. the time bridge networking adds to `runts run --rm IMAGE true`
 *      (bridge against none and host, medians of `rounds` runs);
 *   2. TCP throughput over host loopback, host to a container and container
 *      to container over the bridge, each against loopback in the same run.
 *
 *   node bench/network.ts [rounds=10] [GiB per transfer=1]
 *
 * How throughput is measured: the same sender and receiver, writing and
 * reading big buffers, started the same way for every path: as host
 * processes in the network namespace of each end (`nsenter --net=` into a
 * container's; the host's own for loopback). The tool is iperf3 when it is
 * installed (timed by its receiver), else a Node TCP source and sink that
 * write 1 MiB at a time (timed by the sender, from connect until the sink,
 * having read everything, closes). The paths take turns, `rounds` times; each
 * line gives the median and the range, and the ratio is the median of each
 * round's ratio against that round's loopback.
 *
 * So what is measured is the path: veth, bridge, nft table, routes. Not the
 * container's seccomp filter or cgroup, and not busybox nc: it reads and
 * writes 1 KiB at a time, and then the packet count decides. Loopback
 * (MTU 65536) merges those writes into big segments, a veth (MTU 1500)
 * cannot: nc got about a fifth of loopback over any veth, runts's or one
 * made by hand with `ip`, and as little over a loopback set to MTU 1500.
 *
 * Needs root, nftables, nsenter and a build (`npm run build`); iperf3
 * (Debian: apt-get install iperf3) is optional. Uses a bridge, subnet and
 * store of its own, and removes them.
 *
 * The book: docs/07-networking.md.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxLayer, ociLayout } from '../test/integration/image-fixtures.ts';

const [rounds = 10, gib = 1] = process.argv.slice(2).map(Number);
const bytes = gib * 2 ** 30;
const runts = join(import.meta.dirname, '../bin/runts');
const dir = mkdtempSync(join(tmpdir(), 'runts-bench-net-'));
const env = { ...process.env, RUNTS_STORE: join(dir, 'store'), RUNTS_NET_BRIDGE: 'rtbench0', RUNTS_NET_SUBNET: '10.239.0.0/24', RUNTS_NET_STATE: join(dir, 'net'), RUNTS_NET_CONFIG: join(dir, 'networks') };
const r = (args: string[]) => execFileSync(runts, ['--root', join(dir, 'state'), ...args], { env, encoding: 'utf8' });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// a port free on the host (the loopback receiver's); in a container's namespace every port is
const port = await new Promise<number>((res) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); }); });

/** A TCP receiver and sender, as argv, and the MiB/s the sender's output reports. */
interface Tool { name: string; server: (port: number) => string[]; client: (ip: string, port: number) => string[]; rate: (client: string) => number }

const SINK = `const s = require('node:net').createServer((c) => { c.resume(); c.on('end', () => { c.end(); s.close(); }); });
s.listen(+process.argv[1], () => console.log('listening'));`;
const SOURCE = `const [ip, port, n] = process.argv.slice(1); const chunk = Buffer.alloc(2 ** 20); let t;
const c = require('node:net').connect(+port, ip, async () => {
  t = process.hrtime.bigint();
  for (let left = +n; left > 0; left -= chunk.length) if (!c.write(left < chunk.length ? chunk.subarray(0, left) : chunk)) await new Promise((d) => c.once('drain', d));
  c.end();
});
c.resume();
c.on('close', () => console.log(+n / 2 ** 20 / (Number(process.hrtime.bigint() - t) / 1e9)));`;

const tool: Tool = spawnSync('iperf3', ['--version'], { stdio: 'ignore' }).status === 0
  ? {
      name: 'iperf3',
      server: (port) => ['iperf3', '-s', '-1', '--forceflush', '-p', String(port)],
      client: (ip, port) => ['iperf3', '-c', ip, '-p', String(port), '-n', String(bytes), '-J'],
      rate: (client) => { const s = JSON.parse(client).end.sum_received; return s.bytes / s.seconds / 2 ** 20; },
    }
  : {
      name: 'a Node source and sink',
      server: (port) => [process.execPath, '-e', SINK, String(port)],
      client: (ip, port) => [process.execPath, '-e', SOURCE, ip, String(port), String(bytes)],
      rate: (client) => Number(client.trim()),
    };

/** argv run in the network namespace of `pid`, or in the host's when there is none. */
const inNet = (pid: number | undefined, argv: string[]) => (pid === undefined ? argv : ['nsenter', `--net=/proc/${pid}/ns/net`, ...argv]);

/** One transfer of `bytes` from the namespace of `from` to a receiver at `ip` in the namespace of `to`: MiB/s. */
async function transfer(to: number | undefined, from: number | undefined, ip: string): Promise<number> {
  const [cmd, ...args] = inNet(to, tool.server(port));
  const server = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<void>((res, rej) => {
    server.on('error', rej);
    server.on('exit', (code) => (code === 0 ? res() : rej(new Error(`${tool.name}: the receiver exited with ${code}`))));
  });
  try {
    await new Promise<void>((res, rej) => {
      let out = '';
      server.stdout.on('data', (d: Buffer) => { out += d; if (/listening/i.test(out)) res(); });
      done.then(() => rej(new Error(`${tool.name}: the receiver ended before it listened`)), rej);
    });
    const [ccmd, ...cargs] = inNet(from, tool.client(ip, port));
    const rate = tool.rate(execFileSync(ccmd!, cargs, { encoding: 'utf8' }));
    await done;
    return rate;
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}

try {
  r(['load', ociLayout(join(dir, 'layout'), 'bench/bb:1', [{ tar: busyboxLayer() }]).dir]);
  r(['run', '--rm', 'bench/bb:1', 'true']); // the bridge and table exist from here on, as on a used host
  const timeRun = (mode: string) => median(Array.from({ length: rounds }, () => {
    const t = process.hrtime.bigint();
    r(['run', '--rm', '--network', mode, 'bench/bb:1', 'true']);
    return Number(process.hrtime.bigint() - t) / 1e6;
  }));
  const [none, host, bridge] = ['none', 'host', 'bridge'].map(timeRun);
  console.log(`runts run --rm true: none ${none!.toFixed(1)} ms, host ${host!.toFixed(1)} ms, bridge ${bridge!.toFixed(1)} ms (bridge adds ${(bridge! - none!).toFixed(1)} ms)`);

  for (const name of ['sink', 'source']) r(['run', '-d', '--name', name, 'bench/bb:1', 'sleep', '3600']);
  const pid = (name: string) => JSON.parse(r(['state', name])).pid as number;
  const [sink, source] = [pid('sink'), pid('source')];
  const ip = JSON.parse(r(['network', 'inspect', 'bridge']))[0].containers.sink.ip as string;
  const paths = [
    { name: 'host loopback', run: () => transfer(undefined, undefined, '127.0.0.1') },
    { name: 'host -> container', run: () => transfer(sink, undefined, ip) },
    { name: 'container -> container', run: () => transfer(sink, source, ip) },
  ];
  const rates = paths.map(() => [] as number[]);
  for (let i = 0; i < rounds; i++) for (const [k, p] of paths.entries()) rates[k]!.push(await p.run());
  console.log(`throughput, ${gib} GiB a transfer through ${tool.name}, ${rounds} rounds: median MiB/s [min-max]`);
  for (const [k, p] of paths.entries()) {
    const xs = rates[k]!;
    const ratio = k === 0 ? '' : `  ${median(xs.map((x, i) => x / rates[0]![i]!)).toFixed(2)}x loopback`;
    console.log(`  ${p.name.padEnd(23)} ${median(xs).toFixed(0).padStart(6)} [${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)}]${ratio}`);
  }
} finally {
  spawnSync(runts, ['--root', join(dir, 'state'), 'container', 'rm', '-f', 'sink', 'source'], { env, stdio: 'ignore' });
  spawnSync(runts, ['--root', join(dir, 'state'), 'network', 'prune'], { env, stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
