// runc 1.2 flags and fields decided in TypeScript: where --pidfd-socket and
// the subreaper go in a plan (plan/compile.ts, compile-exec.ts), which
// linux.netDevices are refused before anything is created (oci/validate.ts,
// network/net-devices.ts), what a cgroup file the kernel lacks says, and
// which bind sources PARENT clones for a user namespace (rootfs/userns-reach.ts).
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { applyWrites } from '../../src/cgroups/writes.ts';
import { validateSpec } from '../../src/oci/validate.ts';
import { compileExecPlan } from '../../src/plan/compile-exec.ts';
import { compile, PIDFD_SLOT, type PlanContext } from '../../src/plan/compile.ts';
import { probeDirOwners, probePaths, type HostFacts } from '../../src/plan/host.ts';
import { RUNTS_SLOTS } from '../../src/protocol/protocol.ts';
import type { Step } from '../../src/protocol/steps.ts';
import type { Spec } from '../../src/oci/types.ts';
import { fakeHost } from '../lib/fake-host.ts';
import { criuFlags, externalMounts, makeMountpoints, unsupported } from '../../src/runtime/checkpoint.ts';
import { checkNetDevices } from '../../src/network/net-devices.ts';
import { reachableInUserns } from '../../src/rootfs/userns-reach.ts';

const bundle = mkdtempSync(join(tmpdir(), 'runts-flags-'));
mkdirSync(join(bundle, 'rootfs'));
after(() => rmSync(bundle, { recursive: true, force: true }));

const ctx: PlanContext = { id: 't', bundle, stateDir: '/run/runts/t', fifoPath: '/run/runts/t/exec.fifo', warn: () => {} };

/** The executor's steps on a made-up hybrid host (test/lib/fake-host.ts), with the config's paths as they are. */
function compilePlan(s: Spec, c: PlanContext = ctx, host: Partial<HostFacts> = {}): Step[] {
  return compile(s, fakeHost('hybrid', { paths: probePaths(s, bundle), ...host }), c).steps;
}

function spec(linux: Record<string, unknown> = {}, process: Record<string, unknown> = {}) {
  return validateSpec({
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['/bin/sh'], cwd: '/', env: ['PATH=/bin'], user: { uid: 1000, gid: 1000 }, ...process },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'network' }], ...linux },
  });
}

const at = (plan: Step[], op: Step['op']) => plan.findIndex((s) => s.op === op);

test('--pidfd-socket: PARENT connects before clone (and before joining namespaces), INIT sends before its own settings', () => {
  const linux = { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'network', path: '/proc/1/ns/net' }] };
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO' }] };
  const plan = compilePlan(spec({ ...linux, seccomp }, { noNewPrivileges: false }), { ...ctx, pidfdSocket: '/run/p.sock' });
  const connect = at(plan, 'STEP_PIDFD_CONNECT');
  assert.ok(connect >= 0 && connect < at(plan, 'STEP_JOIN_NS') && connect < at(plan, 'STEP_CLONE'));
  assert.deepEqual(plan[connect]!.values.map((v) => v.value), [BigInt(PIDFD_SLOT), '/run/p.sock']);
  const send = at(plan, 'STEP_SEND_PIDFD');
  // before the filter (it could forbid pidfd_open), the user switch and REPORT_CREATED
  for (const later of ['STEP_SECCOMP', 'STEP_SET_USER', 'STEP_CHDIR', 'STEP_REPORT_CREATED'] as const) assert.ok(send < at(plan, later), later);
  assert.ok(send > at(plan, 'STEP_PIVOT_ROOT'));
  assert.equal(plan[send]!.values[1]!.value, 'standard');
});

test('--pidfd-socket on exec sends "setns", as runc; the slot is one no idmapped mount can take', () => {
  const proc = spec().process!;
  const plan = compileExecPlan(proc, { join: ['mnt'], capabilities: 0n, arch: 'SCMP_ARCH_X86_64' }, { id: 't', pid: 1, cgroupProcs: [], pidfdSocket: '/p', warn: () => {} });
  assert.ok(at(plan, 'STEP_PIDFD_CONNECT') < at(plan, 'STEP_CLONE'));
  assert.ok(at(plan, 'STEP_ENTER_NS') < at(plan, 'STEP_SEND_PIDFD'));
  assert.equal(plan[at(plan, 'STEP_SEND_PIDFD')]!.values[1]!.value, 'setns');
  assert.equal(PIDFD_SLOT, RUNTS_SLOTS - 1);
});

