/*
 * The cgroup v2 driver, for real: this host is hybrid (cgroup v1), so boot a
 * throwaway cgroup-v2 VM (test/vm/run-in-vm.sh) once and run the
 * version-agnostic cgroup suites (cgroup-limits.test.ts, devices.test.ts)
 * inside it. The VM is
 * emulated, so this takes a couple of minutes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runInVm, vmMissing } from '../lib/vm.ts';
import { fileSkip } from '../lib/host.ts';

// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const why = fileSkip('cgroups-v2', vmMissing());

test('the cgroup suite passes on cgroup v2 (in a VM)', { skip: why ?? false, timeout: 20 * 60_000 }, async (t) => {
  // loop: devices.test.ts opens /dev/loop0 (7:0), which needs the driver loaded
  const { code, out, summary } = await runInVm(1080, ['bash', '-c', 'modprobe loop && exec "$@"', 'vm', process.execPath, '--test', '--test-concurrency=1', 'test/integration/cgroup-limits.test.ts', 'test/integration/devices.test.ts']);
  for (const line of summary.split('\n')) t.diagnostic(line);
  assert.equal(code, 0, `in the VM:\n${code === 0 ? summary : out}`);
  assert.match(out, /^ℹ fail 0$/m, summary);
  assert.doesNotMatch(out, /^ℹ pass 0$/m, 'nothing ran in the VM');
});
