/*
 * runts doctor: the real command on this host (root, Debian 12), and the
 * checks against recorded hosts of the three cgroup kinds and with tools
 * missing, so each verdict and each fix is seen at least once.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkCgroups, checkLsm, checkTools, checkUserNamespaces, formatChecks, realHost, runChecks, type Host } from '../../src/doctor/checks.ts';

const REPO = join(import.meta.dirname, '../..');
const RUNTS = join(REPO, 'bin/runts');

function fakeHost(files: Record<string, string>, opts: Partial<Host> = {}): Host {
  return {
    read: (p) => files[p],
    list: (d) => {
      const names = Object.keys(files).filter((p) => p.startsWith(d + '/')).map((p) => p.slice(d.length + 1).split('/')[0]!);
      return names.length ? [...new Set(names)] : undefined;
    },
    kernelRelease: () => '6.1.0-18-amd64',
    uid: () => 0,
    which: () => undefined,
    isStaticElf: () => true,
    ...opts,
  };
}

const mountinfo = (...lines: [string, string, string][]) =>
  lines.map(([point, fs, opts], i) => `${30 + i} 25 0:${26 + i} / ${point} rw,nosuid - ${fs} ${fs} ${opts}`).join('\n');

test('runts doctor on this host: every line has a verdict, and nothing required is missing', () => {
  const r = spawnSync(RUNTS, ['doctor'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  for (const name of ['kernel', 'namespaces', 'user namespaces', 'cgroups', 'overlayfs', 'seccomp', 'lsm', 'unshare', 'busybox']) {
    assert.match(r.stdout, new RegExp(`^(ok|warn|MISSING) +${name} `, 'm'), `no line for ${name}`);
  }
  assert.match(r.stdout, /^ok +namespaces +cgroup ipc mnt net pid time user uts$/m);
  assert.match(r.stdout, /^ready \(\d+ warnings\)$/m);
});

test('runts doctor --json is the same checks as data', () => {
  const r = spawnSync(RUNTS, ['doctor', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const checks = JSON.parse(r.stdout) as { name: string; status: string }[];
  assert.deepEqual(checks.map((c) => c.name), runChecks(realHost).map((c) => c.name));
  assert.ok(checks.every((c) => ['ok', 'warn', 'missing'].includes(c.status)));
});

test('a cgroup v2 host lists its controllers', () => {
  const h = fakeHost({
    '/proc/self/mountinfo': mountinfo(['/sys/fs/cgroup', 'cgroup2', 'rw,nsdelegate']),
    '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
  });
  assert.deepEqual(checkCgroups(h), [
    { name: 'cgroups', status: 'ok', detail: 'v2 (unified) at /sys/fs/cgroup; controllers: cpuset cpu io memory hugetlb pids rdma misc' },
  ]);
});

test('a hybrid host is explained: v1 controllers in use, v2 in the lab VM', () => {
  const h = fakeHost({
    '/proc/self/mountinfo': mountinfo(
      ['/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'],
      ['/sys/fs/cgroup/cpu,cpuacct', 'cgroup', 'rw,cpu,cpuacct'],
      ['/sys/fs/cgroup/pids', 'cgroup', 'rw,pids'],
      ['/sys/fs/cgroup/unified', 'cgroup2', 'rw,nsdelegate'],
    ),
    '/sys/fs/cgroup/unified/cgroup.controllers': '\n',
  });
  const [main, v2] = checkCgroups(h);
  assert.equal(main?.detail, 'hybrid: v1 controllers cpu cpuacct memory pids; cgroup2 at /sys/fs/cgroup/unified with no controllers');
  assert.equal(v2?.status, 'warn');
  assert.match(v2?.fix ?? '', /systemd\.unified_cgroup_hierarchy=1/);
});

test('a v1 host without the pids controller is warned about', () => {
  const h = fakeHost({ '/proc/self/mountinfo': mountinfo(['/sys/fs/cgroup/memory', 'cgroup', 'rw,memory'], ['/sys/fs/cgroup/cpu', 'cgroup', 'rw,cpu']) });
  const checks = checkCgroups(h);
  assert.equal(checks[0]?.detail, 'v1 only: controllers cpu memory');
  assert.deepEqual(checks.slice(1).map((c) => c.name), ['cgroup pids']);
});

test('user namespaces: disabled, root-only, and available', () => {
  assert.equal(checkUserNamespaces(fakeHost({ '/proc/sys/user/max_user_namespaces': '0\n' })).status, 'missing');
  const rootOnly = checkUserNamespaces(fakeHost({ '/proc/sys/user/max_user_namespaces': '100\n', '/proc/sys/kernel/unprivileged_userns_clone': '0\n' }));
  assert.equal(rootOnly.status, 'warn');
  assert.equal(checkUserNamespaces(fakeHost({ '/proc/sys/user/max_user_namespaces': '100\n' })).status, 'ok');
});

test('lsm: AppArmor active is ok, none is a warning with a fix', () => {
  assert.equal(checkLsm(fakeHost({ '/sys/kernel/security/lsm': 'lockdown,capability,landlock,yama,apparmor' })).status, 'ok');
  const none = checkLsm(fakeHost({ '/sys/kernel/security/lsm': 'lockdown,capability' }));
  assert.equal(none.status, 'warn');
  assert.ok(none.fix);
});

test('missing tools name the Debian package; a dynamic busybox is flagged', () => {
  const checks = checkTools(fakeHost({}, { which: (c) => (c === 'busybox' ? '/bin/busybox' : undefined), isStaticElf: () => false }));
  const by = new Map(checks.map((c) => [c.name, c]));
  assert.equal(by.get('unshare')?.status, 'missing');
  assert.equal(by.get('unshare')?.fix, 'apt-get install util-linux');
  assert.equal(by.get('debootstrap')?.status, 'warn');
  assert.equal(by.get('busybox')?.status, 'warn');
  assert.equal(by.get('busybox')?.fix, 'apt-get install busybox-static');
  assert.match(formatChecks(checks), /^\d+ missing, \d+ warnings: fix the missing ones first$/m);
});

test('the static-ELF reader tells the static busybox from a dynamic binary', () => {
  const bb = realHost.which('busybox');
  assert.ok(bb, 'busybox-static must be installed');
  assert.equal(realHost.isStaticElf(bb), true);
  assert.equal(realHost.isStaticElf('/bin/ls'), false);
});
