/*
 * What runc 1.2 and later added to the command line and the spec that
 * engines use, in runts: --pidfd-socket on create, run and exec (a pidfd of
 * the process over SCM_RIGHTS), run's subreaper and --no-subreaper, update
 * --cpu-burst and --cpu-idle, and linux.netDevices. runc 1.1.5 (Debian's)
 * has only --no-subreaper of these, so only that test also passes with
 * RUNTS_BIN=/usr/sbin/runc. Design: docs/design/runtime-core.md, "Flags of runc 1.2".
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withArgs, type OciSpec } from '../lib/bundle.ts';
import { assertFails, assertOk, checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { lacks, sh } from '../lib/host.ts';
import { listenPidfd } from '../lib/pidfd.ts';
import { describeResult } from '../lib/runtime.ts';

checkLeaksAfterFile();

const V2_HOST = existsSync('/sys/fs/cgroup/cgroup.controllers');
const shell = (script: string) => (s: OciSpec) => { s.process!.args = ['/bin/sh', '-c', script]; };
const SIGKILL = 9;

containerTest('--pidfd-socket: create sends a pidfd of INIT ("standard"); signalling through it stops the container', async (c) => {
  const rx = await listenPidfd(join(c.dir, 'pidfd.sock'), SIGKILL);
  c.defer('stop the pidfd receiver', () => rx.kill());
  const ct = await c.create(c.bundle(withArgs('sleep', '600')), { flags: ['--pidfd-socket', rx.socketPath] });
  const got = await rx.received;
  assert.deepEqual(got, { message: 'standard', fdCount: 1, target: 'anon_inode:[pidfd]', pid: ct.pid });
  await rx.signal();
  await c.waitForStatus(ct.id, 'stopped');
}, { needs: ['python3'] });

containerTest('--pidfd-socket: run -d and exec -d send pidfds of their processes ("setns" for exec)', async (c) => {
  const rx = await listenPidfd(join(c.dir, 'run.sock'), SIGKILL);
  c.defer('stop the pidfd receiver', () => rx.kill());
  const r = await c.run(c.bundle(withArgs('sleep', '600')), { flags: ['--detach', '--pidfd-socket', rx.socketPath] });
  assertOk(r);
  assert.equal((await rx.received).pid, (await c.state(r.id)).pid);
  const ex = await listenPidfd(join(c.dir, 'exec.sock'), SIGKILL);
  c.defer('stop the pidfd receiver', () => ex.kill());
  const pidFile = join(c.dir, 'exec.pid');
  assertOk(await c.runts(['exec', '-d', '--pid-file', pidFile, '--pidfd-socket', ex.socketPath, r.id, 'sleep', '600']));
  const got = await ex.received;
  assert.equal(got.message, 'setns');
  assert.equal(got.pid, Number(readFileSync(pidFile, 'utf8')));
  await ex.signal();
  assert.equal((await c.state(r.id)).status, 'running', 'killing the exec\'d process leaves the container');
  await rx.signal();
  await c.waitForStatus(r.id, 'stopped');
}, { needs: ['python3'] });

containerTest('--pidfd-socket: a socket nobody listens on fails create with one message, nothing left', async (c) => {
  for (const path of [join(c.dir, 'missing.sock'), '/non-existent/dir/p.sock']) {
    const { result } = await c.tryCreate(c.bundle(withArgs('sleep', '600')), { flags: ['--pidfd-socket', path] });
    assertFails(result, `connect to pidfd socket ${path}: no such file or directory`);
  }
  await c.assertNothingLeft();
});

// Without a pid namespace, a process the container orphans goes to the
// nearest subreaper: the runtime's supervising process in the foreground
// (runc itself; runts's PARENT), unless --no-subreaper.
containerTest('run: orphans of a container without a pid namespace come to the runtime, unless --no-subreaper (as runc)', async (c) => {
  const bundle = c.bundle([
    (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid'); },
    shell('p=$(sh -c "sleep 30 >/dev/null 2>&1 & echo \\$!"); pp=$(grep PPid /proc/$p/status | cut -f2); cat /proc/$pp/comm; kill $p'),
  ]);
  const adopted = await c.run(bundle);
  assertOk(adopted);
  assert.match(adopted.stdout.trim(), /^(runc|runts:\[0:PARENT)$/, describeResult(adopted));
  const not = await c.run(bundle, { flags: ['--no-subreaper'] });
  assertOk(not);
  assert.doesNotMatch(not.stdout.trim(), /^(runc|runts:)/, describeResult(not));
});

containerTest('update --cpu-burst and --cpu-idle write the kernel\'s files; bad values are refused with the field', async (c) => {
  const ct = await c.create(c.bundle(withArgs('sleep', '600')));
  await c.start(ct.id);
  const cpuDir = cgroupDirOf(ct.pid, V2_HOST ? '' : 'cpu');
  const burstFile = join(cpuDir, V2_HOST ? 'cpu.max.burst' : 'cpu.cfs_burst_us');
  if (lacks(c.t, !existsSync(burstFile) && `this kernel has no ${burstFile} (Linux 5.14)`)) return;
  assertOk(await c.runts(['update', '--cpu-burst', '20000', ct.id]));
  assert.equal(readFileSync(burstFile, 'utf8').trim(), '20000');
  assertOk(await c.runts(['update', '--cpu-idle', '1', ct.id]));
  assert.equal(readFileSync(join(cpuDir, 'cpu.idle'), 'utf8').trim(), '1');
  assertFails(await c.runts(['update', '--cpu-idle', '2', ct.id]), 'update.cpu.idle: must be 0 or 1, not 2');
  assertFails(await c.runts(['update', '--cpu-burst', '-5', ct.id]), 'update.cpu.burst: must be a non-negative integer, not -5');
  assertOk(await c.runts(['update', '--cpu-idle', '0', ct.id]));
});

/** The directory of pid's cgroup in a hierarchy ('' for v2), from /proc/<pid>/cgroup. */
function cgroupDirOf(pid: number, controller: string): string {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, list, path] = line.split(':');
    if (controller === '' ? list === '' : list!.split(',').includes(controller)) return join('/sys/fs/cgroup', controller, path!);
  }
  throw new Error(`pid ${pid} has no ${controller || 'v2'} cgroup`);
}

