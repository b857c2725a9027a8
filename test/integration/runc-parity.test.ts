/*
 * Where runts behaves as runc does, because engines, scripts and runc's own
 * test suite read it: exit statuses of the OCI verbs, --debug and --log
 * output, help and version text, `list --format json`, the default spec's
 * namespaces, the order of setup steps (cwd before and after the user
 * switch), pre-existing cgroups, `exec --cgroup`, the terminal's owner,
 * recursive mount options, a read-only /dev, --no-pivot and /proc, seccomp's
 * ENOSYS for newer syscalls, hooks, bind sources a user namespace cannot
 * reach, and proc refused on a symlink. Every test passes against runc too
 * (RUNTS_BIN=/usr/sbin/runc).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addMounts, withArgs, type OciSpec } from '../lib/bundle.ts';
import { RUN_PREFIX } from '../lib/cleanup.ts';
import { listenConsole } from '../lib/console.ts';
import { assertFails, assertOk, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { lacks } from '../lib/host.ts';
import { describeResult } from '../lib/runtime.ts';
import { defaultSeccompProfile } from '../../src/security/seccomp/default-profile.ts';

checkLeaksAfterFile();

const V2_HOST = existsSync('/sys/fs/cgroup/cgroup.controllers');
const shell = (script: string) => (s: OciSpec) => { s.process!.args = ['/bin/sh', '-c', script]; };

async function runningSleeper(c: Ctx, patch: Parameters<Ctx['bundle']>[0] = withArgs('sleep', '600')) {
  const ct = await c.create(c.bundle(patch));
  await c.start(ct.id);
  return ct;
}

const HIERARCHIES = V2_HOST ? [''] : ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified'];

/** Removes dir (a cgroup path) from every hierarchy at the end, if it is there and empty. */
function removeAtEnd(c: Ctx, dir: string) {
  c.defer(`rmdir ${dir}`, () => {
    for (const h of HIERARCHIES) {
      try { rmdirSync(join('/sys/fs/cgroup', h, dir)); } catch { /* absent, or not empty: the leak check says */ }
    }
  });
}

/** A cgroupsPath below a parent of this test run's own, removed (if empty) at the end. */
function cgroupsPath(c: Ctx, id: string): string {
  const parent = `/${RUN_PREFIX}-parity`;
  removeAtEnd(c, parent);
  return `${parent}/${id}`;
}

containerTest('exit statuses: exec failing itself exits 255, every other verb 1, a command its own status', async (c) => {
  const ct = await runningSleeper(c);
  assert.equal((await c.runts(['exec', ct.id, '/bin/sh', '-c', 'exit 42'])).code, 42);
  for (const args of [[ct.id, 'no-such-binary'], ['no-such-container', 'true'], ['--pid-file', '/non-existent/directory', ct.id, 'true']]) {
    const r = await c.runts(['exec', ...args]);
    assert.equal(r.code, 255, describeResult(r));
  }
  const missing = await c.run(c.bundle((s) => { s.process!.args = ['/no/such/binary']; }));
  assert.equal(missing.code, 1, describeResult(missing));
  const state = await c.runts(['state', 'no-such-container']);
  assert.equal(state.code, 1, describeResult(state));
});

containerTest('--debug: logrus-style debug lines to stderr, or only to --log (text or json) when there is one', async (c) => {
  const bundle = c.bundle(shell('true'));
  const plain = await c.runts(['--debug', 'run', '--bundle', bundle.dir, c.newId()]);
  assertOk(plain);
  assert.match(plain.stderr, /level=debug/);
  for (const stage of ['nsexec container setup', 'child process in init()', 'init: closing the pipe to signal completion']) {
    assert.ok(plain.stderr.includes(stage), `stderr names the stage "${stage}": ${plain.stderr}`);
  }
  for (const format of ['text', 'json']) {
    const log = join(c.dir, `debug-${format}.log`);
    const r = await c.runts(['--log', log, '--log-format', format, '--debug', 'run', '--bundle', bundle.dir, c.newId()]);
    assertOk(r);
    assert.doesNotMatch(r.stderr, /level=debug/, 'debug output went to the log, not to stderr');
    assert.ok(readFileSync(log, 'utf8').includes(format === 'json' ? '"level":"debug"' : 'level=debug'), readFileSync(log, 'utf8'));
  }
  const ct = await runningSleeper(c);
  const exec = await c.runts(['--debug', 'exec', ct.id, 'true']);
  assertOk(exec);
  assert.ok(exec.stderr.includes('setns_init: about to exec'), exec.stderr);
});

