// The compiler against made-up hosts (test/lib/fake-host.ts): what the
// host offers changes the plan, and the plan shows the cgroup writes and the
// device program. No root, no cgroups touched.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isRuntsError } from '../../src/errors.ts';
import type { Spec } from '../../src/oci/types.ts';
import { validateSpec } from '../../src/oci/validate.ts';
import { compile, type PlanContext } from '../../src/plan/compile.ts';
import { explainPlan } from '../../src/plan/explain.ts';
import { probePaths, type HostFacts } from '../../src/plan/host.ts';
import { fakeHost, type HostShape } from '../lib/fake-host.ts';

const bundle = mkdtempSync(join(tmpdir(), 'runts-plan-host-'));
mkdirSync(join(bundle, 'rootfs'));
after(() => rmSync(bundle, { recursive: true, force: true }));

const ctx: PlanContext = { id: 'c1', bundle, stateDir: '/run/runts/c1', fifoPath: '/run/runts/c1/exec.fifo', warn: () => {} };

function spec(linux: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Spec {
  return validateSpec({
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['/bin/sh'], cwd: '/', user: { uid: 0, gid: 0 } },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], ...linux },
    ...extra,
  });
}

/** memory, pids and one device allowed besides the defaults */
const LIMITS = {
  resources: {
    memory: { limit: 33554432 },
    pids: { limit: 32 },
    devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }],
  },
};

const plan = (s: Spec, host: HostFacts | HostShape, c: PlanContext = ctx) =>
  compile(s, typeof host === 'string' ? fakeHost(host, { paths: probePaths(s, bundle) }) : { ...host, paths: probePaths(s, bundle) }, c);
/** runts's own part of `runts plan`: the lines before the executor's. */
const runtsPart = (text: string) => text.slice(0, text.indexOf('runts:[0:PARENT]'));

test('cgroup v2: one directory, the limits as v2 files, the device program as the executor\'s first step', () => {
  const p = plan(spec(LIMITS), 'v2');
  assert.deepEqual(p.cgroup.dirs, ['/sys/fs/cgroup/runts/c1']);
  assert.deepEqual(p.cgroup.writes.map((w) => [w.path, w.value]), [
    ['/sys/fs/cgroup/runts/c1/memory.max', '33554432'],
    ['/sys/fs/cgroup/runts/c1/pids.max', '32'],
  ]);
  assert.equal(p.steps[0]!.op, 'STEP_CGROUP_DEVICE_FILTER');
  assert.deepEqual(p.steps.filter((s) => s.op === 'STEP_CGROUP_ADD').map((s) => s.values[0]!.value), ['/sys/fs/cgroup/runts/c1/cgroup.procs']);
  assert.equal(runtsPart(explainPlan(p)), `runts  (on the host)  before runts-init starts
  - mkdir -p /sys/fs/cgroup/runts/c1
  - enable cpuset cpu io memory hugetlb pids rdma misc in cgroup.subtree_control on the way down
  - echo "33554432" > /sys/fs/cgroup/runts/c1/memory.max  (linux.resources.memory.limit)
  - echo "32" > /sys/fs/cgroup/runts/c1/pids.max  (linux.resources.pids.limit)
  - the rules of the device program (step 1): the last that matches decides, none matching denies
      deny a *:* rwm
      allow c 10:200 rwm
      allow c *:* m
      allow b *:* m
      allow c 1:3 rwm
      allow c 1:8 rwm
      allow c 1:7 rwm
      allow c 5:0 rwm
      allow c 1:5 rwm
      allow c 1:9 rwm
      allow c 5:1 rwm
      allow c 136:* rwm
      allow c 5:2 rwm
      allow c 10:200 rwm
`);
  assert.match(explainPlan(p), /\n   1\. attach a device program to \/sys\/fs\/cgroup\/runts\/c1 \(14 rules, \d+ eBPF instructions\)\n/);
});

