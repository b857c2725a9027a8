// The plan compiler: the order of steps is where the kernel's rules and the
// security lessons live, so the tests pin the order, not just the contents.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { validateSpec } from '../../src/oci/validate.ts';
import type { Spec } from '../../src/oci/types.ts';
import { compile, type PlanContext } from '../../src/plan/compile.ts';
import { encodePlan } from '../../src/protocol/encode.ts';
import { explainPlan } from '../../src/plan/explain.ts';
import { probePaths } from '../../src/plan/host.ts';
import { RUNTS_PLAN_MAGIC, STEP } from '../../src/protocol/protocol.ts';
import type { Step } from '../../src/protocol/steps.ts';
import { fakeHost } from '../lib/fake-host.ts';

const bundle = mkdtempSync(join(tmpdir(), 'runts-plan-'));
mkdirSync(join(bundle, 'rootfs'));
after(() => rmSync(bundle, { recursive: true, force: true }));

const warnings: string[] = [];
const ctx: PlanContext = {
  id: 't',
  bundle,
  stateDir: '/run/runts/t',
  fifoPath: '/run/runts/t/exec.fifo',
  warn: (m) => warnings.push(m),
};

/** The executor's steps for a config, on a made-up cgroup v2 host (the bundle's paths are real). */
const compilePlan = (s: Spec, c: PlanContext = ctx) => compile(s, fakeHost('v2', { paths: probePaths(s, bundle) }), c).steps;

function spec(extra: Record<string, unknown> = {}, linux: Record<string, unknown> = {}) {
  return validateSpec({
    ociVersion: '1.2.0',
    root: { path: 'rootfs', readonly: true },
    process: { args: ['/bin/sh'], cwd: '/', env: ['PATH=/bin'], user: { uid: 1000, gid: 1000 }, capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] }, noNewPrivileges: true },
    hostname: 'box',
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'cgroup' }], maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'], ...linux },
    ...extra,
  });
}

const ops = (plan: Step[]) => plan.map((s) => s.op);
const indexOf = (plan: Step[], op: keyof typeof STEP) => {
  const i = ops(plan).indexOf(op);
  assert.ok(i >= 0, `${op} is in the plan`);
  return i;
};

test('namespaces are created by one clone; the cgroup namespace after cgroup placement', () => {
  const plan = compilePlan(spec(), ctx);
  const clone = plan[indexOf(plan, 'STEP_CLONE')]!;
  assert.equal(clone.values[0]!.value, BigInt(0x20000000 | 0x00020000 | 0x04000000));
  assert.ok(indexOf(plan, 'STEP_CGROUP_ADD') < indexOf(plan, 'STEP_UNSHARE'));
});

// A deliberate difference from runc (docs/design/security.md, "A mount
// namespace, always"): runtime-tools' linux_ns_itype runs without one.
test('a config without a mount namespace is refused, naming the field (runc would mount into the host\'s tree)', () => {
  assert.throws(() => compilePlan(spec({}, { namespaces: [{ type: 'pid' }, { type: 'uts' }] })), {
    code: 'EINVAL_CONFIG',
    message: 'linux.namespaces: a mount namespace is required (runts never mounts into the host\'s)',
  });
});

test('mounts before pivot_root, masks and read-only paths after it', () => {
  const plan = compilePlan(spec(), ctx);
  const pivot = indexOf(plan, 'STEP_PIVOT_ROOT');
  assert.ok(indexOf(plan, 'STEP_MOUNT') < pivot);
  assert.ok(indexOf(plan, 'STEP_MKNOD') < pivot);
  assert.ok(indexOf(plan, 'STEP_MASK_PATH') > pivot);
  assert.ok(indexOf(plan, 'STEP_READONLY_PATH') > pivot);
  assert.ok(indexOf(plan, 'STEP_REMOUNT_ROOT_RO') > indexOf(plan, 'STEP_READONLY_PATH'));
});

