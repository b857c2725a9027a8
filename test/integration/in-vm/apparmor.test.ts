/*
 * AppArmor, for real. Runs inside the VM (test/integration/apparmor.test.ts
 * boots it with test/vm/run-in-vm.sh), because Debian's kernel there has
 * the AppArmor LSM and this host's does not. Loads a small profile with
 * apparmor_parser (Debian's apparmor package) and shows that a write the
 * container can make without it is denied with it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { withArgs, type ConfigPatch } from '../../lib/bundle.ts';
import { assertFails, checkLeaksAfterFile, containerTest } from '../../lib/context.ts';
import { parseProbeJson } from '../../lib/probe.ts';
import { describeResult } from '../../lib/runtime.ts';

checkLeaksAfterFile();

const PROFILE = 'runts-test-deny-denied';
// Everything a probe needs, except writing a file named "denied".
const POLICY = `
profile ${PROFILE} flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  unix,
  deny /**/denied w,
}
`;

const dir = mkdtempSync(join(tmpdir(), 'runts-apparmor-'));
const policyFile = join(dir, 'profile');

function parser(...args: string[]) {
  const r = spawnSync('apparmor_parser', [...args, policyFile], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`apparmor_parser ${args.join(' ')}: ${r.stderr || r.error}`);
}

before(() => {
  let enabled = '';
  try {
    enabled = readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim();
  } catch { /* absent */ }
  assert.equal(enabled, 'Y', 'this suite runs where AppArmor is enabled (in the VM: test/integration/apparmor.test.ts)');
  writeFileSync(policyFile, POLICY);
  parser('-r', '-K');
});

after(() => {
  try {
    parser('-R');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Device rules are not what this suite is about: leave the cgroup's devices alone.
const base: ConfigPatch = (s) => { delete s.linux!.resources; };
const writable: ConfigPatch = [base, { root: { readonly: false } }];
const withProfile = (name: string): ConfigPatch => (s) => { Object.assign(s.process!, { apparmorProfile: name }); };
const confined: ConfigPatch = [base, withProfile(PROFILE)];

containerTest('an AppArmor profile denies a write the container could otherwise make', async (c) => {
  const write = async (patch: ConfigPatch) => {
    const r = await c.run(c.bundle([writable, patch, withArgs('write', '/etc/denied', 'x')]));
    assert.equal(r.code, 0, describeResult(r));
    return parseProbeJson<{ write: string }>(r.stdout).write;
  };
  assert.equal(await write([]), 'ok', 'without the profile the write succeeds');
  assert.equal(await write(confined), 'EACCES', 'with the profile AppArmor denies it');
});

containerTest('the container process runs confined by the profile, in enforce mode', async (c) => {
  const r = await c.run(c.bundle([confined, withArgs('read', '/proc/self/attr/current')]));
  assert.equal(r.code, 0, describeResult(r));
  assert.equal(parseProbeJson<{ read: string }>(r.stdout).read.trim(), `${PROFILE} (enforce)`);
});

containerTest('a profile that is not loaded fails create, naming it', async (c) => {
  const { result } = await c.tryCreate(c.bundle([base, withProfile('runts-no-such-profile')]));
  assertFails(result, 'runts-no-such-profile');
  await c.assertNothingLeft();
});
