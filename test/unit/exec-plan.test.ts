// The exec plan: which namespaces are joined by whom, in which order, and
// that the process part is create's own (processSteps), with nothing
// mounted and no pivot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateProcess } from '../../src/oci/validate.ts';
import { compileExecPlan, type ExecPlanContext } from '../../src/plan/compile-exec.ts';
import { namespacesToJoin, type ExecHostFacts } from '../../src/plan/host.ts';
import { nativeArch } from '../../src/security/seccomp/arch.ts';
import { processSteps } from '../../src/plan/compile.ts';
import { grantableCapabilities } from '../../src/security/capabilities.ts';
import { encodePlan } from '../../src/protocol/encode.ts';
import type { Step } from '../../src/protocol/steps.ts';

const process_ = validateProcess({
  args: ['/bin/sh', '-c', 'id'], cwd: '/tmp', env: ['PATH=/bin'], user: { uid: 1000, gid: 1000 },
  capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] }, noNewPrivileges: true,
});

const ctx = (extra: Partial<ExecPlanContext> = {}): ExecPlanContext => ({
  id: 't',
  pid: 4242,
  cgroupProcs: ['/sys/fs/cgroup/pids/runts/t/cgroup.procs', '/sys/fs/cgroup/memory/runts/t/cgroup.procs'],
  warn: () => {},
  ...extra,
});
const host = (join = ['user', 'ipc', 'uts', 'net', 'pid', 'cgroup', 'mnt']): ExecHostFacts => ({ join, capabilities: grantableCapabilities(), arch: nativeArch() });

const ops = (plan: Step[]) => plan.map((s) => s.op);
const withoutText = (steps: Step[]) => steps.map(({ op, actor, values }) => ({ op, actor, values }));

test('PARENT joins user first, then ipc, uts, net, pid; clone makes no namespace', () => {
  const plan = compileExecPlan(process_, host(), ctx());
  const joins = plan.filter((s) => s.op === 'STEP_JOIN_NS').map((s) => s.values[1]!.value);
  assert.deepEqual(joins, ['user', 'ipc', 'uts', 'net', 'pid'].map((f) => `/proc/4242/ns/${f}`));
  const clone = plan.find((s) => s.op === 'STEP_CLONE')!;
  assert.equal(clone.values[0]!.value, 0n);
  assert.ok(ops(plan).indexOf('STEP_CLONE') > ops(plan).lastIndexOf('STEP_JOIN_NS'));
});

test('INIT joins the cgroup namespace after the cgroup move, and the mount namespace last', () => {
  const plan = ops(compileExecPlan(process_, host(), ctx({ supervise: true })));
  const entered = compileExecPlan(process_, host(), ctx()).filter((s) => s.op === 'STEP_ENTER_NS').map((s) => s.values[1]!.value);
  assert.deepEqual(entered, ['/proc/4242/ns/cgroup', '/proc/4242/ns/mnt']);
  assert.ok(plan.lastIndexOf('STEP_CGROUP_ADD') < plan.indexOf('STEP_ENTER_NS'));
  assert.ok(plan.indexOf('STEP_SUPERVISE') > plan.indexOf('STEP_CLONE'));
});

test('only the namespaces asked for are joined', () => {
  const plan = compileExecPlan(process_, host(['mnt', 'pid']), ctx());
  assert.deepEqual(plan.filter((s) => s.op === 'STEP_JOIN_NS' || s.op === 'STEP_ENTER_NS').map((s) => s.values[1]!.value),
    ['/proc/4242/ns/pid', '/proc/4242/ns/mnt']);
});

test('runts joins none of its own namespaces', () => {
  assert.deepEqual(namespacesToJoin(process.pid), []);
});

test('nothing is mounted and the root is not switched: the joined mount namespace has it', () => {
  const plan = ops(compileExecPlan(process_, host(), ctx()));
  for (const op of ['STEP_MOUNT', 'STEP_ROOTFS', 'STEP_PIVOT_ROOT', 'STEP_CHROOT', 'STEP_MKFIFO', 'STEP_WAIT_START', 'STEP_MASK_PATH'] as const) {
    assert.ok(!plan.includes(op), `${op} in an exec plan`);
  }
});

test('the process steps are exactly the ones create compiles, then report and exec', () => {
  const plan = compileExecPlan(process_, host(), ctx({ preserveFds: 2 }));
  const expected = processSteps(process_, { warn: () => {}, capabilities: grantableCapabilities(), preserveFds: 2 });
  const first = plan.findIndex((s) => s.op === expected[0]!.op);
  assert.deepEqual(withoutText(plan.slice(first, first + expected.length)), withoutText(expected));
  assert.deepEqual(ops(plan).slice(-2), ['STEP_REPORT_CREATED', 'STEP_EXEC']);
  assert.ok(encodePlan(plan).length > 0);
});

test('a terminal: console socket, or in the foreground a socketpair PARENT proxies', () => {
  const tty = { ...process_, terminal: true, consoleSize: { height: 24, width: 80 } };
  const viaSocket = compileExecPlan(tty, host(), ctx({ consoleSocket: '/run/tty.sock' }));
  assert.equal(viaSocket[0]!.op, 'STEP_CONSOLE_CONNECT');
  const console = viaSocket.find((s) => s.op === 'STEP_SETUP_CONSOLE')!;
  assert.deepEqual(console.values.map((v) => v.value), [1n, 24n, 80n, '', 1000n], 'no /dev/console bind for exec; the pty is the user\'s');
  const proxied = compileExecPlan(tty, host(), ctx({ supervise: true }));
  assert.equal(proxied[0]!.op, 'STEP_CONSOLE_PAIR');
  assert.ok(ops(proxied).includes('STEP_SETUP_CONSOLE'));
});

test('an exec\'d process joins the container\'s session keyring by name, unless it was created with --no-new-keyring', () => {
  const joined = compileExecPlan(process_, host(), ctx()).find((s) => s.op === 'STEP_SESSION_KEYRING');
  assert.equal(joined?.values[0]!.value, '_ses.t');
  assert.ok(!ops(compileExecPlan(process_, host(), ctx({ noNewKeyring: true }))).includes('STEP_SESSION_KEYRING'));
});