test('stdio on the host\'s /dev/null is reopened on the container\'s, right after the root switch, when runts makes /dev', () => {
  const plan = compilePlan(spec(), ctx);
  assert.equal(indexOf(plan, 'STEP_REOPEN_DEV_NULL'), indexOf(plan, 'STEP_PIVOT_ROOT') + 1);
  const boundDev = spec({ mounts: [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }] });
  assert.ok(!ops(compilePlan(boundDev, ctx)).includes('STEP_REOPEN_DEV_NULL'), 'a /dev bound from the host keeps its own null');
});

test('privileges: bounding set while root, user switch, then the final sets, then no_new_privs', () => {
  const plan = compilePlan(spec(), ctx);
  const order = ['STEP_SETRLIMIT', 'STEP_CAP_BOUNDING', 'STEP_SET_USER', 'STEP_SET_CAPS', 'STEP_NO_NEW_PRIVS', 'STEP_PREPARE_EXEC', 'STEP_CLOSE_FDS', 'STEP_REPORT_CREATED', 'STEP_WAIT_START', 'STEP_EXEC'] as const;
  const positions = order.filter((op) => ops(plan).includes(op)).map((op) => indexOf(plan, op));
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
  // cd twice, as runc: as root before the bounding set, then as the user (only if root was refused)
  const cds = plan.flatMap((s, i) => (s.op === 'STEP_CHDIR' ? [{ i, early: s.values[1]!.value }] : []));
  assert.deepEqual(cds.map((c) => c.early), [1n, 0n]);
  assert.ok(cds[0]!.i < indexOf(plan, 'STEP_CAP_BOUNDING') && cds[1]!.i > indexOf(plan, 'STEP_NO_NEW_PRIVS'));
  assert.equal(plan.at(-1)!.op, 'STEP_EXEC');
});

test('capability masks carry exactly the named bits', () => {
  const plan = compilePlan(spec(), ctx);
  const caps = plan[indexOf(plan, 'STEP_SET_CAPS')]!.values.map((v) => v.value);
  assert.deepEqual(caps, [1n << 5n, 1n << 5n, 0n, 0n]);
});

test('a user namespace gets id maps written by the parent and bind-mounted devices', () => {
  const plan = compilePlan(spec({ hostname: undefined }, {
    namespaces: [{ type: 'mount' }, { type: 'user' }],
    uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
  }), ctx);
  const maps = plan.filter((s) => s.op === 'STEP_WRITE_ID_MAP');
  assert.deepEqual(maps.map((s) => s.actor), ['parent', 'parent']);
  assert.equal(maps[0]!.values[1]!.value, '0 100000 65536\n');
  assert.ok(!ops(plan).includes('STEP_MKNOD'));
  assert.ok(ops(plan).includes('STEP_BIND_DEVICE'));
  assert.ok(indexOf(plan, 'STEP_BECOME_ROOT') < indexOf(plan, 'STEP_ROOTFS'));
});

test('a sysctl is written through /proc/sys while INIT is in its namespaces', () => {
  const plan = compilePlan(spec({ hostname: undefined }, { namespaces: [{ type: 'mount' }, { type: 'network' }], sysctl: { 'net.ipv4.ip_forward': '1' } }), ctx);
  const write = plan[indexOf(plan, 'STEP_WRITE_PROC')]!;
  assert.deepEqual(write.values.map((v) => v.value), ['/proc/sys/net/ipv4/ip_forward', '1']);
  assert.ok(indexOf(plan, 'STEP_WRITE_PROC') < indexOf(plan, 'STEP_PIVOT_ROOT'));
});

test('a missing rootfs is named', () => {
  assert.throws(() => compilePlan(spec({ root: { path: 'nope' } }), ctx), /root\.path: .*nope: no such directory/);
});

