/*
 * Rootless on cgroup v2 with a delegated subtree, for real. Runs inside the
 * lab VM (test/integration/rootless.test.ts boots it with test/vm/run-in-vm.sh),
 * whose kernel has cgroup v2 alone; this host's cgroups are hybrid.
 *
 * The test delegates a subtree to a user it makes, as systemd does for a
 * Delegate=yes unit (user@.service): the directory and its cgroup.procs,
 * cgroup.subtree_control and cgroup.threads chowned to the user, with the
 * user's processes in a leaf below it. There the user's containers get a
 * cgroup of their own, and their limits hold.
 *
 * Design: docs/design/rootless.md, "cgroups".
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RUN_PREFIX } from '../../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../../lib/context.ts';
import { waitFor } from '../../lib/host.ts';
import { createRootlessUser, type RootlessUser } from '../../lib/rootless.ts';
import { describeResult, type RuntsResult } from '../../lib/runtime.ts';

const ROOT = '/sys/fs/cgroup';
const delegated = join(ROOT, `${RUN_PREFIX}-user`);
const session = join(delegated, 'session');
let user: RootlessUser;

before(() => {
  assert.ok(existsSync(join(ROOT, 'cgroup.controllers')) && !existsSync(join(ROOT, 'memory')), 'this suite runs on cgroup v2 alone (in the VM: test/integration/rootless.test.ts)');
  writeFileSync(join(ROOT, 'cgroup.subtree_control'), '+memory +pids');
  mkdirSync(delegated);
  mkdirSync(session);
  user = createRootlessUser({ subids: false, cgroup: session });
  for (const dir of [delegated, session]) {
    chownSync(dir, user.uid, user.gid);
    for (const f of ['cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']) chownSync(join(dir, f), user.uid, user.gid);
  }
});
after(() => {
  user?.remove();
  for (const dir of [session, delegated]) if (existsSync(dir)) rmdirSync(dir);
});
checkLeaksAfterFile(); // after the user and its cgroups are gone

const ok = (r: RuntsResult, what: string) => assert.ok(r.code === 0 && !r.timedOut, `${what}: ${describeResult(r)}`);
let n = 0;
const newId = () => `${RUN_PREFIX}-v2-${n++}`;

async function bundle(name: string, args: string[], resources: object): Promise<string> {
  ok(await user.runts$(['spec', '--rootless', '--bundle', user.scratch]), 'spec --rootless');
  const config = JSON.parse(readFileSync(join(user.scratch, 'config.json'), 'utf8'));
  await user.run('rm', [join(user.scratch, 'config.json')]);
  config.process.terminal = false;
  config.process.args = args;
  config.linux.resources = resources;
  return user.bundle(name, config);
}

const limits = { memory: { limit: 64 << 20 }, pids: { limit: 20 } };

test('the container gets a cgroup beside the user\'s own, and sees its memory.max and pids.max', async () => {
  const b = await bundle('limits', ['sh', '-c', 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; cat /proc/self/cgroup'], limits);
  const r = await user.runts$(['run', '--bundle', b, newId()]);
  ok(r, 'run');
  assert.deepEqual(r.stdout.trim().split('\n'), [String(64 << 20), '20', '0::/'], 'its own limits, at the root of its cgroup namespace');
  assert.match(readFileSync(join(delegated, 'cgroup.subtree_control'), 'utf8'), /memory.*pids|pids.*memory/);
});

test('a fork bomb stops at pids.max, and the container is still there to delete', async () => {
  const id = newId();
  const b = await bundle('bomb', ['sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 600'], limits);
  ok(await user.runts$(['run', '--detach', '--bundle', b, id]), 'run --detach');
  const cgroup = join(delegated, `runts-${id}`);
  const refused = await waitFor(() => Number(/^max (\d+)$/m.exec(readFileSync(join(cgroup, 'pids.events'), 'utf8'))?.[1] ?? 0) || undefined, 'pids.events to count refused forks');
  assert.ok(refused > 0);
  const current = Number(readFileSync(join(cgroup, 'pids.current'), 'utf8'));
  assert.ok(current <= 20, `pids.current ${current} stays at or below pids.max 20`);
  ok(await user.runts$(['delete', '--force', id]), 'delete --force');
  assert.ok(!existsSync(cgroup), 'delete removed the cgroup');
});

test('pause and resume through cgroup.freeze; ps through the cgroup', async () => {
  const id = newId();
  const b = await bundle('pause', ['sleep', '600'], {});
  ok(await user.runts$(['run', '--detach', '--bundle', b, id]), 'run --detach');
  const state = async () => JSON.parse((await user.runts$(['state', id])).stdout) as { status: string; pid: number };
  ok(await user.runts$(['pause', id]), 'pause');
  assert.equal((await state()).status, 'paused');
  assert.equal(readFileSync(join(delegated, `runts-${id}`, 'cgroup.freeze'), 'utf8').trim(), '1');
  ok(await user.runts$(['resume', id]), 'resume');
  assert.equal((await state()).status, 'running');
  const ps = await user.runts$(['ps', '--format', 'json', id]);
  assert.deepEqual(JSON.parse(ps.stdout), [(await state()).pid]);
  ok(await user.runts$(['delete', '--force', id]), 'delete --force');
});
