// Tests for src/oci/validate.ts (and the error contract of src/errors.ts):
// every rejection names the JSON path and the reason, exactly.

import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isRuntsError, RuntsError, wrap } from '../../src/errors.ts';
import { CAPABILITY_NAMES, NAMESPACE_FLAGS, RLIMIT_NUMBERS } from '../../src/oci/kernel-numbers.ts';
import { loadSpec, parseSpec, requireProcess, validateProcess, validateSpec } from '../../src/oci/validate.ts';

// configs under test are plain JSON we poke holes in
type Config = Record<string, any>;

/** The smallest config that passes, rebuilt for each case. */
function minimal(): Config {
  return {
    ociVersion: '1.2.0',
    process: { user: { uid: 0, gid: 0 }, args: ['sh'], env: ['PATH=/bin', 'TERM=xterm'], cwd: '/' },
    root: { path: 'rootfs' },
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }] },
  };
}

/** Asserts that validating `minimal()` changed by `edit` fails with exactly `message`. */
function rejects(edit: (c: Config) => void, message: string): void {
  const config = minimal();
  edit(config);
  const path = message.slice(0, message.indexOf(': '));
  assert.throws(() => validateSpec(config), { name: 'RuntsError', code: 'EINVAL_CONFIG', path, message });
}

function accepts(edit: (c: Config) => void): void {
  const config = minimal();
  edit(config);
  validateSpec(config);
}

