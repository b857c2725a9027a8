/*
 * checkpoint and restore, for real. Runs inside the lab VM
 * (test/integration/checkpoint.test.ts boots it with test/vm/run-in-vm.sh),
 * whose kernel CRIU works with; this host's does not. A container keeps a
 * random number it drew at start in a shell variable (its memory) and a
 * counter, and writes both to a tmpfs of its own every 0.2 s: after
 * checkpoint the container is gone, after restore the same number is back
 * and the counter goes on from where it was.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertOk, checkLeaksAfterFile, containerTest } from '../../lib/context.ts';
import { waitFor } from '../../lib/host.ts';
import { describeResult } from '../../lib/runtime.ts';

checkLeaksAfterFile();

containerTest('a container\'s memory and counter survive checkpoint and restore', async (c) => {
  const bundle = c.bundle((s) => {
    // its stdio its own /dev/null: CRIU cannot dump a descriptor of a file outside the container's mount namespace
    s.process!.args = ['/bin/sh', '-c', 'exec </dev/null >/dev/null 2>&1; seed=$RANDOM$RANDOM; i=0; while :; do i=$((i+1)); echo "$seed $i" > /run/state.new; mv /run/state.new /run/state; sleep 0.2; done'];
    s.mounts!.push({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
  }, { prepareRootfs: (rootfs) => mkdirSync(join(rootfs, 'run'), { recursive: true }) });
  const ct = await c.create(bundle);
  await c.start(ct.id);
  const read = async () => {
    const r = await c.runts(['exec', ct.id, 'cat', '/run/state']);
    assertOk(r);
    const [seed, count] = r.stdout.trim().split(' ').map(Number);
    return { seed: seed!, count: count! };
  };
  await waitFor(async () => (await read()).count >= 3, 'the counter to run');
  const image = join(c.dir, 'image');
  const dumped = await c.runts(['checkpoint', '--image-path', image, ct.id]);
  assertOk(dumped);
  assert.equal((await c.runts(['state', ct.id])).code, 1, 'a checkpointed container is gone, as with runc');
  const files = readdirSync(image);
  assert.ok(files.some((f) => f.startsWith('pages-')), `the image holds memory pages: ${files.join(' ')}`);
  const restored = await c.runts(['restore', '-d', '--bundle', bundle.dir, '--image-path', image, '--work-path', join(c.dir, 'work'), ct.id]);
  assertOk(restored);
  assert.equal((await c.state(ct.id)).status, 'running', describeResult(restored));
  const first = await read();
  await waitFor(async () => (await read()).count > first.count, 'the counter to go on');
  const after = await read();
  assert.equal(after.seed, first.seed);
  assert.ok(first.count >= 3, `the count went on from where it was (${first.count})`);
  await c.delete(ct.id, '--force');
});