test('the subreaper: only a supervising PARENT becomes one, and not with --no-subreaper', () => {
  const fg = compilePlan(spec(), { ...ctx, supervise: true });
  assert.equal(at(fg, 'STEP_SUBREAPER'), at(fg, 'STEP_SUPERVISE') + 1);
  const off = compilePlan(spec(), { ...ctx, supervise: true, noSubreaper: true });
  assert.equal(at(off, 'STEP_SUBREAPER'), -1);
  const detached = compilePlan(spec(), ctx);
  assert.equal(at(detached, 'STEP_SUBREAPER'), -1);
  assert.equal(at(detached, 'STEP_PIDFD_CONNECT'), -1);
});

test('linux.netDevices: names the kernel takes, one name each inside, a network namespace, and INIT pauses for the move', () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ 'eth/0': {} }, 'linux.netDevices["eth/0"]: "eth/0" is not a valid network interface name (1 to 15 characters, no "/", ":" or whitespace)'],
    [{ eth0: { name: 'a-very-long-name0' } }, 'linux.netDevices.eth0.name: "a-very-long-name0" is not a valid network interface name (1 to 15 characters, no "/", ":" or whitespace)'],
    [{ eth0: { name: 'x' }, eth1: { name: 'x' } }, 'linux.netDevices.eth1: would be x in the container, as eth0 would'],
    [{ eth0: { name: 'lo' } }, 'linux.netDevices.eth0: would be lo in the container, whose network namespace has its own'],
  ];
  for (const [devices, message] of bad) assert.throws(() => spec({ netDevices: devices }), { message });
  assert.throws(() => spec({ namespaces: [{ type: 'mount' }], netDevices: { eth0: {} } }), { message: 'linux.netDevices: moving a network interface requires a network namespace' });
  const plan = compilePlan(spec({ netDevices: { eth0: { name: 'ctr0' } } }), ctx);
  assert.ok(at(plan, 'STEP_HOOKS_SYNC') >= 0 && at(plan, 'STEP_HOOKS_SYNC') < at(plan, 'STEP_PIVOT_ROOT'));
  assert.equal(at(compilePlan(spec(), ctx), 'STEP_HOOKS_SYNC'), -1);
});

test('linux.netDevices: refused for a rootless container, and for an interface the host lacks, before anything moves', () => {
  assert.throws(() => checkNetDevices({ eth0: {} }, true), { message: 'linux.netDevices: moving a host interface needs root on the host; a rootless container cannot' });
  assert.throws(() => checkNetDevices({ lo: {}, 'p2-no-such0': {} }, false), { message: 'linux.netDevices.p2-no-such0: no network interface p2-no-such0 on the host (ip link show p2-no-such0)' });
  checkNetDevices(undefined, true);
});

test('update --cpu-burst / --cpu-idle on a kernel without the file: one message naming the field and the file', () => {
  // procfs, like cgroupfs, creates no file it does not have: the stand-in for a cgroup of an older kernel
  assert.throws(() => applyWrites([{ controller: '', file: 'cpu.max.burst', value: '1000', field: 'update.cpu.burst' }], () => '/proc'),
    { message: 'update.cpu.burst: write "1000" to /proc/cpu.max.burst: not supported by this kernel (ENOENT)' });
  assert.throws(() => applyWrites([{ controller: 'cpu', file: 'cpu.idle', value: '1', field: 'update.cpu.idle' }], () => undefined),
    { message: 'update.cpu.idle: the host has no cpu hierarchy' });
});

test('a bind source behind a directory the user namespace\'s root cannot search is cloned by PARENT; a reachable one stays a bind', () => {
  const outer = mkdtempSync(join(tmpdir(), 'runts-reach-'));
  after(() => rmSync(outer, { recursive: true, force: true }));
  chmodSync(outer, 0o755); // mkdtemp's 0700 would close everything below
  mkdirSync(join(outer, 'closed', 'dir'), { recursive: true });
  mkdirSync(join(outer, 'open', 'dir'), { recursive: true });
  chmodSync(join(outer, 'closed'), 0o700);
  chmodSync(join(outer, 'open'), 0o755);
  const maps = { uid: [{ containerID: 0, hostID: 100000, size: 65536 }], gid: [{ containerID: 0, hostID: 100000, size: 65536 }] };
  const dirOwners = probeDirOwners([join(outer, 'closed', 'dir'), join(outer, 'open', 'dir')]);
  assert.equal(reachableInUserns(join(outer, 'closed', 'dir'), maps, dirOwners), false);
  assert.equal(reachableInUserns(join(outer, 'open', 'dir'), maps, dirOwners), true);
  // its owner mapped into the namespace: the namespace's capabilities count
  const own = { uid: [{ containerID: 0, hostID: process.getuid!(), size: 1 }], gid: [{ containerID: 0, hostID: process.getgid!(), size: 1 }] };
  assert.equal(reachableInUserns(join(outer, 'closed', 'dir'), own, dirOwners), true);
  const linux = { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'user' }], uidMappings: maps.uid, gidMappings: maps.gid };
  const mounts = [{ destination: '/a', type: 'bind', source: join(outer, 'closed', 'dir'), options: ['bind', 'ro'] }, { destination: '/b', type: 'bind', source: join(outer, 'open', 'dir'), options: ['bind'] }];
  const s = validateSpec({ ...spec(linux), mounts });
  const plan = compilePlan(s, ctx, { dirOwners });
  const clones = plan.filter((p) => p.op === 'STEP_CLONE_TREE');
  assert.deepEqual(clones.map((p) => p.values[1]!.value), [join(outer, 'closed', 'dir')]);
  assert.ok(at(plan, 'STEP_CLONE_TREE') < at(plan, 'STEP_CLONE'));
  assert.equal(plan.filter((p) => p.op === 'STEP_MOUNT' && p.values[1]!.value === '/b').length, 1);
  assert.equal(compilePlan(s, ctx, { dirOwners, rootless: true }).filter((p) => p.op === 'STEP_CLONE_TREE').length, 0);
});

