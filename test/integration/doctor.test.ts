/*
 * runts doctor: the real command on this host (root, Debian 12), and the
 * checks against recorded hosts of the three cgroup kinds and with tools
 * missing, so each verdict and each fix is seen at least once; the rootless
 * part also as a real unprivileged user (test/lib/rootless.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkCgroups, checkLsm, checkTools, checkUserNamespaces, formatChecks, realHost, runChecks, type Check, type Host } from '../../src/doctor/checks.ts';
import { checkRootless } from '../../src/doctor/rootless.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { fileSkip } from '../lib/host.ts';
import { createRootlessUser, rootlessPrerequisites } from '../lib/rootless.ts';

checkLeaksAfterFile();

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
    stat: () => undefined,
    fileCaps: () => undefined,
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

test('user namespaces: disabled, root-only, kept from users by AppArmor, and available', () => {
  assert.equal(checkUserNamespaces(fakeHost({ '/proc/sys/user/max_user_namespaces': '0\n' })).status, 'missing');
  const rootOnly = checkUserNamespaces(fakeHost({ '/proc/sys/user/max_user_namespaces': '100\n', '/proc/sys/kernel/unprivileged_userns_clone': '0\n' }));
  assert.equal(rootOnly.status, 'warn');
  const apparmor = checkUserNamespaces(fakeHost({ '/proc/sys/user/max_user_namespaces': '100\n', '/proc/sys/kernel/apparmor_restrict_unprivileged_userns': '1\n' }));
  assert.equal(apparmor.status, 'warn');
  assert.match(apparmor.fix ?? '', /apparmor_restrict_unprivileged_userns=0/);
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

const passwd = 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n';
const v2Mounts = mountinfo(['/sys/fs/cgroup', 'cgroup2', 'rw,nsdelegate']);
const service = '/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service';
const byName = (checks: Check[]) => new Map(checks.map((c) => [c.name, c]));

test('rootless, all there: ranges, setuid helpers, a delegated v2 subtree, pasta', () => {
  const h = fakeHost(
    { '/etc/passwd': passwd, '/etc/subuid': 'alice:100000:65536\n', '/etc/subgid': 'alice:100000:65536\n', '/proc/self/mountinfo': v2Mounts, [`${service}/cgroup.controllers`]: 'memory pids\n' },
    { which: (c) => `/usr/bin/${c}`, stat: (p) => (p.startsWith(service) ? { mode: 0o40755, uid: 1000 } : { mode: 0o104755, uid: 0 }) },
  );
  const checks = checkRootless(h, 'alice');
  assert.ok(checks.every((c) => c.status === 'ok'), formatChecks(checks));
  const by = byName(checks);
  assert.equal(by.get('subuids')?.detail, 'alice: 100000-165535 (/etc/subuid)');
  assert.equal(by.get('newuidmap')?.detail, '/usr/bin/newuidmap, setuid root');
  assert.equal(by.get('cgroup delegation')?.detail, `${service} is delegated to uid 1000; controllers: memory pids`);
});

test('rootless, nothing there: each missing piece is a warning with its fix', () => {
  const h = fakeHost({ '/etc/passwd': passwd, '/etc/subuid': 'bob:100000:65536\n', '/proc/self/mountinfo': v2Mounts }, {
    which: (c) => (c === 'newgidmap' ? '/usr/bin/newgidmap' : undefined),
    stat: (p) => (p.startsWith(service) ? { mode: 0o40755, uid: 0 } : { mode: 0o100755, uid: 0 }),
  });
  const by = byName(checkRootless(h, 'alice'));
  assert.deepEqual([...by.values()].map((c) => c.status), ['warn', 'warn', 'warn', 'warn', 'warn', 'warn']);
  assert.equal(by.get('subuids')?.fix, 'usermod --add-subuids 100000-165535 alice (a range no other user has)');
  assert.equal(by.get('newuidmap')?.fix, 'apt-get install uidmap');
  assert.match(by.get('newgidmap')?.detail ?? '', /neither setuid root nor has file capabilities/);
  assert.match(by.get('cgroup delegation')?.detail ?? '', /belongs to uid 0: not delegated to uid 1000/);
  assert.match(by.get('cgroup delegation')?.fix ?? '', /Delegate=yes/);
  assert.equal(by.get('rootless network')?.fix, 'apt-get install passt (or slirp4netns)');
  // file capabilities instead of setuid are fine; cgroup v1 means no delegation at all
  const caps = fakeHost({ '/etc/passwd': passwd, '/proc/self/mountinfo': mountinfo(['/sys/fs/cgroup/memory', 'cgroup', 'rw,memory']) }, { which: (c) => `/usr/bin/${c}`, stat: () => ({ mode: 0o100755, uid: 0 }), fileCaps: () => 'cap_setuid=ep' });
  const cby = byName(checkRootless(caps, 'alice'));
  assert.equal(cby.get('newuidmap')?.detail, '/usr/bin/newuidmap, file capabilities cap_setuid=ep');
  assert.match(cby.get('cgroup delegation')?.detail ?? '', /^cgroup v1 controllers: no delegation/);
});

test('rootless checks for root ask for a user; an unknown user is an error', () => {
  assert.deepEqual(checkRootless(fakeHost({ '/etc/passwd': passwd })).map((c) => c.detail), ['checked for root: name the user who will run runts rootless with --user NAME']);
  assert.throws(() => checkRootless(fakeHost({ '/etc/passwd': passwd }), 'nosuch'), /--user nosuch: no such user in \/etc\/passwd/);
  const r = spawnSync(RUNTS, ['doctor', '--user', 'rtt-no-such-user'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'runts: --user rtt-no-such-user: no such user in /etc/passwd\n');
});

test('runts doctor as a real unprivileged user, and about it from root: its ranges and the helpers', { skip: fileSkip('rootless doctor', rootlessPrerequisites()) }, async () => {
  const user = createRootlessUser({ subids: true });
  try {
    const range = `${user.subuid!.start}-${user.subuid!.start + 65535}`;
    const own = await user.runts$(['doctor']);
    assert.match(own.stdout, new RegExp(`^ok +subuids +${user.name}: ${range} \\(/etc/subuid\\)$`, 'm'), own.stdout + own.stderr);
    assert.match(own.stdout, /^ok +newuidmap +\S+newuidmap, setuid root$/m);
    assert.match(own.stdout, /^(ok|warn) +cgroup delegation /m);
    const about = spawnSync(RUNTS, ['doctor', '--user', user.name], { encoding: 'utf8' });
    assert.match(about.stdout, new RegExp(`^ok +subgids +${user.name}: ${range} \\(/etc/subgid\\)$`, 'm'));
  } finally {
    user.remove();
  }
});