/** A veth pair on the host, named for this test, removed at the end if the container did not take it. */
function hostVeth(c: Parameters<Parameters<typeof containerTest>[1]>[0], addr: string): [string, string] {
  const tag = `rt${process.pid % 100000}${c.newId().slice(-2)}`.replace(/[^a-z0-9]/g, '');
  const [a, b] = [`${tag}a`, `${tag}b`];
  sh('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  c.defer(`ip link del ${b}`, () => sh('ip', ['link', 'del', b], { allowFail: true }));
  sh('ip', ['addr', 'add', addr, 'dev', a]);
  return [a, b];
}

containerTest('linux.netDevices: a host interface moves in, renamed, with its address and up; the kernel destroys a virtual one with the namespace', async (c) => {
  const [moved, peer] = hostVeth(c, '10.231.77.1/24');
  const bundle = c.bundle([
    { linux: { netDevices: { [moved]: { name: 'ctr0' } } } },
    shell(`ip -o addr show dev ctr0; ip -o link show dev ctr0; ip link show ${moved} >/dev/null 2>&1 && echo host-name-visible; true`),
  ]);
  const r = await c.run(bundle);
  assertOk(r);
  assert.match(r.stdout, /ctr0\s+inet 10\.231\.77\.1\/24 .*scope global/, describeResult(r));
  assert.match(r.stdout, /ctr0@\S+: <[^>]*\bUP\b/, describeResult(r));
  assert.doesNotMatch(r.stdout, /host-name-visible/);
  // a veth goes with its namespace: neither end is left on the host
  for (const name of [moved, peer]) assert.equal(sh('ip', ['link', 'show', name], { allowFail: true }).code !== 0, true, `${name} is gone`);
}, { needs: ['ip'] });

containerTest('linux.netDevices: an interface the host lacks, or no network namespace, fails create with one message and nothing moved', async (c) => {
  const [kept] = hostVeth(c, '10.231.78.1/24');
  const { result } = await c.tryCreate(c.bundle([{ linux: { netDevices: { [kept]: {}, rtnosuch0: {} } } }, withArgs('sleep', '600')]));
  assertFails(result, 'linux.netDevices.rtnosuch0: no network interface rtnosuch0 on the host');
  assert.equal(sh('ip', ['link', 'show', kept], { allowFail: true }).code, 0, `${kept} stayed on the host`);
  const noNet = await c.tryCreate(c.bundle([{ linux: { netDevices: { [kept]: {} } } }, (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network'); }]));
  assertFails(noNet.result, 'linux.netDevices: moving a network interface requires a network namespace');
  await c.assertNothingLeft();
}, { needs: ['ip'] });

containerTest('features: linux.netDevices enabled for root; checkpoint enabled exactly where `criu check` passes', async (c) => {
  const r = await c.runts(['features']);
  assertOk(r);
  const f = JSON.parse(r.stdout) as { linux: { netDevices?: { enabled?: boolean } }; annotations: Record<string, string> };
  assert.deepEqual(f.linux.netDevices, { enabled: true });
  const criu = spawnSync('/usr/sbin/criu', ['check'], { stdio: 'ignore' }).status === 0;
  assert.equal(f.annotations['org.opencontainers.runc.checkpoint.enabled'], String(criu));
});
