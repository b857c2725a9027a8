/*
 * The cgroup v2 driver, for real: this host is hybrid (cgroup v1), so boot a
 * throwaway cgroup-v2 VM (test/vm/run-in-vm.sh) once and run the
 * version-agnostic cgroup suites (cgroup-limits.test.ts, devices.test.ts)
 * inside it. The VM is
 * emulated, so this takes a couple of minutes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const REPO = join(import.meta.dirname, '../..');
const launcher = join(REPO, 'test/vm/run-in-vm.sh');

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync('/usr/bin/qemu-system-x86_64')) return 'needs qemu-system-x86';
  if (!process.env.RUNTS_VM_KERNEL && !readdirSync('/boot').some((f) => f.startsWith('vmlinuz-'))) return 'needs linux-image-amd64';
  return null;
}

const why = missing();
if (why && process.env.CI === 'true') throw new Error(`cgroups-v2: ${why}`);

test('the cgroup suite passes on cgroup v2 (in a VM)', { skip: why ?? false, timeout: 20 * 60_000 }, async (t) => {
  // loop: devices.test.ts opens /dev/loop0 (7:0), which needs the driver loaded
  const child = spawn(launcher, ['--timeout', '1080', '--', 'bash', '-c', 'modprobe loop && exec "$@"', 'vm', process.execPath, '--test', '--test-concurrency=1', 'test/integration/cgroup-limits.test.ts', 'test/integration/devices.test.ts'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_TEST_CONTEXT: undefined },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const summary = out.split('\n').filter((l) => /^(✔|✖|ℹ (tests|pass|fail))/.test(l)).join('\n');
  for (const line of summary.split('\n')) t.diagnostic(line);
  assert.equal(code, 0, `in the VM:\n${code === 0 ? summary : out}`);
  assert.match(out, /^ℹ fail 0$/m, summary);
  assert.doesNotMatch(out, /^ℹ pass 0$/m, 'nothing ran in the VM');
});
