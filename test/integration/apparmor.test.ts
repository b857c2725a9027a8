/*
 * AppArmor (process.apparmorProfile). This host's kernel has no AppArmor, so
 * here: asking for a profile is refused at create, clearly and before
 * anything exists. For the real thing, boot a throwaway VM whose Debian
 * kernel has the LSM (test/vm/run-in-vm.sh) and run in-vm/apparmor.test.ts
 * there. The VM is emulated: this takes a minute or two.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { assertFails, checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { runInVm, vmMissing } from '../lib/vm.ts';
import { fileSkip } from '../lib/host.ts';

checkLeaksAfterFile();

function hostHasAppArmor(): boolean {
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
}

containerTest('a profile asked for on a host without AppArmor is refused at create, and nothing is created', async (c) => {
  // on a host with AppArmor there is nothing to refuse: the VM test below covers confinement
  if (hostHasAppArmor()) return c.t.skip('this host has AppArmor: the refusal is for hosts without it');
  const { result } = await c.tryCreate(c.bundle((s) => { Object.assign(s.process!, { apparmorProfile: 'runts-default' }); }));
  assertFails(result, 'process.apparmorProfile', 'AppArmor is not enabled');
  await c.assertNothingLeft();
});

containerTest('an SELinux label asked for on a host without SELinux is refused at create', async (c) => {
  if (existsSync('/sys/fs/selinux/enforce')) return c.t.skip('this host has SELinux: the refusal is for hosts without it');
  const { result } = await c.tryCreate(c.bundle((s) => { Object.assign(s.process!, { selinuxLabel: 'system_u:system_r:container_t:s0' }); }));
  assertFails(result, 'process.selinuxLabel', 'SELinux is not enabled');
  await c.assertNothingLeft();
});

function apparmorMissing(): string | null {
  if (!existsSync('/usr/sbin/apparmor_parser') && !existsSync('/sbin/apparmor_parser')) return 'needs apparmor (apparmor_parser)';
  return null;
}

// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const why = fileSkip('apparmor', vmMissing() ?? apparmorMissing());

test('AppArmor confines the container, for real (in a VM with the LSM)', { skip: why ?? false, timeout: 10 * 60_000 }, async () => {
  const { code, out, summary } = await runInVm(540, [process.execPath, '--test', '--test-concurrency=1', 'test/integration/in-vm/apparmor.test.ts']);
  assert.equal(code, 0, `in the VM:\n${code === 0 ? summary : out}`);
  assert.match(out, /^ℹ fail 0$/m, summary);
  assert.match(out, /^ℹ pass 3$/m, summary);
});