test('cgroup v1: a directory per hierarchy, the limits as v1 files, the device rules as devices.deny and devices.allow writes', () => {
  const p = plan(spec(LIMITS), 'v1');
  assert.equal(p.cgroup.dirs.length, 7);
  assert.ok(!p.steps.some((s) => s.op === 'STEP_CGROUP_DEVICE_FILTER'));
  assert.equal(p.steps.filter((s) => s.op === 'STEP_CGROUP_ADD').length, 7);
  const text = runtsPart(explainPlan(p));
  assert.equal(text.split('\n').slice(0, 11).join('\n'), `runts  (on the host)  before runts-init starts
  - mkdir -p /sys/fs/cgroup/cpu,cpuacct/runts/c1
  - mkdir -p /sys/fs/cgroup/cpuset/runts/c1
  - mkdir -p /sys/fs/cgroup/memory/runts/c1
  - mkdir -p /sys/fs/cgroup/devices/runts/c1
  - mkdir -p /sys/fs/cgroup/freezer/runts/c1
  - mkdir -p /sys/fs/cgroup/pids/runts/c1
  - mkdir -p /sys/fs/cgroup/systemd/runts/c1
  - echo "33554432" > /sys/fs/cgroup/memory/runts/c1/memory.limit_in_bytes  (linux.resources.memory.limit)
  - echo "32" > /sys/fs/cgroup/pids/runts/c1/pids.max  (linux.resources.pids.limit)
  - echo "a" > /sys/fs/cgroup/devices/runts/c1/devices.deny  (linux.resources.devices)`);
  const devices = p.cgroup.writes.filter((w) => w.field === 'linux.resources.devices').map((w) => `${w.file} ${w.value}`);
  assert.deepEqual(devices.slice(0, 3), ['devices.deny a', 'devices.deny a *:* rwm', 'devices.allow c 10:200 rwm']);
  assert.equal(devices.length, 15);
});

