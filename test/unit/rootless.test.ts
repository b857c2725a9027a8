// Tests for the rootless decisions, on fake hosts: src/rootless/detect.ts,
// src/rootless/idmap.ts and src/cgroups/placement.ts (the real thing runs as
// an unprivileged user in test/integration/rootless.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cgroupPlacement } from '../../src/cgroups/placement.ts';
import type { CgroupLayout } from '../../src/cgroups/layout.ts';
import { isRuntsError } from '../../src/errors.ts';
import { defaultStateRoot, hostUid, inInitialUserNamespace, isRootless } from '../../src/rootless/detect.ts';
import { checkMappedIds, idMapSteps, subIdRanges, type IdMapHost } from '../../src/rootless/idmap.ts';
import { validateSpec } from '../../src/oci/validate.ts';
import { compileCgroup } from '../../src/plan/compile-cgroup.ts';
import { fakeHost } from '../lib/fake-host.ts';

const INITIAL = '         0          0 4294967295\n';

test('rootless: a non-zero euid, or root of a user namespace; not root of the initial one', () => {
  assert.equal(inInitialUserNamespace(INITIAL), true);
  assert.equal(isRootless(0, INITIAL), false);
  assert.equal(isRootless(1000, INITIAL), true);
  assert.equal(isRootless(0, '0 1000 1\n'), true);
});

