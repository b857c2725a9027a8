/*
 * linux.resources enforced for real, and the verbs that use the cgroup
 * (events, pause, resume, update). The same file runs on the cgroup v1 host
 * and inside the cgroup v2 VM (cgroups-v2.test.ts): every check reads the
 * container's cgroup through whichever layout the machine has.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setNamespaces, type OciSpec } from '../lib/bundle.ts';
import { CGROUP_V2 as V2, cgroupFile } from '../lib/cgroup-file.ts';
import { cgroupDirsMatching } from '../lib/cleanup.ts';
import { assertFails, assertOk, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../lib/host.ts';
import { parseCgroupFile } from '../lib/probe.ts';

checkLeaksAfterFile();

const MB = 1024 * 1024;

const read = (path: string) => readFileSync(path, 'utf8').trim();

interface Stats { type: string; data: { cpu: { usage: { total: number } }; memory: { usage: { limit: number } }; pids: { current: number; limit: number } } }

async function stats(c: Ctx, id: string): Promise<Stats> {
  const r = await c.runts(['events', '--stats', id]);
  assertOk(r, 'events --stats');
  return JSON.parse(r.stdout) as Stats;
}

/* A busybox shell script as the container process (withArgs runs the probe). */
const sh = (script: string) => (s: OciSpec) => {
  s.process!.args = ['/bin/sh', '-c', script];
};