test('the encoded plan starts with the magic and holds every step', () => {
  const plan = compilePlan(spec(), ctx);
  const bytes = encodePlan(plan);
  assert.equal(bytes.readUInt32LE(0), RUNTS_PLAN_MAGIC);
  assert.equal(bytes.readUInt32LE(8), plan.length);
  let off = 16;
  for (const s of plan) {
    assert.equal(bytes.readUInt32LE(off), STEP[s.op]);
    off += 8 + bytes.readUInt32LE(off + 4);
  }
  assert.equal(off, bytes.length);
});

test('explain numbers the steps and names who runs them', () => {
  const text = explainPlan(compile(spec(), fakeHost('v2', { paths: probePaths(spec(), bundle) }), ctx));
  assert.match(text, /^runts  \(on the host\)  before runts-init starts\n/);
  assert.match(text, /runts:\[0:PARENT\]/);
  assert.match(text, /runts:\[1:INIT\]/);
  assert.match(text, /\d+\. pivot_root into the root/);
  assert.match(text, /hostname box/);
});

test('INIT joins a session keyring of its own before any filter or user switch; --no-new-keyring keeps the caller\'s', () => {
  const plan = compilePlan(spec({}, { seccomp: { defaultAction: 'SCMP_ACT_ALLOW' } }), ctx);
  const keyring = plan[indexOf(plan, 'STEP_SESSION_KEYRING')]!;
  assert.equal(keyring.actor, 'init');
  assert.equal(keyring.values[0]!.value, '_ses.t');
  assert.equal(keyring.values[1]!.value, 0x080d0000n);
  assert.ok(indexOf(plan, 'STEP_SESSION_KEYRING') < indexOf(plan, 'STEP_SET_USER'));
  assert.ok(indexOf(plan, 'STEP_SESSION_KEYRING') < indexOf(plan, 'STEP_SECCOMP'));
  const withoutNnp = compilePlan(spec({ process: { args: ['/bin/sh'], cwd: '/', user: { uid: 0, gid: 0 }, noNewPrivileges: false } }, { seccomp: { defaultAction: 'SCMP_ACT_ALLOW' } }), ctx);
  assert.ok(indexOf(withoutNnp, 'STEP_SESSION_KEYRING') < indexOf(withoutNnp, 'STEP_SECCOMP'), 'before an early filter too');
  assert.ok(!ops(compilePlan(spec(), { ...ctx, noNewKeyring: true })).includes('STEP_SESSION_KEYRING'));
});

test('an idmapped mount: PARENT builds the tree before clone, INIT attaches it in the mount\'s place', () => {
  const src = join(bundle, 'vol');
  mkdirSync(src, { recursive: true });
  const idmapped = { destination: '/data', type: 'bind', source: src, options: ['rbind', 'ro', 'ridmap'], uidMappings: [{ containerID: 0, hostID: 1000, size: 10 }], gidMappings: [{ containerID: 0, hostID: 2000, size: 10 }] };
  const plan = compilePlan(spec({ mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, idmapped] }), ctx);
  const tree = plan[indexOf(plan, 'STEP_IDMAP_TREE')]!;
  assert.ok(indexOf(plan, 'STEP_IDMAP_TREE') < indexOf(plan, 'STEP_CLONE'));
  // slot, source, recursive (clone submounts | idmap them), maps, MOUNT_ATTR_RDONLY
  assert.deepEqual(tree.values.map((v) => v.value), [3n, src, 3n, '0 1000 10\n', '0 2000 10\n', 1n, 0n]);
  const attach = indexOf(plan, 'STEP_MOUNT_TREE');
  assert.ok(indexOf(plan, 'STEP_MOUNT') < attach && attach < indexOf(plan, 'STEP_PIVOT_ROOT'));
  assert.deepEqual(plan[attach]!.values.map((v) => v.value), [3n, '/data', 1n]);
});

