/*
 * checkpoint and restore through CRIU. CRIU cannot run on this host's
 * kernel (`criu check` fails reading the vDSO), so the proof that a
 * container's memory and a counter survive runs in the lab VM
 * (in-vm/checkpoint.test.ts, Debian's 6.1 kernel, where CRIU works). Here:
 * what a user meets when it cannot work, one message and the container as
 * it was; the runc flags runts refuses; stdio that CRIU can dump.
 * Design: docs/design/checkpoint.md.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { withArgs } from '../lib/bundle.ts';
import { assertFails, checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { fileSkip } from '../lib/host.ts';
import { runInVm, vmMissing } from '../lib/vm.ts';

checkLeaksAfterFile();

const criuWorks = existsSync('/usr/sbin/criu') && spawnSync('/usr/sbin/criu', ['check'], { encoding: 'utf8' }).status === 0;

containerTest('checkpoint where CRIU cannot run: CRIU\'s own error in one line, the container left running', async (c) => {
  if (criuWorks) return c.t.skip('CRIU works on this kernel: the failure case needs a host where it does not');
  const ct = await c.create(c.bundle(withArgs('sleep', '600')));
  await c.start(ct.id);
  const image = join(c.dir, 'image');
  const r = await c.runts(['checkpoint', '--image-path', image, ct.id]);
  assertFails(r, `checkpoint ${ct.id}: criu dump failed`, `(log: ${join(image, 'dump.log')})`);
  assert.equal((await c.state(ct.id)).status, 'running');
}, { needs: ['criu'] });

containerTest('stdio on the host\'s /dev/null is the container\'s own /dev/null, a file CRIU can dump (an engine\'s stdin)', async (c) => {
  // the test runner gives runts the host's /dev/null as stdin, as conmon does
  const ct = await c.create(c.bundle(withArgs('sleep', '600')));
  const mntId = (fd: number) => /^mnt_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${ct.pid}/fdinfo/${fd}`, 'utf8'))![1];
  const mounts = readFileSync(`/proc/${ct.pid}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' '));
  const dev = mounts.find((m) => m[4] === '/dev')!;
  assert.equal(mntId(0), dev[0], `fd 0 is on the container's /dev (mount ${dev[0]}), not the host's`);
  assert.equal(statSync(`/proc/${ct.pid}/fd/0`).rdev, statSync('/dev/null').rdev, 'and it is the null device');
});

containerTest('runc\'s flags that runts cannot honour are refused by name, and a missing checkpoint too; nothing left', async (c) => {
  const bundle = c.bundle(withArgs('sleep', '600'));
  const restore = (...flags: string[]) => c.runts(['restore', '--bundle', bundle.dir, '--image-path', join(c.dir, 'x'), ...flags, c.newId()]);
  assertFails(await restore('--console-socket', join(c.dir, 'sock')), '--console-socket: not supported by runts: CRIU hands a restored terminal');
  assertFails(await restore('--no-pivot'), '--no-pivot: not supported by runts');
  assertFails(await restore('-d', '--lazy-pages'), '--lazy-pages: not supported by runts');
  assertFails(await restore('-d', '--empty-ns', 'pid'), '--empty-ns pid: namespace "pid" is not supported (only "network", as runc)');
  const image = join(c.dir, 'no-image');
  assertFails(await c.runts(['restore', '-d', '--bundle', bundle.dir, '--image-path', image, c.newId()]), `--image-path ${image}: no checkpoint there (no descriptors.json)`);
  assertFails(await c.runts(['checkpoint', '--manage-cgroups-mode', 'loose', 'x']), "argument 'loose' is invalid");
  assertFails(await c.runts(['checkpoint', '--page-server', '127.0.0.1:27000', 'x']), '--page-server: not supported by runts');
  assertFails(await c.runts(['checkpoint', '--status-fd', '3', 'x']), '--status-fd: not supported by runts');
  const ct = await c.create(c.bundle(withArgs('sleep', '600')));
  await c.start(ct.id);
  const parent = join(c.dir, 'parent');
  assertFails(await c.runts(['checkpoint', '--image-path', join(c.dir, 'img'), '--parent-path', parent, ct.id]), `--parent-path ${parent}: must be relative`);
  assertFails(await c.runts(['checkpoint', '--image-path', join(c.dir, 'img'), '--parent-path', '../none', ct.id]), '--parent-path ../none:', 'is not a directory');
  assert.equal((await c.state(ct.id)).status, 'running');
  await c.delete(ct.id, '--force');
  await c.assertNothingLeft();
}, { needs: ['criu'] });

// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const why = fileSkip('checkpoint', vmMissing() ?? (existsSync('/usr/sbin/criu') ? null : 'needs criu'));

test('checkpoint and restore keep a container\'s memory and its counter, with runts and with podman over runts (in the VM, where CRIU works)', { skip: why ?? false, timeout: 22 * 60_000 }, async () => {
  const { code, out, summary } = await runInVm(1200, [process.execPath, '--test', '--test-concurrency=1', 'test/integration/in-vm/checkpoint.test.ts']);
  assert.equal(code, 0, `in the VM:\n${code === 0 ? summary : out}`);
  assert.match(out, /^ℹ fail 0$/m, summary);
  assert.match(out, /^ℹ pass 4$/m, summary);
});