containerTest('a memory hog is OOM-killed at its limit, and events reports the OOM kill', async (c) => {
  const limit = 32 * MB;
  // memsw as well on v1 (where it exists), so the hog cannot escape to swap
  const memory = V2 ? { limit, swap: limit } : { limit, ...(existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') ? { swap: limit } : {}) };
  // busybox tail keeps a line that never ends in memory: it grows until killed
  const ct = await c.create(c.bundle([sh('sleep 1; head -c 256m /dev/zero | tail; echo hog-done'), { linux: { resources: { memory } } }]));
  const eventsOut = join(c.dir, 'events.out');
  const events = c.runts(['events', '--interval', '200ms', ct.id], { stdoutFile: eventsOut, timeoutMs: 120_000 });
  await waitFor(() => existsSync(eventsOut) && readFileSync(eventsOut, 'utf8').includes('"stats"'), 'first stats event');
  await c.start(ct.id);
  // Ends when the container stops: the hog was killed and the shell echoed
  // hog-done, or the OOM killer took the shell too (it may pick it once the
  // hog's memory is still being freed). Without a limit the hog ends on its
  // own, and no oom event is there.
  const result = await events;
  assertOk(result, 'events');
  const lines = readFileSync(eventsOut, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; id: string });
  assert.ok(lines.some((e) => e.type === 'oom' && e.id === ct.id), `no oom event in ${lines.map((e) => e.type).join(',')}`);
});

containerTest('a fork bomb stops at pids.max', async (c) => {
  const ct = await c.create(c.bundle([sh('sh -c "for i in \\$(seq 40); do sleep 600 & done" 2>/dev/null; echo forked; exec sleep 600'), { linux: { resources: { pids: { limit: 10 } } } }]));
  await c.start(ct.id);
  await c.waitForOutput(ct, /forked/);
  assert.equal(read(cgroupFile(ct.pid, ['pids', 'pids.max'], 'pids.max')), '10');
  const s = await stats(c, ct.id);
  // the inner shell gave up when a fork failed and left its sleeps behind
  assert.ok(s.data.pids.current >= 8 && s.data.pids.current <= 10, `${s.data.pids.current} processes`);
  assert.equal(s.data.pids.limit, 10);
  const events = read(cgroupFile(ct.pid, ['pids', 'pids.events'], 'pids.events'));
  assert.match(events, /^max [1-9]\d*$/m, 'forks were refused');
});

containerTest('a CPU spinner under a quota of half a CPU uses about half a CPU', async (c) => {
  const ct = await c.create(c.bundle([sh('while :; do :; done'), { linux: { resources: { cpu: { quota: 50_000, period: 100_000 } } } }]));
  await c.start(ct.id);
  await sleep(300);
  const usageFile = cgroupFile(ct.pid, ['cpuacct', 'cpuacct.usage'], 'cpu.stat');
  const usage = () => (V2 ? Number(/^usage_usec (\d+)$/m.exec(read(usageFile))![1]) * 1000 : Number(read(usageFile)));
  const u0 = usage();
  const t0 = process.hrtime.bigint();
  await sleep(2000);
  const used = usage() - u0;
  const elapsed = Number(process.hrtime.bigint() - t0);
  const share = used / elapsed;
  assert.ok(share > 0.3 && share < 0.7, `the spinner used ${share.toFixed(2)} of a CPU`);
  const s = await stats(c, ct.id);
  assert.ok(s.data.cpu.usage.total > 0);
});

containerTest('pause stops a counter, resume restarts it, and the state shows paused', async (c) => {
  const ct = await c.create(c.bundle(sh('i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done')));
  await c.start(ct.id);
  await c.waitForOutput(ct, /\n5\n/);
  assertOk(await c.runts(['pause', ct.id]), 'pause');
  assert.equal((await c.state(ct.id)).status, 'paused');
  const frozenAt = ct.output().length;
  await sleep(500);
  assert.equal(ct.output().length, frozenAt, 'the counter advanced while paused');
  assertFails(await c.runts(['pause', ct.id]), /paused/);
  assertOk(await c.runts(['resume', ct.id]), 'resume');
  assert.equal((await c.state(ct.id)).status, 'running');
  await waitFor(() => ct.output().length > frozenAt, 'the counter to advance again');
  assertFails(await c.runts(['resume', ct.id]), /not paused/);
});

containerTest('delete --force removes a paused container', async (c) => {
  const ct = await c.create(c.bundle(sh('sleep 600')));
  await c.start(ct.id);
  assertOk(await c.runts(['pause', ct.id]), 'pause');
  await c.delete(ct.id, '--force');
  assert.deepEqual(cgroupDirsMatching(ct.id), []);
});

containerTest('update changes live limits, from flags and from a resources file', async (c) => {
  const ct = await c.create(c.bundle([sh('sleep 600'), { linux: { resources: { memory: { limit: 64 * MB, swap: 64 * MB }, pids: { limit: 50 } } } }]));
  await c.start(ct.id);
  const memFile = cgroupFile(ct.pid, ['memory', 'memory.limit_in_bytes'], 'memory.max');
  // OCI's swap is memory+swap: v1 memsw, v2 swap alone (swap - limit)
  const swapFile = cgroupFile(ct.pid, ['memory', 'memory.memsw.limit_in_bytes'], 'memory.swap.max');
  const pidsFile = cgroupFile(ct.pid, ['pids', 'pids.max'], 'pids.max');
  assert.equal(read(memFile), String(64 * MB));
  assert.equal(read(swapFile), V2 ? '0' : String(64 * MB));
  // a raised memsw must be written before the limit that needs it, and the other way round
  assertOk(await c.runts(['update', '--memory', '96m', '--memory-swap', '128m', ct.id]), 'update up');
  assert.deepEqual([read(memFile), read(swapFile)], [String(96 * MB), String(V2 ? 32 * MB : 128 * MB)]);
  assertOk(await c.runts(['update', '--memory', '48m', '--memory-swap', '48m', '--pids-limit', '20', ct.id]), 'update');
  assert.deepEqual([read(memFile), read(swapFile)], [String(48 * MB), V2 ? '0' : String(48 * MB)]);
  assert.equal(read(pidsFile), '20');
  const file = join(c.dir, 'resources.json');
  writeFileSync(file, JSON.stringify({ pids: { limit: 30 }, cpu: { quota: 20_000, period: 100_000 } }));
  assertOk(await c.runts(['update', '--resources', file, ct.id]), 'update --resources');
  assert.equal(read(pidsFile), '30');
  const cpu = read(cgroupFile(ct.pid, ['cpu', 'cpu.cfs_quota_us'], 'cpu.max'));
  assert.equal(cpu, V2 ? '20000 100000' : '20000');
  const s = await stats(c, ct.id);
  assert.equal(s.data.pids.limit, 30);
  assert.equal(s.data.memory.usage.limit, 48 * MB);
  assertFails(await c.runts(['update', '--memory', '-5', ct.id]), /memory/);
  assertFails(await c.runts(['update', '--pids-limit', 'lots', ct.id]), /--pids-limit/);
});

containerTest('device rules deny a disk (/dev/sda) and allow the default devices', async (c) => {
  const disk = (allow: boolean) => (s: OciSpec) => {
    s.linux!.devices = [{ path: '/dev/sda', type: 'b', major: 8, minor: 0, fileMode: 0o600 }];
    s.linux!.resources = { devices: [{ allow: false, access: 'rwm' }, ...(allow ? [{ allow: true, type: 'b', major: 8, minor: 0, access: 'r' }] : [])] };
  };
  const denied = await c.probeCmd<{ error?: string }>(disk(false), ['read', '/dev/sda', '1']);
  assert.equal(denied.error, 'EPERM');
  // allowed: the device cgroup lets the open through (no disk behind it may still fail, but not with EPERM)
  const allowed = await c.probeCmd<{ error?: string }>(disk(true), ['read', '/dev/sda', '1']);
  assert.notEqual(allowed.error, 'EPERM');
  assert.equal(await c.probeWrite(disk(false), '/dev/null'), 'ok');
  assert.equal(await c.probeWrite(disk(false), '/dev/full'), 'ENOSPC');
});

containerTest('exec joins the container cgroup, even after the container made sub-cgroups; delete removes them', async (c) => {
  const ct = await c.create(c.bundle(sh('sleep 600')));
  await c.start(ct.id);
  // what a container with its own cgroup manager does: INIT moves into a
  // child, and the parent hands a controller down (on v2 it can then hold
  // no process: joining it is EBUSY)
  const procs = cgroupFile(ct.pid, ['pids', 'cgroup.procs'], 'cgroup.procs');
  const top = join(procs, '..');
  mkdirSync(join(top, 'init'));
  writeFileSync(join(top, 'init', 'cgroup.procs'), String(ct.pid));
  if (V2) writeFileSync(join(top, 'cgroup.subtree_control'), '+pids');
  const r = await c.runts(['exec', ct.id, '/bin/cat', '/proc/self/cgroup']);
  assertOk(r, 'exec');
  const path = (V2 ? /^0::(.*)$/m : /^\d+:pids:(.*)$/m).exec(r.stdout)?.[1];
  assert.ok(path !== undefined, `no cgroup in ${JSON.stringify(r.stdout)}`);
  // v2: next to INIT, in its child; v1 (no such rule): the container's own cgroup
  if (V2) assert.match(path, /\/init$/);
  else assert.doesNotMatch(path, /\/init$/);
  await c.delete(ct.id, '--force');
  assert.deepEqual(cgroupDirsMatching(ct.id), [], 'the sub-cgroup was left behind');
});

containerTest('with a cgroup namespace the container sees its own cgroup as /', async (c) => {
  const p = await c.probe(setNamespaces('pid', 'mount', 'network', 'ipc', 'uts', 'cgroup'));
  const lines = parseCgroupFile(p.cgroup);
  assert.ok(lines.length > 0, 'no /proc/self/cgroup');
  for (const line of lines) if (line.controllers.length || V2) assert.equal(line.path, '/', `${line.controllers.join(',') || 'cgroup2'}`);
});

/* ---- bad input: a clear error, nothing left behind ---- */

async function refused(c: Ctx, resources: object, ...patterns: (RegExp | string)[]) {
  const id = c.newId();
  const { result } = await c.tryCreate(c.bundle([sh('true'), { linux: { resources } }]), { id });
  assertFails(result, ...patterns);
  assert.deepEqual(cgroupDirsMatching(id), [], 'a cgroup was left behind');
}

containerTest('a negative memory limit is refused, naming the field', async (c) => {
  await refused(c, { memory: { limit: -5 } }, 'linux.resources.memory.limit');
});

containerTest('an unknown device type is refused, naming the field', async (c) => {
  await refused(c, { devices: [{ allow: true, type: 'x', access: 'r' }] }, /linux\.resources\.devices\[0\]\.type/);
});

containerTest('a cpuset outside the host CPUs is refused, naming the field', async (c) => {
  await refused(c, { cpu: { cpus: '0-511' } }, 'linux.resources.cpu.cpus', /not on this host/);
});

containerTest('a memory+swap limit below the memory limit is refused', async (c) => {
  await refused(c, { memory: { limit: 64 * MB, swap: 32 * MB } }, 'linux.resources.memory.swap');
});

containerTest(V2 ? 'a v1-only key is refused on cgroup v2' : 'a cgroup v2 key (unified) is refused on cgroup v1', async (c) => {
  if (V2) await refused(c, { network: { classID: 42 } }, 'linux.resources.network', /cgroup v2/);
  else await refused(c, { unified: { 'memory.high': '1000000' } }, 'linux.resources.unified', /v1/);
});
