/*
 * network.ts - a benchmark, not a test: what the network costs.
 *
 *   1. the time bridge networking adds to `runts run --rm IMAGE true`
 *      (bridge against none and host, medians of `rounds` runs);
 *   2. throughput of 1 GiB through busybox nc: host loopback, host to a
 *      container over the bridge, container to container over the bridge.
 *      Timed inside the sender with /proc/uptime (centiseconds).
 *
 *   node bench/network.ts [rounds=10]
 *
 * Needs root, nftables and a build (`npm run build`). Uses a bridge, subnet
 * and store of its own, and removes them.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxLayer, ociLayout } from '../test/integration/image-fixtures.ts';

const [rounds = 10] = process.argv.slice(2).map(Number);
const runts = join(import.meta.dirname, '../bin/runts');
const dir = mkdtempSync(join(tmpdir(), 'runts-bench-net-'));
const env = { ...process.env, RUNTS_STORE: join(dir, 'store'), RUNTS_NET_BRIDGE: 'rtbench0', RUNTS_NET_SUBNET: '10.239.0.0/24', RUNTS_NET_STATE: join(dir, 'net'), RUNTS_NET_CONFIG: join(dir, 'networks') };
const r = (args: string[]) => execFileSync(runts, ['--root', join(dir, 'state'), ...args], { env, encoding: 'utf8' });
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const SEND = 'a=$(cut -d" " -f1 /proc/uptime); dd if=/dev/zero bs=1M count=1024 2>/dev/null | NC HOST PORT; b=$(cut -d" " -f1 /proc/uptime); echo "$a $b"';
const rate = (out: string) => { const [a, b] = out.trim().split('\n').pop()!.split(' ').map(Number); return 1024 / (b! - a!); };

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

  // a receiver whose stdin stays open: busybox nc ends the connection at its stdin's EOF
  const loopServer = spawn('sh', ['-c', 'sleep 120 | /bin/busybox nc -l -p 5001 > /dev/null'], { stdio: 'ignore', detached: true });
  await new Promise((res) => setTimeout(res, 200));
  const loop = rate(execFileSync('sh', ['-c', SEND.replace('NC', '/bin/busybox nc').replace('HOST', '127.0.0.1').replace('PORT', '5001')], { encoding: 'utf8' }));
  process.kill(-loopServer.pid!, 'SIGKILL');
  r(['run', '-d', '--name', 'sink', 'bench/bb:1', 'sh', '-c', '(sleep 120 | nc -l -p 5001 > /dev/null) & sleep 120 | nc -l -p 5002 > /dev/null']);
  const ip = JSON.parse(r(['network', 'inspect', 'bridge']))[0].containers.sink.ip as string;
  await new Promise((res) => setTimeout(res, 200));
  const h2c = rate(execFileSync('sh', ['-c', SEND.replace('NC', '/bin/busybox nc').replace('HOST', ip).replace('PORT', '5001')], { encoding: 'utf8' }));
  const c2c = rate(r(['run', '--rm', 'bench/bb:1', 'sh', '-c', SEND.replace('NC', 'nc').replace('HOST', ip).replace('PORT', '5002')]));
  console.log(`1 GiB through nc: host loopback ${loop.toFixed(0)} MiB/s, host->container ${h2c.toFixed(0)} MiB/s (${(h2c / loop).toFixed(2)}x), container->container ${c2c.toFixed(0)} MiB/s (${(c2c / loop).toFixed(2)}x)`);
} finally {
  spawnSync(runts, ['--root', join(dir, 'state'), 'container', 'rm', '-f', 'sink'], { env, stdio: 'ignore' });
  spawnSync(runts, ['--root', join(dir, 'state'), 'network', 'prune'], { env, stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