const rejections: [string, (c: Config) => void, string][] = [
  // top level
  ['a missing ociVersion', (c) => delete c.ociVersion, 'ociVersion: required'],
  ['a numeric ociVersion', (c) => (c.ociVersion = 1.2), 'ociVersion: must be a string'],
  ['ociVersion 2.x', (c) => (c.ociVersion = '2.0.0'), 'ociVersion: unsupported version "2.0.0" (expected 1.x)'],
  ['ociVersion 0.x', (c) => (c.ociVersion = '0.5.0'), 'ociVersion: unsupported version "0.5.0" (expected 1.x)'],
  ['a non-version ociVersion', (c) => (c.ociVersion = 'latest'), 'ociVersion: invalid version "latest" (expected 1.x.y)'],
  ['a missing root', (c) => delete c.root, 'root: required'],
  ['an empty root.path', (c) => (c.root.path = ''), 'root.path: must be a non-empty string'],
  ['a string root.readonly', (c) => (c.root.readonly = 'yes'), 'root.readonly: must be a boolean'],
  ['a string annotation value', (c) => (c.annotations = { 'org.example/n': 1 }), 'annotations["org.example/n"]: must be a string'],
  ['a hostname without uts', (c) => ((c.hostname = 'box'), c.linux.namespaces.splice(3, 1)), 'hostname: setting the hostname requires a new uts namespace'],
  ['a domainname without linux', (c) => ((c.domainname = 'lan'), delete c.linux), 'domainname: setting the domainname requires a new uts namespace'],

  // process
  ['missing process.args', (c) => delete c.process.args, 'process.args: required'],
  ['empty process.args', (c) => (c.process.args = []), 'process.args: must be a non-empty array of strings'],
  ['a string process.args', (c) => (c.process.args = 'sh -c true'), 'process.args: must be a non-empty array of strings'],
  ['a number in process.args', (c) => (c.process.args = ['sleep', 5]), 'process.args[1]: must be a string'],
  ['a relative process.cwd', (c) => (c.process.cwd = 'tmp'), 'process.cwd: must be an absolute path'],
  ['a missing process.cwd', (c) => delete c.process.cwd, 'process.cwd: required'],
  ['an env entry without "="', (c) => c.process.env.push('A=1', 'DEBUG'), 'process.env[3]: must be "KEY=value"'],
  ['an env entry with an empty key', (c) => c.process.env.push('=1'), 'process.env[2]: must be "KEY=value"'],
  ['a missing process.user', (c) => delete c.process.user, 'process.user: required'],
  ['a negative uid', (c) => (c.process.user.uid = -1), 'process.user.uid: must be a non-negative integer'],
  ['a string uid', (c) => (c.process.user.uid = '0'), 'process.user.uid: must be a non-negative integer'],
  ['a fractional gid', (c) => (c.process.user.gid = 1.5), 'process.user.gid: must be a non-negative integer'],
  ['a uid beyond 32 bits', (c) => (c.process.user.uid = 2 ** 32), 'process.user.uid: must be at most 4294967295'],
  ['a bad additional gid', (c) => (c.process.user.additionalGids = [10, 'wheel']), 'process.user.additionalGids[1]: must be a non-negative integer'],
  ['a string terminal', (c) => (c.process.terminal = 'true'), 'process.terminal: must be a boolean'],
  ['an unknown capability', (c) => (c.process.capabilities = { bounding: ['CAP_KILL', 'CAP_CHOWN', 'CAP_SETUID', 'CAP_FOO'] }), 'process.capabilities.bounding[3]: unknown capability "CAP_FOO"'],
  ['a capability without prefix', (c) => (c.process.capabilities = { ambient: ['NET_RAW'] }), 'process.capabilities.ambient[0]: unknown capability "NET_RAW"'],
  ['an unknown rlimit', (c) => (c.process.rlimits = [{ type: 'RLIMIT_FOO', hard: 1, soft: 1 }]), 'process.rlimits[0].type: unknown rlimit "RLIMIT_FOO"'],
  ['a duplicate rlimit', (c) => (c.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }, { type: 'RLIMIT_NOFILE', hard: 8, soft: 8 }]), 'process.rlimits[1]: duplicate RLIMIT_NOFILE'],
  ['a string rlimit', (c) => (c.process.rlimits = [{ type: 'RLIMIT_CORE', hard: '0', soft: 0 }]), 'process.rlimits[0].hard: must be a non-negative integer'],
  ['a soft rlimit above hard', (c) => (c.process.rlimits = [{ type: 'RLIMIT_NPROC', hard: 10, soft: 20 }]), 'process.rlimits[0].soft: 20 is above the hard limit 10'],
  ['an oomScoreAdj out of range', (c) => (c.process.oomScoreAdj = 1001), 'process.oomScoreAdj: must be an integer from -1000 to 1000'],
  ['an unknown scheduler policy', (c) => (c.process.scheduler = { policy: 'SCHED_FAST' }), 'process.scheduler.policy: unknown scheduler policy "SCHED_FAST" (expected one of SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_ISO, SCHED_IDLE, SCHED_DEADLINE)'],
  ['an io priority out of range', (c) => (c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 8 }), 'process.ioPriority.priority: must be an integer from 0 to 7'],

  // mounts and hooks
  ['a relative mount destination', (c) => (c.mounts = [{ destination: '/proc', type: 'proc' }, { destination: 'data', type: 'bind', source: '/srv' }]), 'mounts[1].destination: must be an absolute path'],
  ['a string mount option list', (c) => (c.mounts = [{ destination: '/tmp', options: 'nosuid' }]), 'mounts[0].options: must be an array'],
  ['a relative hook path', (c) => (c.hooks = { prestart: [{ path: 'bin/hook' }] }), 'hooks.prestart[0].path: must be an absolute path'],
  ['a zero hook timeout', (c) => (c.hooks = { poststop: [{ path: '/bin/true', timeout: 0 }] }), 'hooks.poststop[0].timeout: must be a positive integer'],
  ['a string hook timeout', (c) => (c.hooks = { createRuntime: [{ path: '/bin/true', timeout: '5' }] }), 'hooks.createRuntime[0].timeout: must be a positive integer'],
  ['a hook list that is an object', (c) => (c.hooks = { poststart: { path: '/bin/true' } }), 'hooks.poststart: must be an array'],

  // linux namespaces and id mappings
  ['an unknown namespace', (c) => (c.linux.namespaces[2] = { type: 'foo' }), 'linux.namespaces[2].type: unknown namespace "foo" (expected one of pid, network, mount, ipc, uts, user, cgroup, time)'],
  ['a duplicate namespace', (c) => c.linux.namespaces.push({ type: 'pid', path: '/proc/1/ns/pid' }), 'linux.namespaces: duplicate namespace "pid"'],
  ['a relative namespace path', (c) => (c.linux.namespaces[4].path = 'netns/a'), 'linux.namespaces[4].path: must be an absolute path'],
  ['a user namespace without uid mappings', (c) => c.linux.namespaces.push({ type: 'user' }), 'linux.uidMappings: user namespace requested but no mappings given'],
  [
    'a user namespace without gid mappings',
    (c) => (c.linux.namespaces.push({ type: 'user' }), (c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }])),
    'linux.gidMappings: user namespace requested but no mappings given',
  ],
  ['mappings without a user namespace', (c) => (c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }]), 'linux.uidMappings: mappings given but no user namespace requested'],
  ['a zero-size mapping', (c) => (c.linux.gidMappings = [{ containerID: 0, hostID: 1000, size: 0 }]), 'linux.gidMappings[0].size: must be a positive integer'],
  ['time offsets without a time namespace', (c) => (c.linux.timeOffsets = { monotonic: { secs: 10 } }), 'linux.timeOffsets: time offsets require a new time namespace'],
  ['an unknown clock', (c) => (c.linux.namespaces.push({ type: 'time' }), (c.linux.timeOffsets = { realtime: { secs: 1 } })), 'linux.timeOffsets.realtime: unknown clock "realtime" (expected one of monotonic, boottime)'],

  // linux devices, sysctl, paths
  ['an unknown device type', (c) => (c.linux.devices = [{ path: '/dev/fuse', type: 'x', major: 10, minor: 229 }]), 'linux.devices[0].type: must be one of c, b, u, p'],
  ['a char device without major', (c) => (c.linux.devices = [{ path: '/dev/fuse', type: 'c', minor: 229 }]), 'linux.devices[0].major: required for type "c"'],
  ['a block device without minor', (c) => (c.linux.devices = [{ path: '/dev/sda', type: 'b', major: 8 }]), 'linux.devices[0].minor: required for type "b"'],
  ['a relative device path', (c) => (c.linux.devices = [{ path: 'dev/null', type: 'c', major: 1, minor: 3 }]), 'linux.devices[0].path: must be an absolute path'],
  ['a numeric sysctl value', (c) => (c.linux.sysctl = { 'net.ipv4.ip_forward': 1 }), 'linux.sysctl["net.ipv4.ip_forward"]: must be a string'],
  ['a net sysctl without netns', (c) => (c.linux.namespaces.splice(4, 1), (c.linux.sysctl = { 'net.ipv4.ip_forward': '1' })), 'linux.sysctl["net.ipv4.ip_forward"]: requires a network namespace'],
  ['an ipc sysctl without ipcns', (c) => (c.linux.namespaces.splice(2, 1), (c.linux.sysctl = { 'kernel.shmmax': '1' })), 'linux.sysctl["kernel.shmmax"]: requires an ipc namespace'],
  ['a host-wide sysctl', (c) => (c.linux.sysctl = { 'vm.swappiness': '10' }), 'linux.sysctl["vm.swappiness"]: not namespaced, setting it would change the host'],
  ['kernel.hostname as a sysctl', (c) => (c.linux.sysctl = { 'kernel.hostname': 'x' }), 'linux.sysctl["kernel.hostname"]: set the hostname field instead'],
  ['a relative masked path', (c) => (c.linux.maskedPaths = ['/proc/kcore', 'proc/keys']), 'linux.maskedPaths[1]: must be an absolute path'],
  ['an unknown propagation', (c) => (c.linux.rootfsPropagation = 'recursive'), 'linux.rootfsPropagation: unknown propagation "recursive" (expected one of shared, slave, private, unbindable, rshared, rslave, rprivate, runbindable)'],

  // linux resources: strict types
  ['a string memory limit', (c) => (c.linux.resources = { memory: { limit: '1g' } }), 'linux.resources.memory.limit: must be an integer'],
  ['a string cpu shares', (c) => (c.linux.resources = { cpu: { shares: '1024' } }), 'linux.resources.cpu.shares: must be a non-negative integer'],
  ['pids without limit', (c) => (c.linux.resources = { pids: {} }), 'linux.resources.pids.limit: required'],
  ['a device rule without allow', (c) => (c.linux.resources = { devices: [{ access: 'rwm' }] }), 'linux.resources.devices[0].allow: required'],
  ['a device rule with bad access', (c) => (c.linux.resources = { devices: [{ allow: true, access: 'rx' }] }), 'linux.resources.devices[0].access: must be made of r, w and m'],
  ['a device rule of type u', (c) => (c.linux.resources = { devices: [{ allow: true, type: 'u' }] }), 'linux.resources.devices[0].type: must be one of a, c, b'],
  ['a blkio weight above 16 bits', (c) => (c.linux.resources = { blockIO: { weight: 70000 } }), 'linux.resources.blockIO.weight: must be at most 65535'],
  ['a throttle device without rate', (c) => (c.linux.resources = { blockIO: { throttleReadBpsDevice: [{ major: 8, minor: 0 }] } }), 'linux.resources.blockIO.throttleReadBpsDevice[0].rate: required'],
  ['a hugepage limit without size', (c) => (c.linux.resources = { hugepageLimits: [{ limit: 1 }] }), 'linux.resources.hugepageLimits[0].pageSize: required'],
  ['a numeric unified value', (c) => (c.linux.resources = { unified: { 'memory.high': 1000 } }), 'linux.resources.unified["memory.high"]: must be a string'],

  // linux seccomp
  ['an unknown seccomp default action', (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_DENY' }), 'linux.seccomp.defaultAction: unknown seccomp action "SCMP_ACT_DENY" (expected one of SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY)'],
  ['empty seccomp names', (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] }), 'linux.seccomp.syscalls[0].names: must be a non-empty array of strings'],
  ['a seccomp arg index of 6', (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }), 'linux.seccomp.syscalls[0].args[0].index: must be an integer from 0 to 5'],
  ['an unknown seccomp architecture', (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }), 'linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_Z80" (expected one of SCMP_ARCH_X86, SCMP_ARCH_X86_64, SCMP_ARCH_X32, SCMP_ARCH_ARM, SCMP_ARCH_AARCH64, SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32, SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64, SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_PPC, SCMP_ARCH_PPC64, SCMP_ARCH_PPC64LE, SCMP_ARCH_S390, SCMP_ARCH_S390X, SCMP_ARCH_PARISC, SCMP_ARCH_PARISC64, SCMP_ARCH_RISCV64)'],
  ['notify as the default action', (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/run/l.sock' }), 'linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action'],
  ['notify without a listener', (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_NOTIFY' }] }), 'linux.seccomp.listenerPath: required when a syscall uses SCMP_ACT_NOTIFY'],
];

describe('validateSpec rejects, naming the path and the reason', () => {
  for (const [name, edit, message] of rejections) test(name, () => rejects(edit, message));

  test('a config that is not an object', () => {
    for (const raw of [null, [], 'config', 42]) {
      assert.throws(() => validateSpec(raw), { code: 'EINVAL_CONFIG', path: 'config', message: 'config: must be a JSON object' });
    }
  });
});

describe('validateSpec accepts', () => {
  test('the minimal config, returned as a copy', () => {
    const config = minimal();
    const spec = validateSpec(config);
    assert.deepEqual(spec, config);
    assert.notEqual(spec, config);
  });

  test('any 1.x ociVersion', () => {
    for (const v of ['1.0.0', '1.0.2-dev', '1.1.0+dev', '1.2.1', '1.3.0']) accepts((c) => (c.ociVersion = v));
  });

  test('unknown properties at any level', () => {
    accepts((c) => {
      c.vendorExtension = { x: 1 };
      c.process.futureField = true;
      c.linux.resources = { futureController: { max: 3 } };
      c.windows = { layerFolders: [] };
    });
  });

  test('null for an optional field, dropping it from the result', () => {
    const config = { ...minimal(), hostname: null, mounts: null };
    const spec = validateSpec(config);
    assert.equal('hostname' in spec, false);
    assert.equal('mounts' in spec, false);
    assert.equal(config.hostname, null, 'the input is left alone');
  });

  test('a fifo device without numbers, and a joined user namespace without mappings', () => {
    accepts((c) => (c.linux.devices = [{ path: '/dev/pipe', type: 'p' }]));
    accepts((c) => c.linux.namespaces.push({ type: 'user', path: '/proc/42/ns/user' }));
  });

  test('an empty hostname without a uts namespace, and kernel.domainname with one', () => {
    accepts((c) => ((c.hostname = ''), c.linux.namespaces.splice(3, 1)));
    accepts((c) => (c.linux.sysctl = { 'kernel.domainname': 'lan', 'fs.mqueue.msg_max': '64', 'net/ipv4/ip_forward': '1' }));
  });

  test('a config without a process (the spec needs one only to start)', () => {
    const spec = validateSpec({ ...minimal(), process: undefined });
    assert.throws(() => requireProcess(spec), {
      code: 'EINVAL_CONFIG',
      path: 'process',
      message: 'process: required to create a container',
    });
    assert.deepEqual(requireProcess(validateSpec(minimal())).args, ['sh']);
  });

  test('a realistic full config (containerd/podman style)', () => {
    const spec = validateSpec(fullConfig());
    assert.equal(spec.linux?.seccomp?.syscalls?.[1]?.args?.[0]?.op, 'SCMP_CMP_MASKED_EQ');
    assert.equal(spec.process?.rlimits?.[0]?.hard, 2 ** 64, 'RLIM_INFINITY arrives rounded up to 2^64');
  });
});

test('validateProcess checks an exec process file on its own', () => {
  const proc = validateProcess({ user: { uid: 1, gid: 1 }, args: ['ps'], cwd: '/' });
  assert.deepEqual(proc.args, ['ps']);
  assert.throws(() => validateProcess({ user: { uid: 1, gid: 1 }, args: ['ps'], cwd: 'x' }), {
    message: 'process.cwd: must be an absolute path',
  });
  assert.throws(() => validateProcess('ps'), { message: 'process: must be an object' });
});

describe('kernel numbers', () => {
  test('NAMESPACE_FLAGS are the CLONE_NEW* flags', () => {
    assert.deepEqual(NAMESPACE_FLAGS, {
      pid: 0x20000000,
      network: 0x40000000,
      mount: 0x00020000,
      ipc: 0x08000000,
      uts: 0x04000000,
      user: 0x10000000,
      cgroup: 0x02000000,
      time: 0x00000080,
    });
  });

  test('CAPABILITY_NAMES number CAP_CHOWN=0 to CAP_CHECKPOINT_RESTORE=40, each bit once', () => {
    const bits = Object.values(CAPABILITY_NAMES).sort((a, b) => a - b);
    assert.deepEqual(bits, Array.from({ length: 41 }, (_, i) => i));
    assert.equal(CAPABILITY_NAMES.CAP_CHOWN, 0);
    assert.equal(CAPABILITY_NAMES.CAP_SYS_ADMIN, 21);
    assert.equal(CAPABILITY_NAMES.CAP_CHECKPOINT_RESTORE, 40);
  });

  test('RLIMIT_NUMBERS follow asm-generic/resource.h', () => {
    assert.deepEqual(Object.values(RLIMIT_NUMBERS), Array.from({ length: 16 }, (_, i) => i));
    assert.equal(RLIMIT_NUMBERS.RLIMIT_NOFILE, 7);
    assert.equal(RLIMIT_NUMBERS.RLIMIT_NPROC, 6);
    assert.equal(RLIMIT_NUMBERS.RLIMIT_RTTIME, 15);
  });
});

describe('loadSpec and parseSpec', () => {
  test('a missing config.json is ENOENT naming the bundle', async () => {
    const bundle = mkdtempSync(join(tmpdir(), 'runts-bundle-'));
    try {
      assert.throws(() => loadSpec(bundle), {
        code: 'ENOENT',
        path: join(bundle, 'config.json'),
        message: `config.json not found in bundle ${bundle}`,
      });
    } finally {
      rmSync(bundle, { recursive: true });
    }
  });

  test('a valid bundle loads', async () => {
    const bundle = mkdtempSync(join(tmpdir(), 'runts-bundle-'));
    try {
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(minimal(), null, 2));
      const spec = loadSpec(bundle);
      assert.equal(spec.root?.path, 'rootfs');
    } finally {
      rmSync(bundle, { recursive: true });
    }
  });

  test('a config.json that cannot be read is wrapped with its path', async () => {
    const bundle = mkdtempSync(join(tmpdir(), 'runts-bundle-'));
    try {
      mkdirSync(join(bundle, 'config.json'));
      assert.throws(() => loadSpec(bundle), {
        code: 'ESYSTEM',
        errno: 21,
        message: `read ${join(bundle, 'config.json')}: EISDIR: illegal operation on a directory, read`,
      });
    } finally {
      rmSync(bundle, { recursive: true });
    }
  });

  test('invalid JSON names line, column and what was found', () => {
    const cases: [string, string][] = [
      ['{\n  "ociVersion": "1.2.0",\n  "root": }\n', 'config.json: invalid JSON at line 3 column 11: unexpected "}"'],
      ['{"ociVersion": "1.2.0",}', 'config.json: invalid JSON at line 1 column 24: unexpected "}"'],
      ['{"process": {"args": ["sh"]', 'config.json: invalid JSON at line 1 column 28: unexpected end of input'],
      ['{"hostname": "a\tb"}', 'config.json: invalid JSON at line 1 column 16: unexpected "\\t"'],
      ['{"terminal": tru}', 'config.json: invalid JSON at line 1 column 17: unexpected "}"'],
      ['', 'config.json: invalid JSON at line 1 column 1: unexpected end of input'],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseSpec(text), { code: 'EINVAL_CONFIG', path: 'config.json', message });
    }
  });

  test('valid JSON that breaks the spec reports the field', () => {
    assert.throws(() => parseSpec('{"ociVersion": "1.2.0", "root": {"path": 7}}'), {
      message: 'root.path: must be a non-empty string',
    });
  });
});

describe('RuntsError and wrap', () => {
  test('wrap adds context and keeps code, errno and path', () => {
    const inner = new RuntsError('EPERM', 'mount /proc: operation not permitted', { errno: -1, path: '/proc' });
    const outer = wrap(inner, 'create container web');
    assert.equal(outer.message, 'create container web: mount /proc: operation not permitted');
    assert.equal(outer.code, 'EPERM');
    assert.equal(outer.errno, 1, 'errno is stored positive, as in C');
    assert.equal(outer.path, '/proc');
    assert.equal(outer.cause, inner);
    assert.ok(isRuntsError(outer, 'EPERM'));
    assert.ok(!isRuntsError(outer, 'ENOENT'));
  });

  test('wrap maps a Node system error by its errno name', () => {
    const sys = Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT', errno: -2, path: '/x' });
    const err = wrap(sys, 'read state');
    assert.deepEqual([err.code, err.errno, err.path], ['ENOENT', 2, '/x']);
    assert.equal(err.message, "read state: ENOENT: no such file or directory, open '/x'");
  });

  test('wrap turns anything unexpected into EINTERNAL', () => {
    assert.equal(wrap(new TypeError('x is undefined'), 'plan').code, 'EINTERNAL');
    assert.equal(wrap('boom', 'plan').message, 'plan: boom');
  });
});

/** A config as containerd or podman would write it, with most sections used. */
function fullConfig(): Config {
  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT'];
  return JSON.parse(`{
    "ociVersion": "1.1.0",
    "process": {
      "terminal": false,
      "consoleSize": { "height": 24, "width": 80 },
      "user": { "uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [1000, 10] },
      "args": ["/usr/sbin/nginx", "-g", "daemon off;"],
      "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=web", "EMPTY="],
      "cwd": "/var/www",
      "capabilities": {
        "bounding": ${JSON.stringify(caps)}, "effective": ${JSON.stringify(caps)},
        "permitted": ${JSON.stringify(caps)}, "inheritable": [], "ambient": ["CAP_NET_BIND_SERVICE"]
      },
      "rlimits": [
        { "type": "RLIMIT_CORE", "hard": 18446744073709551615, "soft": 18446744073709551615 },
        { "type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576 }
      ],
      "noNewPrivileges": true,
      "apparmorProfile": "containers-default-0.50.0",
      "oomScoreAdj": 100,
      "selinuxLabel": "system_u:system_r:container_t:s0:c1,c2"
    },
    "root": { "path": "/var/lib/containers/storage/overlay/abc/merged", "readonly": false },
    "hostname": "web",
    "mounts": [
      { "destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"] },
      { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { "destination": "/etc/resolv.conf", "type": "bind", "source": "/run/containers/abc/resolv.conf", "options": ["rbind", "ro"] },
      { "destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "idmap"],
        "uidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
        "gidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }] }
    ],
    "hooks": {
      "prestart": [{ "path": "/usr/bin/netns-hook", "args": ["netns-hook", "up"], "env": ["A=1"], "timeout": 10 }],
      "createRuntime": [{ "path": "/usr/libexec/oci/hooks.d/cdi" }],
      "poststop": [{ "path": "/usr/bin/cleanup" }]
    },
    "annotations": { "io.kubernetes.cri.container-type": "container", "org.opencontainers.image.ref.name": "nginx" },
    "linux": {
      "uidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
      "gidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
      "sysctl": { "net.ipv4.ip_unprivileged_port_start": "0", "kernel.shm_rmid_forced": "1" },
      "resources": {
        "devices": [
          { "allow": false, "access": "rwm" },
          { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" },
          { "allow": true, "type": "c", "major": 136, "access": "rwm" }
        ],
        "memory": { "limit": 536870912, "reservation": 268435456, "swap": -1, "swappiness": 0, "disableOOMKiller": false },
        "cpu": { "shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0", "idle": 0 },
        "pids": { "limit": 4096 },
        "blockIO": {
          "weight": 500,
          "weightDevice": [{ "major": 8, "minor": 0, "weight": 600 }],
          "throttleReadBpsDevice": [{ "major": 8, "minor": 0, "rate": 104857600 }]
        },
        "hugepageLimits": [{ "pageSize": "2MB", "limit": 0 }],
        "network": { "classID": 1048577, "priorities": [{ "name": "eth0", "priority": 5 }] },
        "rdma": { "mlx5_1": { "hcaHandles": 3, "hcaObjects": 10000 } },
        "unified": { "memory.high": "500000000", "io.weight": "default 100" }
      },
      "cgroupsPath": "machine.slice:libpod:abc",
      "namespaces": [
        { "type": "pid" }, { "type": "network", "path": "/run/netns/cni-1234" }, { "type": "ipc" },
        { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }, { "type": "user" }, { "type": "time" }
      ],
      "timeOffsets": { "monotonic": { "secs": 3600, "nanosecs": 0 }, "boottime": { "secs": -60 } },
      "devices": [
        { "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0 },
        { "path": "/dev/loop0", "type": "b", "major": 7, "minor": 0 }
      ],
      "seccomp": {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "listenerPath": "/run/seccomp-agent.sock",
        "listenerMetadata": "profile=default",
        "syscalls": [
          { "names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW" },
          { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }] },
          { "names": ["mount"], "action": "SCMP_ACT_NOTIFY" },
          { "names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 }
        ]
      },
      "rootfsPropagation": "rslave",
      "maskedPaths": ["/proc/acpi", "/proc/kcore", "/sys/firmware"],
      "readonlyPaths": ["/proc/bus", "/proc/sys"],
      "mountLabel": "system_u:object_r:container_file_t:s0:c1,c2",
      "intelRdt": { "closID": "guaranteed", "l3CacheSchema": "L3:0=7f", "enableCMT": true },
      "personality": { "domain": "LINUX" }
    }
  }`);
}
