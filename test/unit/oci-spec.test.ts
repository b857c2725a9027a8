// Tests for src/oci/spec.ts: `runts spec` writes what `runc spec` writes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSpec, OCI_VERSION, toRootless } from '../../src/oci/spec.ts';
import { validateSpec } from '../../src/oci/validate.ts';

// runc's libcontainer/specconv/example.go, hostname changed to runts
const RUNC_SPEC = {
  ociVersion: '1.2.0',
  process: {
    terminal: true,
    user: { uid: 0, gid: 0 },
    args: ['sh'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
    cwd: '/',
    capabilities: {
      bounding: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],
      effective: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],
      permitted: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],
    },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
    noNewPrivileges: true,
  },
  root: { path: 'rootfs', readonly: true },
  hostname: 'runts',
  mounts: [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ],
  linux: {
    resources: { devices: [{ allow: false, access: 'rwm' }] },
    namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
    maskedPaths: [
      '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
      '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi', '/sys/devices/virtual/tpm',
    ],
    readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
  },
};

test('defaultSpec is runc spec, key order included, and validates', () => {
  const spec = defaultSpec();
  // compared as text so that key order (what a reader of config.json sees) counts too
  assert.equal(JSON.stringify(spec, null, 2), JSON.stringify(RUNC_SPEC, null, 2));
  assert.equal(spec.ociVersion, OCI_VERSION);
  assert.deepEqual(validateSpec(spec), spec);
});

test('defaultSpec returns a fresh object each time', () => {
  const a = defaultSpec();
  a.process!.args.push('-x');
  assert.deepEqual(defaultSpec().process!.args, ['sh']);
});

test('rootless: a user namespace mapping the caller to root, and no network namespace', () => {
  const spec = defaultSpec({ rootless: true, uid: 1000, gid: 1001 });
  assert.deepEqual(spec.linux, {
    uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: 1001, size: 1 }],
    // runc keeps the cgroup namespace: it needs no privilege
    namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }, { type: 'user' }],
    maskedPaths: RUNC_SPEC.linux.maskedPaths,
    readonlyPaths: RUNC_SPEC.linux.readonlyPaths,
  });
  assert.equal('resources' in spec.linux!, false, 'cgroup limits are dropped');
  validateSpec(spec);
});

test('rootless: /sys is a read-only rbind and no mount sets uid= or gid=', () => {
  const mounts = defaultSpec({ rootless: true, uid: 1000, gid: 1000 }).mounts!;
  assert.deepEqual(mounts.find((m) => m.destination === '/sys'), {
    destination: '/sys',
    type: 'none',
    source: '/sys',
    options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
  });
  assert.deepEqual(mounts.find((m) => m.destination === '/dev/pts')?.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']);
  assert.deepEqual(mounts.map((m) => m.destination), RUNC_SPEC.mounts.map((m) => m.destination));
  assert.equal(mounts[0]!.options, undefined, 'the proc mount keeps having no options');
});

test('rootless maps the current euid and egid by default', () => {
  const linux = defaultSpec({ rootless: true }).linux!;
  assert.equal(linux.uidMappings![0]!.hostID, process.geteuid!());
  assert.equal(linux.gidMappings![0]!.hostID, process.getegid!());
});

test('toRootless leaves its input alone and replaces an existing user namespace and mappings', () => {
  const spec = defaultSpec();
  spec.linux!.namespaces!.push({ type: 'user' });
  spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const before = structuredClone(spec);
  const rootless = toRootless(spec, { uid: 1234, gid: 1234 });
  assert.deepEqual(spec, before);
  assert.deepEqual(rootless.linux!.uidMappings, [{ containerID: 0, hostID: 1234, size: 1 }]);
  assert.equal(rootless.linux!.namespaces!.filter((ns) => ns.type === 'user').length, 1);
});