containerTest('help has a NAME section naming the runc verb, an unknown verb has no help, -v prints version, commit and spec', async (c) => {
  for (const verb of ['delete', 'exec', 'kill', 'list', 'run', 'spec', 'state', 'update', 'checkpoint', 'restore']) {
    const r = await c.runts([verb, '-h']);
    assertOk(r);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'NAME:');
    assert.ok(lines[1]!.includes(`runc ${verb}`), `${verb} -h, line 2: ${lines[1]}`);
  }
  const top = await c.runts(['--help']);
  assertOk(top);
  assert.ok(top.stdout.split('\n')[1]!.includes('runc - Open Container Initiative runtime'), top.stdout);
  const foo = await c.runts(['foo', '-h']);
  assert.notEqual(foo.code, 0);
  assert.ok((foo.stdout + foo.stderr).includes("No help topic for 'foo'"), describeResult(foo));
  const v = await c.runts(['-v']);
  assertOk(v);
  const [version, commit, spec] = v.stdout.split('\n');
  assert.match(version!, /runc version \d+\.\d+\.\d+/);
  assert.match(commit!, /^commit:/);
  assert.match(spec!, /^spec: \d+\.\d+\.\d+/);
});

containerTest('list --format json and state: runc\'s keys in runc\'s order', async (c) => {
  const ct = await runningSleeper(c);
  const r = await c.runts(['list', '--format', 'json']);
  assertOk(r);
  const [entry] = JSON.parse(r.stdout) as Record<string, unknown>[];
  assert.deepEqual(Object.keys(entry!).filter((k) => k !== 'annotations'), ['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'owner']);
  assert.equal(entry!.id, ct.id);
  const state = await c.runts(['state', ct.id]);
  assert.deepEqual(Object.keys(JSON.parse(state.stdout) as object).slice(0, 4), ['ociVersion', 'id', 'pid', 'status']);
});

containerTest('spec: a cgroup namespace on cgroup v2 hosts only, as runc spec writes it', async (c) => {
  const dir = c.tempDir('spec');
  assertOk(await c.runts(['spec', '--bundle', dir]));
  const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as OciSpec;
  assert.equal(spec.linux!.namespaces!.some((n) => n.type === 'cgroup'), V2_HOST);
});

containerTest('cwd: entered as root first, so exec --user 0 reaches a cwd only the container\'s user may enter', async (c) => {
  const bundle = c.bundle([withArgs('sleep', '600'), { process: { cwd: '/root', user: { uid: 42, gid: 42 } } }]);
  chownSync(join(bundle.rootfs, 'root'), 42, 42);
  chmodSync(join(bundle.rootfs, 'root'), 0o700);
  const ct = await c.create(bundle);
  await c.start(ct.id);
  const r = await c.runts(['exec', '--user', '0', ct.id, 'true']);
  assertOk(r);
});

containerTest('a pre-existing cgroup: frozen is refused and left as it was, with processes gives a warning', async (c) => {
  if (lacks(c.t, V2_HOST && 'the frozen-cgroup case is written for the v1 freezer of this hybrid host')) return;
  const id = c.newId();
  const path = cgroupsPath(c, id);
  const freezer = join('/sys/fs/cgroup/freezer', path);
  mkdirSync(freezer, { recursive: true });
  c.defer(`remove ${freezer}`, () => { writeFileSync(join(freezer, 'freezer.state'), 'THAWED'); rmdirSync(freezer); });
  writeFileSync(join(freezer, 'freezer.state'), 'FROZEN');
  const frozen = await c.tryCreate(c.bundle([withArgs('sleep', '600'), { linux: { cgroupsPath: path } }]), { id });
  assertFails(frozen.result, "container's cgroup unexpectedly frozen");
  assert.equal(readFileSync(join(freezer, 'freezer.state'), 'utf8').trim(), 'FROZEN', 'not ours to thaw or remove');
  writeFileSync(join(freezer, 'freezer.state'), 'THAWED');

  const shared = cgroupsPath(c, `${id}-shared`);
  await runningSleeper(c, [withArgs('sleep', '600'), { linux: { cgroupsPath: shared } }]);
  const second = await c.tryCreate(c.bundle([withArgs('sleep', '600'), { linux: { cgroupsPath: shared } }]));
  assertOk(second.result);
  assert.match(second.result.stderr, /container's cgroup is not empty: 1 process\(es\) found/);
});

containerTest('cgroup v1: linux.resources.unified is an invalid configuration', async (c) => {
  if (lacks(c.t, V2_HOST && 'unified keys are valid on a cgroup v2 host')) return;
  const r = await c.tryCreate(c.bundle({ linux: { resources: { unified: { 'memory.min': '131072' } } } }));
  assertFails(r.result, 'invalid configuration');
});

containerTest('exec --cgroup: a sub-cgroup of the container\'s, per controller on v1; nothing above it', async (c) => {
  if (lacks(c.t, V2_HOST && 'written for the per-controller paths of this hybrid host')) return;
  const id = c.newId();
  const path = cgroupsPath(c, id);
  const ct = await runningSleeper(c, [withArgs('sleep', '600'), { linux: { cgroupsPath: path } }]);
  const r = await c.runts(['exec', '--cgroup', '..', ct.id, 'true']);
  assertFails(r, ' .. is not a sub cgroup path');
  assertFails(await c.runts(['exec', '--cgroup', 'whaaat:/', ct.id, 'true']), 'unknown controller ');
  const missing = await c.runts(['exec', '--cgroup', 'cpu:nonexistent', ct.id, 'true']);
  assert.match(missing.stderr, / adding pid .*\/nonexistent\/cgroup\.procs: no such file /);
  const sub = join('/sys/fs/cgroup/memory', path, 'submem');
  mkdirSync(sub);
  c.defer(`rmdir ${sub}`, () => { try { rmdirSync(sub); } catch { /* removed with the container */ } });
  const inSub = await c.runts(['exec', '--cgroup', 'memory:submem', ct.id, 'cat', '/proc/self/cgroup']);
  assertOk(inSub);
  assert.match(inSub.stdout, new RegExp(`:memory:${path}/submem$`, 'm'));
  assert.match(inSub.stdout, new RegExp(`:pids:${path}$`, 'm'), 'the other controllers: the container\'s cgroup');
});

containerTest('update: --memory -1 lifts a memory+swap limit too, --cpu-share is runc\'s spelling, a shorter period fits under a pod\'s quota; a pod parent\'s empty cpuset is filled', async (c) => {
  if (lacks(c.t, V2_HOST && 'written for the v1 memory.memsw and cpuset files of this hybrid host')) return;
  if (lacks(c.t, !existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') && 'the kernel does not account swap (swapaccount=0)')) return;
  const id = c.newId();
  const pod = cgroupsPath(c, 'pod');
  removeAtEnd(c, pod); // the runtime removes its own leaf, not the pod's cgroup
  mkdirSync(join('/sys/fs/cgroup/cpuset', pod), { recursive: true }); // made by someone else: cpus and mems empty
  mkdirSync(join('/sys/fs/cgroup/cpu', pod), { recursive: true });
  writeFileSync(join('/sys/fs/cgroup/cpu', pod, 'cpu.cfs_quota_us'), '50000'); // the pod: 50% of a CPU
  const path = `${pod}/${id}`;
  const ct = await runningSleeper(c, [withArgs('sleep', '600'), { linux: { cgroupsPath: path, resources: { memory: { limit: 33554432, swap: 67108864 } } } }]);
  const mem = (file: string) => readFileSync(join('/sys/fs/cgroup/memory', path, file), 'utf8').trim();
  assertOk(await c.runts(['update', '--memory', '-1', ct.id]));
  assert.equal(mem('memory.memsw.limit_in_bytes'), mem('memory.limit_in_bytes'), 'both unlimited');
  assert.ok(Number(mem('memory.limit_in_bytes')) > 2 ** 40);
  assertOk(await c.runts(['update', '--cpu-share', '200', ct.id]));
  const cpu = (file: string) => readFileSync(join('/sys/fs/cgroup/cpu', path, file), 'utf8').trim();
  assert.equal(cpu('cpu.shares'), '200');
  assertOk(await c.runts(['update', '--cpu-period', '10000', '--cpu-quota', '3000', ct.id]));
  assert.deepEqual([cpu('cpu.cfs_period_us'), cpu('cpu.cfs_quota_us')], ['10000', '3000']);
});

// (an allow rule with such a letter runc takes, runts refuses: test/unit/cgroup-resources.test.ts)
containerTest('device rules: a deny rule may carry a letter that names no access ("rwa")', async (c) => {
  const deny = c.bundle([shell('head -c 1 /dev/kmsg 2>/dev/null; echo read-done'), {
    linux: { resources: { devices: [{ allow: false, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 11, access: 'rwa' }] }, devices: [{ path: '/dev/kmsg', type: 'c', major: 1, minor: 11 }] },
  }]);
  const r = await c.run(deny);
  assertOk(r);
  assert.equal(readFileSync(r.outFile, 'utf8').trim(), 'read-done', '/dev/kmsg stays denied');
});

containerTest('exec --tty: a process of uid 1000 owns its terminal; the group stays devpts\' (5)', async (c) => {
  const ct = await runningSleeper(c);
  const rx = await listenConsole(join(c.dir, 'tty.sock'));
  c.defer('stop console receiver', () => rx.kill());
  const proc = join(c.dir, 'process.json');
  writeFileSync(proc, JSON.stringify({ terminal: true, user: { uid: 1000, gid: 100 }, cwd: '/', args: ['/bin/sh', '-c', 'stat -c %u:%g $(tty)'], env: ['PATH=/bin'] }));
  assertOk(await c.runts(['exec', '--detach', '--process', proc, '--console-socket', rx.socketPath, ct.id]));
  const tty = await rx.done;
  assert.equal((tty.output ?? '').trim(), '1000:5', JSON.stringify(tty));
});

containerTest('exec --process without a user runs as root', async (c) => {
  const ct = await runningSleeper(c);
  const proc = join(c.dir, 'process.json');
  writeFileSync(proc, JSON.stringify({ cwd: '/', args: ['/bin/sh', '-c', 'id -u'], env: ['PATH=/bin'] }));
  const r = await c.runts(['exec', '--process', proc, ct.id]);
  assertOk(r);
  assert.equal(r.stdout.trim(), '0');
});

containerTest('rbind with rro: every mount of the tree is read-only; ro alone leaves the submounts writable', async (c) => {
  const vol = c.tempDir('volume');
  c.hostMount(vol, '-t', 'tmpfs', 'none');
  mkdirSync(join(vol, 'subvol'));
  c.hostMount(join(vol, 'subvol'), '-t', 'tmpfs', 'none');
  const touch = shell('touch /mnt/foo 2>&1; touch /mnt/subvol/bar 2>&1; echo done');
  const rro = await c.run(c.bundle([touch, addMounts({ destination: '/mnt', source: vol, options: ['rbind', 'rro'] })]));
  assertOk(rro);
  assert.equal((readFileSync(rro.outFile, 'utf8').match(/Read-only file system/g) ?? []).length, 2, readFileSync(rro.outFile, 'utf8'));
  const ro = await c.run(c.bundle([touch, addMounts({ destination: '/mnt', source: vol, options: ['rbind', 'ro'] })]));
  assertOk(ro);
  assert.equal((readFileSync(ro.outFile, 'utf8').match(/Read-only file system/g) ?? []).length, 1, readFileSync(ro.outFile, 'utf8'));
});

containerTest('a read-only /dev: mounted read-only once its mounts and nodes are in', async (c) => {
  const bundle = c.bundle([shell('grep "^tmpfs /dev " /proc/mounts'), (s) => {
    s.mounts!.find((m) => m.destination === '/dev')!.options!.push('ro');
  }]);
  const r = await c.run(bundle);
  assertOk(r);
  assert.match(readFileSync(r.outFile, 'utf8'), /^tmpfs \/dev tmpfs ro,/);
});

containerTest('--no-pivot: no full /proc of the host stays, so a nested user namespace cannot mount a bare one', async (c) => {
  const bundle = c.bundle([
    (s) => { s.process!.args = ['unshare', '-mrpf', 'sh', '-euc', 'mount -t proc none /proc && echo h > /proc/sysrq-trigger']; },
    (s) => { s.process!.capabilities!.bounding!.push('CAP_SETFCAP'); s.process!.capabilities!.permitted!.push('CAP_SETFCAP'); },
  ]);
  const r = await c.run(bundle, { flags: ['--no-pivot'] });
  assert.equal(r.code, 1, describeResult(r));
  assert.match(readFileSync(r.outFile, 'utf8') + r.stderr, /mount: permission denied/);
});

containerTest('seccomp: a syscall newer than the profile knows fails with ENOSYS, not the default errno', async (c) => {
  // the default profile (it names ~370 syscalls, up to clone3's era), with EPERM as its default
  const bundle = c.bundle((s) => { s.linux!.seccomp = { ...defaultSeccompProfile(s.process!.capabilities?.bounding ?? []), defaultErrnoRet: 1 }; });
  const src = join(c.dir, 'enosys.c');
  writeFileSync(src, '#include <errno.h>\n#include <stdio.h>\n#include <unistd.h>\nint main(void) { long r = syscall(1000, 0, 0, 0); printf("%ld %d\\n", r, errno); return 0; }\n');
  const cc = spawnSync('cc', ['-static', '-O2', '-o', join(bundle.rootfs, 'enosys'), src], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  bundle.config.process!.args = ['/enosys'];
  writeFileSync(bundle.configPath, JSON.stringify(bundle.config));
  const r = await c.run(bundle);
  assertOk(r);
  assert.equal(readFileSync(r.outFile, 'utf8').trim(), '-1 38');
});

containerTest('hooks: startContainer runs under the container\'s filter; createContainer starts in the root', async (c) => {
  const filtered = c.bundle([withArgs(), {
    linux: { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL' }] } },
    hooks: { startContainer: [{ path: '/bin/mkdir', args: ['mkdir', '/tmp/foo'] }] },
  }]);
  const r = await c.run(filtered);
  assert.notEqual(r.code, 0, describeResult(r));
  assert.match(r.stderr, /error running hook/);
  assert.match(r.stderr, /bad system call/);

  const here = c.bundle([shell('true'), { root: { readonly: false }, hooks: { createContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'touch ./created-here'] }] } }]);
  assertOk(await c.run(here));
  assert.ok(existsSync(join(here.rootfs, 'created-here')), 'the hook\'s ./ is the container\'s root');
});

containerTest('exec into a paused container: refused with runc\'s words', async (c) => {
  const ct = await runningSleeper(c);
  assertOk(await c.runts(['pause', ct.id]));
  c.defer(`resume ${ct.id}`, () => c.runts(['resume', ct.id]));
  const r = await c.runts(['exec', ct.id, 'true']);
  assert.equal(r.code, 255);
  assertFails(r, 'cannot exec in a paused container');
});

// runc's userns.bats: a source the container's root (host uid 100000) may
// not search is opened on the host's side before the namespace, so the
// mount still happens; exec sees it too. runts clones such a tree from
// PARENT (STEP_CLONE_TREE); a reachable one stays a plain bind.
containerTest('user namespace: bind sources its root cannot reach are mounted anyway, read-only kept, and exec sees them', async (c) => {
  const sources = [1, 2].map((n) => {
    const outer = c.tempDir(`inaccessible-${n}`);
    mkdirSync(join(outer, 'dir'));
    writeFileSync(join(outer, 'dir', 'foo.txt'), `file ${n}\n`);
    chmodSync(outer, 0o700);
    return join(outer, 'dir');
  });
  const bundle = c.bundle([
    (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65534 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65534 }];
      s.mounts!.push({ source: sources[0]!, destination: '/mnt/one', options: ['bind'] }, { source: sources[1]!, destination: '/mnt/two', options: ['bind', 'ro'] });
    },
    withArgs('sleep', '600'),
  ], { prepareRootfs: (rootfs) => ['one', 'two'].forEach((d) => mkdirSync(join(rootfs, 'mnt', d), { recursive: true })) });
  const ct = await c.create(bundle);
  await c.start(ct.id);
  const r = await c.runts(['exec', ct.id, 'cat', '/mnt/one/foo.txt', '/mnt/two/foo.txt']);
  assertOk(r);
  assert.equal(r.stdout, 'file 1\nfile 2\n');
  const ro = await c.runts(['exec', ct.id, 'sh', '-c', 'grep " /mnt/two " /proc/self/mountinfo']);
  assert.match(ro.stdout, / \/mnt\/two ro[, ]/, describeResult(ro));
});

// runc's mask.bats: proc (and sysfs) go only on an ordinary directory; a
// symlink in its place, dangling or into the root, is refused, not followed.
containerTest('proc is never mounted through a symlink at /proc: one message, nothing left', async (c) => {
  for (const link of ['/symlink', '/etc']) {
    const bundle = c.bundle(withArgs('true'), { prepareRootfs: (rootfs) => { rmSync(join(rootfs, 'proc'), { recursive: true, force: true }); symlinkSync(link, join(rootfs, 'proc')); } });
    const { result } = await c.tryCreate(bundle);
    assertFails(result, 'must be mounted on ordinary directory');
  }
  await c.assertNothingLeft();
});
