/*
 * AppArmor and SELinux labels (src/security/lsm.ts): refused clearly when the
 * host lacks the LSM, and placed in the plan where the kernel and the
 * runtime's safety need them. The real confinement is proven in a VM
 * (test/integration/apparmor.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isRuntsError } from '../../src/errors.ts';
import { validateSpec } from '../../src/oci/validate.ts';
import { compile } from '../../src/plan/compile.ts';
import { probePaths } from '../../src/plan/host.ts';
import { fakeHost } from '../lib/fake-host.ts';
import { lsmLabel, type HostLsms } from '../../src/security/lsm.ts';

const NONE: HostLsms = { apparmor: false, selinux: false };
const APPARMOR: HostLsms = { apparmor: true, selinux: false };
const SELINUX: HostLsms = { apparmor: false, selinux: true };
const proc = (extra: Record<string, unknown>) => ({ args: ['/bin/sh'], cwd: '/', user: { uid: 0, gid: 0 }, ...extra });

test('no label asked for: nothing to do, on any host', () => {
  assert.equal(lsmLabel(proc({}), undefined, NONE), undefined);
  assert.equal(lsmLabel(proc({ apparmorProfile: '' }), undefined, NONE), undefined);
});

test('an AppArmor profile becomes "exec <profile>", through the AppArmor attr file first', () => {
  assert.deepEqual(lsmLabel(proc({ apparmorProfile: 'runts-default' }), undefined, APPARMOR), {
    lsm: 'AppArmor', paths: ['/proc/self/attr/apparmor/exec', '/proc/self/attr/exec'], value: 'exec runts-default',
  });
});

test('an SELinux label is written as it is to /proc/self/attr/exec', () => {
  assert.deepEqual(lsmLabel(proc({ selinuxLabel: 'system_u:system_r:container_t:s0' }), undefined, SELINUX), {
    lsm: 'SELinux', paths: ['/proc/self/attr/exec'], value: 'system_u:system_r:container_t:s0',
  });
});

test('a label the host cannot apply is refused, naming the field', () => {
  assert.throws(() => lsmLabel(proc({ apparmorProfile: 'x' }), undefined, SELINUX),
    (e) => isRuntsError(e, 'ENOTSUP') && /^process\.apparmorProfile: "x" asked for, but AppArmor is not enabled/.test(e.message));
  assert.throws(() => lsmLabel(proc({ selinuxLabel: 'a:b:c:s0' }), undefined, APPARMOR),
    (e) => isRuntsError(e, 'ENOTSUP') && /^process\.selinuxLabel: .* SELinux is not enabled/.test(e.message));
  assert.throws(() => lsmLabel(proc({}), { mountLabel: 'a:b:c:s0' }, SELINUX), (e) => isRuntsError(e, 'ENOTSUP') && /^linux\.mountLabel: .*does not label mounts/.test(e.message));
});

test('a mount label without SELinux has nothing to label, and is ignored as runc does', () => {
  assert.equal(lsmLabel(proc({}), { mountLabel: 'a:b:c:s0' }, NONE), undefined);
});

const bundle = mkdtempSync(join(tmpdir(), 'runts-lsm-'));
mkdirSync(join(bundle, 'rootfs'));
after(() => rmSync(bundle, { recursive: true, force: true }));

function plan(host: HostLsms, noNewPrivileges = true) {
  const spec = validateSpec({
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: proc({ apparmorProfile: 'runts-default', noNewPrivileges, user: { uid: 1000, gid: 1000 } }),
    linux: { namespaces: [{ type: 'mount' }] },
  });
  return compile(spec, fakeHost('v2', { lsms: host, paths: probePaths(spec, bundle) }), { id: 't', bundle, stateDir: '/run/x', fifoPath: '/run/x/exec.fifo', warn: () => {} }).steps;
}

test('the attr file is opened before pivot_root and written before no_new_privs and the user switch', () => {
  const ops = plan(APPARMOR).map((s) => s.op);
  const at = (op: string) => ops.indexOf(op as (typeof ops)[number]);
  assert.ok(at('STEP_LSM_OPEN_ATTR') >= 0 && at('STEP_LSM_OPEN_ATTR') < at('STEP_PIVOT_ROOT'));
  assert.ok(at('STEP_LSM_WRITE_ATTR') > at('STEP_PIVOT_ROOT'));
  assert.ok(at('STEP_LSM_WRITE_ATTR') < at('STEP_SET_USER'));
  assert.ok(at('STEP_LSM_WRITE_ATTR') < at('STEP_NO_NEW_PRIVS'));
});

test('create refuses a profile on a host without AppArmor while compiling, before anything exists', () => {
  assert.throws(() => plan(NONE), (e) => isRuntsError(e, 'ENOTSUP') && /process\.apparmorProfile/.test(e.message));
});
