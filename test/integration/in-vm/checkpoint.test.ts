/*
 * checkpoint and restore, for real. Runs inside the lab VM
 * (test/integration/checkpoint.test.ts boots it with test/vm/run-in-vm.sh),
 * whose kernel CRIU works with; this host's does not. A container keeps a
 * random number it drew at start in a shell variable (its memory) and a
 * counter, and writes both to a tmpfs of its own every 0.2 s: after
 * checkpoint the container is gone, after restore the same number is back
 * and the counter goes on from where it was. The same with podman driving
 * runts (its checkpoint, restore and --export/--import), a foreground
 * restore, --leave-running, and an iterative migration (--pre-dump, then
 * --parent-path).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { assertOk, checkLeaksAfterFile, containerTest, type Ctx } from '../../lib/context.ts';
import { runCommand } from '../../lib/engine.ts';
import { waitFor } from '../../lib/host.ts';
import { ok, podmanFor, RUN_FLAGS } from '../../lib/podman.ts';
import { describeResult } from '../../lib/runtime.ts';

checkLeaksAfterFile();

/** Counts, the seed and count in /run/state, until /run/stop appears (then exits 7). */
const LOOP = 'seed=$RANDOM$RANDOM; i=0; while [ ! -e /run/stop ]; do i=$((i+1)); echo "$seed $i" > /run/state.new; mv /run/state.new /run/state; sleep 0.2; done; exit 7';
/** The same, its stdio the container's own /dev/null: the tests' runts gives it a host file, which CRIU cannot dump. */
const COUNTER = `exec </dev/null >/dev/null 2>&1; ${LOOP}`;