test('state: /run/runts for root, $XDG_RUNTIME_DIR/runts for a user (and for root of a user namespace), an error naming both ways out without it', () => {
  assert.equal(defaultStateRoot({}, 0, INITIAL), '/run/runts');
  assert.equal(defaultStateRoot({ XDG_RUNTIME_DIR: '/run/user/0', USER: 'root' }, 0, INITIAL), '/run/runts');
  // root of a user namespace (under rootless podman): the user's directory, unless $USER is root
  assert.equal(defaultStateRoot({ XDG_RUNTIME_DIR: '/run/user/1000', USER: 'alice' }, 0, '0 1000 1'), '/run/user/1000/runts');
  assert.equal(defaultStateRoot({ XDG_RUNTIME_DIR: '/run/user/1000', USER: 'root' }, 0, '0 1000 1'), '/run/runts');
  assert.equal(defaultStateRoot({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), '/run/user/1000/runts');
  assert.throws(() => defaultStateRoot({}, 1000), /XDG_RUNTIME_DIR is not set: .*--root DIR/);
});

test('subuid lines name the user by name or number; others and junk are ignored', () => {
  const text = 'alice:100000:65536\n1000:300000:10\nbob:165536:65536\n# comment\nalice:x:1\n';
  assert.deepEqual(subIdRanges(text, { name: 'alice', id: 1000 }), [{ start: 100000, count: 65536 }, { start: 300000, count: 10 }]);
  assert.deepEqual(subIdRanges(undefined, { name: 'alice', id: 1000 }), []);
});

const host = (over: Partial<IdMapHost> = {}): IdMapHost => ({
  euid: 1000, egid: 1000, userName: 'alice',
  subuid: 'alice:100000:65536\n', subgid: 'alice:100000:65536\n',
  newuidmap: '/usr/bin/newuidmap', newgidmap: '/usr/bin/newgidmap', ...over,
});
const own = [{ containerID: 0, hostID: 1000, size: 1 }];
const range = [...own, { containerID: 1, hostID: 100000, size: 65536 }];

test('id maps: root writes both files itself', () => {
  assert.deepEqual(idMapSteps(range, range, [], host({ euid: 0, egid: 0 })).map((s) => s.op), ['STEP_WRITE_ID_MAP', 'STEP_WRITE_ID_MAP']);
});

test('id maps: a user mapping its own ids writes them itself, setgroups denied before the gid map', () => {
  assert.deepEqual(idMapSteps(own, own, [], host()).map((s) => s.op), ['STEP_WRITE_ID_MAP', 'STEP_DENY_SETGROUPS', 'STEP_WRITE_ID_MAP']);
  assert.throws(() => idMapSteps(own, own, [5], host()), (e) => isRuntsError(e, 'EINVAL_CONFIG') && /process.user.additionalGids: .*deny setgroups/.test(e.message));
});

test('id maps: a range goes through newuidmap/newgidmap with pid-less triples', () => {
  const plan = idMapSteps(range, range, [5], host());
  assert.deepEqual(plan.map((s) => s.op), ['STEP_ID_MAP_TOOL', 'STEP_ID_MAP_TOOL']);
  assert.deepEqual(plan[0]!.values, [{ kind: 'str', value: '/usr/bin/newuidmap' }, { kind: 'strs', value: ['0', '1000', '1', '1', '100000', '65536'] }]);
  assert.equal((plan[1]!.values[0]!.value as string), '/usr/bin/newgidmap');
});

test('id maps: a range the user was not given, no ranges at all, or no newuidmap: each one precise error', () => {
  const beyond = [{ containerID: 0, hostID: 100000, size: 65537 }];
  assert.throws(() => idMapSteps(beyond, own, [], host()), /linux.uidMappings: maps host uids 100000-165536, which uid 1000 \(alice\) may not map: .*\/etc\/subuid gives it \(it gives 100000-165535\)/);
  assert.throws(() => idMapSteps(own, range, [], host({ subgid: '' })), /linux.gidMappings: maps host gids 100000-165535, .*it gives none.*usermod --add-subgids/);
  assert.throws(() => idMapSteps(range, own, [], host({ newuidmap: undefined })), (e) => isRuntsError(e, 'ENOTSUP') && /needs newuidmap .*uidmap/.test(e.message));
});

test('ids the container names must be mapped: its user, its groups, uid=/gid= mount options', () => {
  const one = [{ containerID: 0, hostID: 1000, size: 1 }];
  assert.doesNotThrow(() => checkMappedIds({ process: { user: { uid: 0, gid: 0 } }, mounts: [{ options: ['mode=0620'] }] }, one, one));
  assert.throws(() => checkMappedIds({ process: { user: { uid: 1000, gid: 0 } } }, one, one), /process.user.uid: uid 1000 is not mapped in the container's user namespace \(linux.uidMappings maps 0\)/);
  assert.throws(() => checkMappedIds({ process: { user: { uid: 0, gid: 0, additionalGids: [5] } } }, one, one), /process.user.additionalGids\[0\]: gid 5 is not mapped/);
  assert.throws(() => checkMappedIds({ mounts: [{}, { options: ['newinstance', 'gid=5'] }] }, range, range.map((m) => ({ ...m, size: 1 }))), /mounts\[1\].options \(gid=5\): gid 5 is not mapped .*maps 0, 1\)/);
});

const v1: CgroupLayout = { mode: 1, hierarchies: [
  { mountPoint: '/sys/fs/cgroup/memory', controllers: ['memory'], version: 1, ownPath: '/user.slice' },
  { mountPoint: '/sys/fs/cgroup/unified', controllers: ['cgroup2'], version: 2, ownPath: '/user.slice/u.scope' },
] };
const v2: CgroupLayout = { mode: 2, hierarchies: [{ mountPoint: '/sys/fs/cgroup', controllers: ['cgroup2'], version: 2, ownPath: '/user.slice/user@1000.service/app.slice/x.scope' }] };
const memory = [{ controller: '', file: 'memory.max', value: '1000', field: 'linux.resources.memory.limit' }];
const devices = [{ controller: 'devices', file: 'devices.deny', value: 'a', field: 'linux.resources.devices' }];
const base = { id: 'c1', cgroupsPath: undefined, rootless: true, uid: 1000, writable: () => false, read: () => '' };

test('cgroups as root: a directory in every hierarchy, as before', () => {
  const p = cgroupPlacement({ ...base, layout: v1, writes: memory, rootless: false });
  assert.deepEqual(p.dirs, ['/sys/fs/cgroup/memory/runts/c1', '/sys/fs/cgroup/unified/runts/c1']);
});

test('cgroups rootless on v1: none, device rules dropped, and limits or a cgroupsPath are one precise error', () => {
  const p = cgroupPlacement({ ...base, layout: v1, writes: devices });
  assert.deepEqual([p.dirs, p.writes], [[], []]);
  assert.equal(p.dirOf(v1.hierarchies[0]!), '/sys/fs/cgroup/memory/user.slice');
  assert.throws(() => cgroupPlacement({ ...base, layout: v1, writes: memory }), (e) => isRuntsError(e, 'ECGROUP') && /linux.resources.memory.limit: needs a cgroup .*uid 1000 \(rootless\).*cgroup v1 \(a hybrid host\).*Delegate=yes/.test(e.message));
  assert.throws(() => cgroupPlacement({ ...base, layout: v1, writes: [], cgroupsPath: '/mine' }), /linux.cgroupsPath \(\/mine\): needs a cgroup/);
});

test('cgroups rootless on v2: a sibling of its own cgroup when delegated, none (or the error) when not', () => {
  const delegated = (p: string) => p.startsWith('/sys/fs/cgroup/user.slice/user@1000.service');
  const read = () => 'memory pids';
  const p = cgroupPlacement({ ...base, layout: v2, writes: [...memory, ...devices], writable: delegated, read });
  assert.deepEqual(p.dirs, ['/sys/fs/cgroup/user.slice/user@1000.service/app.slice/runts-c1']);
  assert.deepEqual([p.top, p.controllers, p.writes], ['/sys/fs/cgroup/user.slice/user@1000.service/app.slice', ['memory'], memory]);
  assert.deepEqual(cgroupPlacement({ ...base, layout: v2, writes: devices, writable: () => false, read }).dirs, []);
  assert.throws(() => cgroupPlacement({ ...base, layout: v2, writes: memory, writable: () => false, read }),
    /linux.resources.memory.limit: needs a cgroup of the container's own, \/sys\/fs\/cgroup\/.*runts-c1, and uid 1000 \(rootless\) may not write \/sys\/fs\/cgroup\/.*app.slice: that cgroup v2 subtree is not delegated/);
  assert.throws(() => cgroupPlacement({ ...base, layout: v2, writes: memory, writable: delegated, read: () => 'pids' }),
    /linux.resources.memory.limit: needs the memory controller, which the delegated cgroup .*app.slice does not offer \(its cgroup.controllers: pids\)/);
});

test('in a user namespace, the uid a refusal names is the host\'s (the front end runs as root of one)', () => {
  assert.equal(hostUid(0, '         0       1000          1\n         1     100000      65536\n'), 1000);
  assert.equal(hostUid(5, '         0       1000          1\n         1     100000      65536\n'), 100004);
  assert.equal(hostUid(1000, '         0          0 4294967295\n'), 1000);
  const spec = validateSpec({ ociVersion: '1.2.0', root: { path: '/r' }, process: { args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 } }, linux: { namespaces: [{ type: 'mount' }], resources: { memory: { limit: 1 << 24 } } } });
  assert.throws(() => compileCgroup(spec, fakeHost('hybrid', { euid: 0, hostUid: 1000, rootless: true }), { id: 'c', warn: () => {} }), /uid 1000 \(rootless\)/);
});