test('proc and sysfs are mounted with "create 3": an ordinary directory, never a symlink', () => {
  const plan = compilePlan(spec(), ctx);
  const proc = plan.find((p) => p.op === 'STEP_MOUNT' && p.values[2]!.value === 'proc')!;
  assert.equal(proc.values[5]!.value, 3n);
});

test('checkpoint: runc\'s flags as CRIU\'s, bind mounts and masked files as external mounts, a bound cgroup v2 mount too', () => {
  assert.deepEqual(criuFlags({ tcpEstablished: true, fileLocks: true, manageCgroupsMode: 'full' }, 'dump.log'),
    ['-o', 'dump.log', '-v4', '--manage-cgroups=full', '--tcp-established', '--file-locks']);
  assert.deepEqual(criuFlags({ autoDedup: true, emptyNs: ['network'] }, 'restore.log'),
    ['-o', 'restore.log', '-v4', '--manage-cgroups=soft', '--auto-dedup', '--empty-ns', 'net']);
  assert.doesNotThrow(() => unsupported({ emptyNs: ['network'] }));
  assert.throws(() => unsupported({ lazyPages: true }), /--lazy-pages: not supported by runts/);
  assert.throws(() => unsupported({ emptyNs: ['network', 'ipc'] }), /--empty-ns ipc: namespace "ipc" is not supported/);
  const s = validateSpec({
    ...spec(),
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, { destination: '/data', type: 'bind', source: 'vol', options: ['rbind'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup' }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }], maskedPaths: ['/proc/kcore', '/proc/acpi'] },
  });
  const file = (p: string) => p === '/proc/kcore';
  assert.deepEqual(externalMounts(s, '/b', 'dump', file, '/sys/fs/cgroup/runts/x'),
    ['--ext-mount-map', '/data:/data', '--ext-mount-map', '/sys/fs/cgroup:/sys/fs/cgroup', '--ext-mount-map', '/proc/kcore:/dev/null']);
  assert.deepEqual(externalMounts(s, '/b', 'restore', file, '/sys/fs/cgroup/runts/x'),
    ['--ext-mount-map', '/data:/b/vol', '--ext-mount-map', '/sys/fs/cgroup:/sys/fs/cgroup/runts/x', '--ext-mount-map', '/dev/null:/dev/null']);
});

test('restore: missing mountpoints are made in the rootfs (a file for a file\'s bind), none under a tmpfs, none through a symlink', () => {
  const root = join(bundle, 'restore-rootfs');
  mkdirSync(join(root, 'etc'), { recursive: true });
  symlinkSync('/', join(root, 'escape'));
  writeFileSync(join(bundle, 'hosts'), '');
  const s = validateSpec({
    ...spec(),
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, { destination: '/run', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/etc/hosts', type: 'bind', source: 'hosts', options: ['rbind'] }, { destination: '/run/.containerenv', type: 'bind', source: 'hosts', options: ['bind'] },
      { destination: '/data/vol', type: 'bind', source: bundle, options: ['rbind'] }, { destination: '/escape/tmp/runts-flags-not-made/x', type: 'tmpfs', source: 'tmpfs' }],
  });
  makeMountpoints(root, s, bundle);
  assert.ok(lstatSync(join(root, 'etc/hosts')).isFile());
  assert.ok(lstatSync(join(root, 'data/vol')).isDirectory());
  assert.ok(lstatSync(join(root, 'proc')).isDirectory() && lstatSync(join(root, 'run')).isDirectory());
  assert.throws(() => lstatSync(join(root, 'run/.containerenv')), /ENOENT/, 'CRIU restores the tmpfs, with its mountpoints');
  assert.throws(() => lstatSync('/tmp/runts-flags-not-made'), /ENOENT/, 'a symlink is never followed');
});