function counting(c: Ctx) {
  return c.bundle((s) => {
    s.process!.args = ['/bin/sh', '-c', COUNTER];
    s.mounts!.push({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
  }, { prepareRootfs: (rootfs) => mkdirSync(join(rootfs, 'run'), { recursive: true }) });
}

/** The container's seed and count, read with exec. */
async function read(c: Ctx, id: string): Promise<{ seed: number; count: number }> {
  const r = await c.runts(['exec', id, 'cat', '/run/state']);
  assertOk(r);
  const [seed, count] = r.stdout.trim().split(' ').map(Number);
  return { seed: seed!, count: count! };
}

/* A counting container, created and started, its counter past 3. */
async function startCounting(c: Ctx) {
  const bundle = counting(c);
  const ct = await c.create(bundle);
  await c.start(ct.id);
  await waitFor(async () => (await read(c, ct.id)).count >= 3, 'the counter to run');
  return { bundle, ct };
}

async function assertGoesOn(c: Ctx, id: string, before: { seed: number; count: number }): Promise<void> {
  const first = await read(c, id);
  assert.equal(first.seed, before.seed, 'the number drawn before the checkpoint is back');
  assert.ok(first.count >= before.count, `the count went on from where it was (${before.count} -> ${first.count})`);
  await waitFor(async () => (await read(c, id)).count > first.count, 'the counter to go on');
}

containerTest('a container\'s memory and counter survive checkpoint and restore', async (c) => {
  const { bundle, ct } = await startCounting(c);
  const image = join(c.dir, 'image');
  const dumped = await c.runts(['checkpoint', '--image-path', image, ct.id]);
  assertOk(dumped);
  const before = await c.runts(['state', ct.id]);
  assert.equal(before.code, 1, 'a checkpointed container is gone, as with runc');
  const files = readdirSync(image);
  assert.ok(files.some((f) => f.startsWith('pages-')), `the image holds memory pages: ${files.join(' ')}`);
  const restored = await c.runts(['restore', '-d', '--bundle', bundle.dir, '--image-path', image, '--work-path', join(c.dir, 'work'), ct.id]);
  assertOk(restored);
  assert.equal((await c.state(ct.id)).status, 'running', describeResult(restored));
  const first = await read(c, ct.id);
  assert.ok(first.count >= 3, `the count went on from where it was (${first.count})`);
  await assertGoesOn(c, ct.id, first);
  await c.delete(ct.id, '--force');
});

containerTest('--leave-running, then a foreground restore: it waits for the process and exits with its status', async (c) => {
  const { bundle, ct } = await startCounting(c);
  const image = join(c.dir, 'image');
  const before = await read(c, ct.id);
  assertOk(await c.runts(['checkpoint', '--leave-running', '--image-path', image, ct.id]));
  const left = await read(c, ct.id);
  assert.equal((await c.state(ct.id)).status, 'running', 'left running');
  await waitFor(async () => (await read(c, ct.id)).count > left.count, 'the original to go on counting');
  await c.delete(ct.id, '--force');

  // the same image, restored under another id, in the foreground: runts returns when the process exits
  const id = c.newId();
  c.defer(`delete ${id}`, () => c.runts(['delete', '--force', id]));
  const restoring = c.runts(['restore', '--bundle', bundle.dir, '--image-path', image, '--work-path', join(c.dir, 'work'), id]);
  await waitFor(async () => (await c.runts(['state', id])).stdout.includes('"running"'), 'the restored container to run');
  await assertGoesOn(c, id, before);
  const cgroup = readFileSync(`/proc/${(await c.state(id)).pid}/cgroup`, 'utf8');
  assert.ok(cgroup.includes(`/${id}\n`) && !cgroup.includes(ct.id), `in its own cgroup, not the checkpointed container's: ${cgroup}`);
  assertOk(await c.runts(['exec', id, 'touch', '/run/stop']));
  const done = await restoring;
  assert.equal(done.code, 7, `runts exits with the container's status: ${describeResult(done)}`);
  assert.equal((await c.runts(['state', id])).code, 1, 'the container is deleted once it exited, as runc\'s foreground restore does');
});

containerTest('iterative migration: --pre-dump leaves it running, a dump with --parent-path restores it', async (c) => {
  const { bundle, ct } = await startCounting(c);
  const pre = join(c.dir, 'pre');
  const final = join(c.dir, 'final');
  assertOk(await c.runts(['checkpoint', '--pre-dump', '--image-path', pre, ct.id]));
  assert.ok(readdirSync(pre).some((f) => f.startsWith('pages-')), 'the pre-dump holds memory pages');
  const running = await read(c, ct.id);
  assert.equal((await c.state(ct.id)).status, 'running', 'a pre-dump leaves the container running');
  await waitFor(async () => (await read(c, ct.id)).count > running.count, 'the counter to go on after the pre-dump');
  assertOk(await c.runts(['checkpoint', '--parent-path', '../pre', '--auto-dedup', '--image-path', final, ct.id]));
  assert.equal(readlinkSync(join(final, 'parent')), '../pre', 'the dump names its parent images');
  assert.equal((await c.runts(['state', ct.id])).code, 1, 'gone after the final dump');
  assertOk(await c.runts(['restore', '-d', '--bundle', bundle.dir, '--image-path', final, ct.id]));
  await assertGoesOn(c, ct.id, running);
  await c.delete(ct.id, '--force');
});

containerTest('podman container checkpoint and restore (plain, --pre-checkpoint then --with-previous, --leave-running --export then --import) with runts as the runtime', async (c) => {
  const podman = podmanFor(c, 300_000);
  // an image of the test rootfs: --import needs one (a --rootfs container cannot be imported, with runc too)
  const tar = join(c.dir, 'rootfs.tar');
  ok(await runCommand('tar', ['-C', podman.rootfs, '-cf', tar, '.']));
  ok(await podman('import', tar, 'localhost/ckpt-counter'));
  ok(await podman('run', '-d', '--name', 'counter', ...RUN_FLAGS,
    // stdio as conmon gives it: the host's /dev/null, two pipes. podman's
    // --tmpfs asks for tmpcopyup: the image's /run is copied in at create, and
    // CRIU restores what the tmpfs holds by then.
    '--tmpfs', '/run:rw', 'localhost/ckpt-counter', '/bin/sh', '-c', LOOP));
  const read = async () => {
    const [seed, count] = ok(await podman('exec', 'counter', 'cat', '/run/state')).trim().split(' ').map(Number);
    return { seed: seed!, count: count! };
  };
  await waitFor(async () => (await podman('exec', 'counter', 'cat', '/run/state')).code === 0 && (await read()).count >= 3, 'the counter to run');

  const status = async () => ok(await podman('ps', '--all', '--format', '{{.Status}}')).trim();
  const goesOn = async (before: { seed: number; count: number }, what: string) => {
    const first = await read();
    assert.equal(first.seed, before.seed, `${what}: the number drawn at start is back`);
    assert.ok(first.count >= before.count, `${what}: the count went on from where it was (${before.count} -> ${first.count})`);
    await waitFor(async () => (await read()).count > first.count, `the counter to go on after ${what}`);
    return first;
  };

  const before = await read();
  ok(await podman('container', 'checkpoint', 'counter'));
  assert.match(await status(), /Exited/, 'checkpointed: stopped, as with runc');
  ok(await podman('container', 'restore', 'counter'));
  const restored = await goesOn(before, 'podman\'s restore');
  const ctId = ok(await podman('inspect', '--format', '{{.Id}}', 'counter')).trim();
  assert.ok(existsSync(join(c.root, ctId, 'state.json')), 'runts keeps the restored container');

  // podman's iterative checkpoint: --pre-checkpoint (runts's --pre-dump), then --with-previous (--parent-path)
  ok(await podman('container', 'checkpoint', '--pre-checkpoint', 'counter'));
  assert.match(await status(), /^Up/, 'a pre-checkpoint leaves it running');
  ok(await podman('container', 'checkpoint', '--with-previous', 'counter'));
  ok(await podman('container', 'restore', 'counter'));
  const iterated = await goesOn(restored, 'a restore from a checkpoint with a previous one');

  // --leave-running with --export, then --import in place of the removed container
  const exported = join(c.dir, 'counter.tar.gz');
  ok(await podman('container', 'checkpoint', '--leave-running', '--export', exported, 'counter'));
  assert.match(await status(), /^Up/, '--leave-running leaves it running');
  ok(await podman('rm', '--force', '--time', '0', 'counter'));
  ok(await podman('container', 'restore', '--import', exported));
  await goesOn(iterated, '--import');

  // what podman (through conmon) asked of runts, as it asks runc
  const calls = podman.calls();
  const id = '[0-9a-f]{64}';
  assert.match(calls, new RegExp(`^checkpoint --image-path \\S+/checkpoint --work-path \\S+ ${id}$`, 'm'), calls);
  assert.match(calls, new RegExp(`^checkpoint --image-path \\S+/pre-checkpoint --work-path \\S+ --pre-dump ${id}$`, 'm'), calls);
  assert.match(calls, new RegExp(`^checkpoint --image-path \\S+/checkpoint --work-path \\S+ --parent-path \\.\\./pre-checkpoint ${id}$`, 'm'), calls);
  assert.match(calls, new RegExp(`^checkpoint --image-path \\S+/checkpoint --work-path \\S+ --leave-running( --leave-running)? ${id}$`, 'm'), calls);
  assert.match(calls, new RegExp(`^restore --bundle \\S+ --pid-file \\S+ --detach --image-path \\S+/checkpoint --work-path \\S+ ${id}$`, 'm'), calls);
}, { needs: ['podman', 'conmon'] });