test('"idmap" without mappings takes the container\'s user namespace maps, and needs one', () => {
  const src = join(bundle, 'vol');
  mkdirSync(src, { recursive: true });
  const mounts = [{ destination: '/data', type: 'bind', source: src, options: ['bind', 'idmap'] }];
  const userns = { namespaces: [{ type: 'mount' }, { type: 'user' }], uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }] };
  const plan = compilePlan(spec({ mounts, hostname: undefined }, userns), ctx);
  const tree = plan[indexOf(plan, 'STEP_IDMAP_TREE')]!;
  assert.deepEqual(tree.values.slice(2, 5).map((v) => v.value), [0n, '0 100000 65536\n', '0 200000 65536\n']);
  assert.throws(() => compilePlan(spec({ mounts }), ctx), /mounts\[0\]\.options: "idmap" without uidMappings and gidMappings needs a new user namespace/);
  const half = [{ ...mounts[0], uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }];
  assert.throws(() => compilePlan(spec({ mounts: half }), ctx), /mounts\[0\]\.gidMappings: required with uidMappings/);
  const tmpfs = [{ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['idmap'] }];
  assert.throws(() => compilePlan(spec({ mounts: tmpfs, hostname: undefined }, userns), ctx), /mounts\[0\]: only a bind mount can be idmapped/);
});

test('a time namespace is unshared by PARENT before clone, with the offsets, and is not a clone flag', () => {
  const plan = compilePlan(spec({}, { namespaces: [{ type: 'mount' }, { type: 'uts' }, { type: 'time' }], timeOffsets: { boottime: { secs: 100 }, monotonic: { secs: -5, nanosecs: 7 } } }), ctx);
  const time = indexOf(plan, 'STEP_UNSHARE_TIME');
  assert.ok(time < indexOf(plan, 'STEP_CLONE'));
  assert.equal(plan[time]!.values[0]!.value, 'boottime 100 0\nmonotonic -5 7\n');
  assert.equal(plan[indexOf(plan, 'STEP_CLONE')]!.values[0]!.value, BigInt(0x00020000 | 0x04000000));
});

test('tmpcopyup: INIT holds the directory, mounts the tmpfs, copies into it; the option never reaches the kernel', () => {
  const src = join(bundle, 'vol');
  mkdirSync(src, { recursive: true });
  const idmapped = { destination: '/vol', type: 'bind', source: src, options: ['bind'], uidMappings: [{ containerID: 0, hostID: 1000, size: 10 }], gidMappings: [{ containerID: 0, hostID: 2000, size: 10 }] };
  const copied = { destination: '/etc', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'tmpcopyup', 'size=1m'] };
  const plan = compilePlan(spec({ mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, idmapped, copied, { ...copied, destination: '/run' }] }), ctx);
  const hold = indexOf(plan, 'STEP_HOLD_DIR');
  const [mount, copy] = [hold + 1, hold + 2];
  assert.deepEqual([plan[mount]!.op, plan[copy]!.op], ['STEP_MOUNT', 'STEP_COPY_UP']);
  // source, target, fstype, flags (MS_NOSUID), data, create (a directory), bind
  assert.deepEqual(plan[mount]!.values.map((v) => v.value), ['tmpfs', '/etc', 'tmpfs', 2n, 'size=1m', 1n, 0n]);
  // one slot, not the idmapped tree's, serves both copies
  const slot = plan[hold]!.values[0]!.value;
  assert.notEqual(slot, plan[indexOf(plan, 'STEP_IDMAP_TREE')]!.values[0]!.value);
  assert.deepEqual(plan.filter((s) => s.op === 'STEP_HOLD_DIR' || s.op === 'STEP_COPY_UP').map((s) => s.values.map((v) => v.value)),
    [[slot, '/etc'], [slot, '/etc', 1n, 1n], [slot, '/run'], [slot, '/run', 1n, 1n]]);
  // a mode= of the config's is the tmpfs root's, not the covered directory's
  const moded = compilePlan(spec({ mounts: [{ ...copied, options: ['tmpcopyup', 'mode=700'] }] }), ctx);
  assert.deepEqual(moded[indexOf(moded, 'STEP_COPY_UP')]!.values.map((v) => v.value), [slot, '/etc', 0n, 1n]);
  // errors of each step name the mount
  assert.deepEqual([plan[hold]!.where, plan[mount]!.where, plan[copy]!.where], ['mounts[2]', 'mounts[2]', 'mounts[2]']);
  const alone = spec({ mounts: [copied] });
  assert.match(explainPlan(compile(alone, fakeHost('v2', { paths: probePaths(alone, bundle) }), ctx)), /open \/etc \(slot \d+\) before a tmpfs covers it[^\n]*\n[^\n]*mount -t tmpfs tmpfs \/etc -o nosuid,size=1m[^\n]*\n[^\n]*copy what \/etc held/);
});