test('a hybrid host is driven through v1; its controller-less cgroup2 gets a directory and INIT too', () => {
  const p = plan(spec(LIMITS), 'hybrid');
  assert.equal(p.cgroup.version, 1);
  assert.ok(p.cgroup.dirs.includes('/sys/fs/cgroup/unified/runts/c1'));
  assert.ok(!p.steps.some((s) => s.op === 'STEP_CGROUP_DEVICE_FILTER'));
  assert.ok(p.cgroup.writes.some((w) => w.path === '/sys/fs/cgroup/memory/runts/c1/memory.limit_in_bytes'));
  // a "cgroup" mount shows every hierarchy, the unified one as "unified"
  const s = spec({ namespaces: [{ type: 'mount' }] }, { mounts: [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro'] }] });
  const texts = plan(s, 'hybrid').steps.map((x) => x.text);
  assert.ok(texts.some((t) => t.startsWith('mount --bind /sys/fs/cgroup/unified/runts/c1 /sys/fs/cgroup/unified')));
});

test('what a host lacks is refused at compile, naming the field: a v1 controller, a v2 controller, a memsw file', () => {
  const noPids = fakeHost('v2');
  noPids.cgroup.controllers = noPids.cgroup.controllers.filter((c) => c !== 'pids');
  assert.throws(() => plan(spec(LIMITS), noPids), (e) => isRuntsError(e, 'ENOTSUP') && /^linux\.resources\.pids\.limit: the host's cgroup v2 has no pids controller/.test(e.message));
  const noSwap = fakeHost('v1');
  noSwap.cgroup.rootFiles['/sys/fs/cgroup/memory'] = ['memory.limit_in_bytes'];
  assert.throws(() => plan(spec({ resources: { memory: { limit: 1 << 25, swap: 1 << 26 } } }), noSwap), /linux\.resources\.memory\.swap: not supported by this kernel \(no memory\/memory\.memsw\.limit_in_bytes\)/);
  assert.throws(() => plan(spec({ resources: { cpu: { cpus: '0-7' } } }), 'v2'), /linux\.resources\.cpu\.cpus: 4,5,6,7 not on this host \(it has 0,1,2,3\)/);
});

test('no user namespaces on the host: a config that makes one is refused; one that does not is planned as before', () => {
  const host = fakeHost('v2', { userNamespaces: false });
  const userns = spec({ namespaces: [{ type: 'mount' }, { type: 'user' }], uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] });
  assert.throws(() => plan(userns, host), (e) => isRuntsError(e, 'ENOTSUP') && /^linux\.namespaces: a new user namespace asked for, but this host allows none/.test(e.message));
  assert.deepEqual(plan(spec(), host).steps.map((s) => s.op), plan(spec(), 'v2').steps.map((s) => s.op));
  const noTime = fakeHost('v2', { namespaces: ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts'] });
  assert.throws(() => plan(spec({ namespaces: [{ type: 'mount' }, { type: 'time' }] }), noTime), /linux\.namespaces: a time namespace asked for, but this kernel has none \(no \/proc\/self\/ns\/time\)/);
});

test('AppArmor on: the profile is opened and written; off: asking for one is refused', () => {
  const s = spec({}, { process: { args: ['/bin/sh'], cwd: '/', user: { uid: 0, gid: 0 }, apparmorProfile: 'runts-default' } });
  const on = plan(s, fakeHost('v2', { lsms: { apparmor: true, selinux: false } })).steps.map((x) => x.op);
  assert.ok(on.includes('STEP_LSM_OPEN_ATTR') && on.includes('STEP_LSM_WRITE_ATTR'));
  assert.throws(() => plan(s, 'v2'), /process\.apparmorProfile: "runts-default" asked for, but AppArmor is not enabled/);
  assert.ok(!plan(spec(), fakeHost('v2', { lsms: { apparmor: true, selinux: false } })).steps.some((x) => x.op === 'STEP_LSM_OPEN_ATTR'));
});

test('rootless on v2 with a delegated subtree: a sibling cgroup, no device program; without delegation: no cgroup, and limits refused', () => {
  const own = { mountPoint: '/sys/fs/cgroup', controllers: ['cgroup2'], version: 2 as const, ownPath: '/user.slice/user-1000.slice/user@1000.service/app.slice/a.scope' };
  const base = fakeHost('v2', { euid: 1000, rootless: true });
  base.cgroup.layout = { mode: 2, hierarchies: [own] };
  const top = '/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice';
  const delegated = { ...base, cgroupAccess: { writable: { [top]: true, [`${top}/cgroup.procs`]: true }, files: { [`${top}/cgroup.controllers`]: 'memory pids' } } };
  const userns = { namespaces: [{ type: 'mount' }, { type: 'user' }], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] };
  const limited = spec({ ...userns, ...LIMITS });
  const p = plan(limited, delegated);
  assert.deepEqual(p.cgroup.dirs, [`${top}/runts-c1`]);
  assert.deepEqual(p.cgroup.controllers, ['memory', 'pids']);
  assert.ok(!p.steps.some((s) => s.op === 'STEP_CGROUP_DEVICE_FILTER'));
  assert.ok(!p.cgroup.writes.some((w) => w.field === 'linux.resources.devices'));
  const none = plan(spec(userns), base);
  assert.deepEqual(none.cgroup.dirs, []);
  assert.match(explainPlan(none), /- rootless: no cgroup of its own for c1/);
  assert.throws(() => plan(limited, base), /linux\.resources\.memory\.limit, linux\.resources\.pids\.limit: needs a cgroup of the container's own/);
});

test('the plan names the hooks runts runs itself, and the files it writes once created', () => {
  const s = spec({}, { hooks: { prestart: [{ path: '/bin/pre', args: ['pre', '-x'] }], poststop: [{ path: '/bin/post' }] } });
  const text = explainPlan(plan(s, 'v2', { ...ctx, pidFile: '/run/c1.pid' }));
  assert.match(text, /pause: runts runs the createRuntime hooks on the host\nrunts  \(on the host\)  while INIT waits\n  - run the prestart hook "\/bin\/pre" "-x"\n/);
  assert.match(text, /\nrunts:\[1:INIT\]  \(the future container process\)\n +\d+\. pivot_root/);
  assert.match(text, /runts  \(on the host\)  once INIT reports created\n  - write \/run\/runts\/c1\/state\.json, and the record of what the next verbs may do without Node\n  - write INIT's pid to \/run\/c1\.pid\n  - run the poststop hook "\/bin\/post" \(at delete\)\n$/);
});