test('a tmpfs without mode= takes the mode of the directory it covers (runc\'s rule); with mode=, nothing is held', () => {
  const plain = { destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'ro'] };
  const plan = compilePlan(spec({ mounts: [plain, { ...plain, destination: '/moded', options: ['mode=700'] }] }), ctx);
  const held = plan.filter((s) => s.op === 'STEP_HOLD_DIR' || s.op === 'STEP_COPY_UP');
  const slot = held[0]!.values[0]!.value;
  // root mode 1, copy 0; the mount with mode= holds nothing
  assert.deepEqual(held.map((s) => s.values.map((v) => v.value)), [[slot, '/data'], [slot, '/data', 1n, 0n]]);
  assert.match(held[1]!.text, /^the tmpfs's root takes the mode \/data had \(slot \d+\)$/);
  // read-only: mounted writable (MS_NOSUID alone) for the chmod, then remounted read-only
  const copy = indexOf(plan, 'STEP_COPY_UP');
  assert.equal(plan[copy - 1]!.values[3]!.value, 2n);
  assert.match(plan[copy + 1]!.text, /^mount \/data -o remount,nosuid,ro$/);
});

test('tmpcopyup with "ro": the tmpfs is mounted writable, filled, then made read-only', () => {
  const plan = compilePlan(spec({ mounts: [{ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nodev', 'tmpcopyup'] }] }), ctx);
  const copy = indexOf(plan, 'STEP_COPY_UP');
  assert.equal(plan[copy - 1]!.values[3]!.value, 4n, 'MS_NODEV alone');
  const remount = plan[copy + 1]!;
  assert.equal(remount.op, 'STEP_MOUNT');
  // MS_RDONLY | MS_NODEV | MS_REMOUNT | MS_BIND, nothing to create
  assert.deepEqual(remount.values.map((v) => v.value), ['', '/data', '', 0x1n | 0x4n | 0x20n | 0x1000n, '', 0n, 0n]);
  assert.match(remount.text, /^mount \/data -o remount,ro,nodev$/);
});

test('tmpcopyup only on a tmpfs, and never on "/", naming the option', () => {
  const refused = (m: Record<string, unknown>) => () => compilePlan(spec({ mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, m] }), ctx);
  assert.throws(refused({ destination: '/mnt', type: 'bind', source: bundle, options: ['rbind', 'tmpcopyup'] }),
    /^RuntsError: mounts\[1\]\.options\[1\]: "tmpcopyup" applies only to a tmpfs mount, and this one is a bind mount$/);
  assert.throws(refused({ destination: '/mnt', type: 'mqueue', source: 'mqueue', options: ['tmpcopyup'] }),
    /^RuntsError: mounts\[1\]\.options\[0\]: "tmpcopyup" applies only to a tmpfs mount, and this one is of type "mqueue"$/);
  assert.throws(refused({ destination: '/', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] }),
    /^RuntsError: mounts\[1\]\.options\[0\]: "tmpcopyup" cannot copy up the root/);
});
