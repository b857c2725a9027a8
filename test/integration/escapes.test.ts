/*
 * Escapes that must fail. Each test starts a default container (the
 * `runc spec` configuration: three capabilities, masked and read-only /proc
 * and /sys paths, no_new_privs, plus runts's default seccomp profile, as
 * the friendly front end gives it) and tries one way out, naming the rule
 * or the CVE it guards. The attempts are raw system calls made by
 * test/escapes/attempt.c, so a result is the kernel's answer, not a shell's.
 *
 * The book tells these stories in docs/08-security.md ("Masked and read-only
 * paths", "Why the order of the steps matters", "An escape matrix").
 * More regression tests for the same CVEs live in security.test.ts:
 * the /proc symlink (CVE-2019-19921), /dev/null as a regular file
 * (CVE-2025-31133), cwd through a leaked fd (CVE-2024-21626) and the init
 * binary seen from the host (CVE-2019-5736).
 *
 * An escape that "fails" for the wrong reason proves nothing: each test
 * asserts the specific refusal (the errno, EROFS for a read-only path, the
 * null device for a masked file), or that the container ran and stayed
 * contained. A path this host's kernel does not have is a visible skip.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigPatch, OciSpec } from '../lib/bundle.ts';
import { assertCwdContained, assertFails, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { isMountPoint } from '../lib/host.ts';
import { parseProbe, parseProbeJson, REPO, type ProbeReport, type StatEntry } from '../lib/probe.ts';
import { describeResult, type RuntsResult } from '../lib/runtime.ts';
import { defaultSeccompProfile } from '../../src/security/seccomp/default-profile.ts';

checkLeaksAfterFile();

/* ---- the attempt helper, built static once per source ---- */

let attemptBin: string | undefined;
function attemptBinary(): string {
  if (attemptBin) return attemptBin;
  const src = join(REPO, 'test/escapes/attempt.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'runts-test-cache');
  const bin = join(dir, `attempt-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const cc = spawnSync('cc', ['-static', '-O2', '-o', `${bin}.${process.pid}`, src], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`building test/escapes/attempt.c failed: ${cc.stderr || cc.error}`);
    chmodSync(`${bin}.${process.pid}`, 0o755);
    renameSync(`${bin}.${process.pid}`, bin);
  }
  attemptBin = bin;
  return bin;
}

const withAttempt = (more?: (rootfs: string) => void) => ({
  prepareRootfs: (rootfs: string) => {
    copyFileSync(attemptBinary(), join(rootfs, 'attempt'));
    chmodSync(join(rootfs, 'attempt'), 0o755);
    more?.(rootfs);
  },
});

/** The defaults of the friendly front end: runc's spec plus the default seccomp profile. */
function defaults(s: OciSpec): void {
  s.linux!.seccomp = defaultSeccompProfile(s.process!.capabilities?.bounding ?? []);
}

/** Run a shell line in a default container; each attempt prints one JSON line. */
async function attempts(c: Ctx, script: string, patch: ConfigPatch = [], more?: (rootfs: string) => void): Promise<Record<string, string>[]> {
  const r = await c.run(c.bundle([defaults, (s) => { s.process!.args = ['/bin/sh', '-c', script]; }, patch], withAttempt(more)));
  const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  assert.ok(lines.length > 0, `no attempt reported: ${describeResult(r)}`);
  return lines.map((l) => JSON.parse(l) as Record<string, string>);
}

async function attempt(c: Ctx, args: string, patch: ConfigPatch = []): Promise<string> {
  const [first] = await attempts(c, `/attempt ${args}`, patch);
  return first!.result!;
}

async function probeIn(c: Ctx, args: string[]) {
  const r = await c.run(c.bundle([defaults, (s) => { s.process!.args = ['/probe', ...args]; }]));
  assert.equal(r.code, 0, describeResult(r));
  return r.stdout;
}

/** Probe commands run one after the other in one default container: one parsed JSON object each. */
async function probesIn(c: Ctx, commands: string[][]): Promise<Record<string, unknown>[]> {
  const script = commands.map((args) => ['/probe', ...args].join(' ')).join('; ');
  const r = await c.run(c.bundle([defaults, (s) => { s.process!.args = ['/bin/sh', '-c', script]; }]));
  assert.equal(r.code, 0, describeResult(r));
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, commands.length, `one line per probe: ${describeResult(r)}`);
  return lines.map((l) => parseProbeJson<Record<string, unknown>>(l));
}

/*
 * The host-side checks of the CVE tests below hold for a runtime that does
 * nothing at all: each also requires that the container ran (the probe
 * printed its one line), or that it was refused with one error line naming
 * the hostile path, not that it failed for some other reason.
 */
function ranOrRefused(r: RuntsResult, path: string): void {
  if (r.code === 0) assert.match(r.stdout, /^\{.*\}\n$/, `the probe ran: ${describeResult(r)}`);
  else assertFails(r, path);
}

/* A path this host's kernel does not have (no CONFIG_MAGIC_SYSRQ, cgroup v1, ...) proves nothing: a visible skip. */
const missingOnHost = (path: string) => (existsSync(path) ? false : `${path} does not exist on this host`);

/* ---- the kernel's own interfaces ---- */

// Rule: mounting needs CAP_SYS_ADMIN in the mount namespace's owner; a default container has none.
containerTest('rule: a default container cannot mount anything', async (c) => {
  assert.equal(await attempt(c, 'mount tmpfs /mnt'), 'EPERM');
  assert.equal(await attempt(c, 'mount proc /tmp'), 'EPERM');
});

// Rule: /proc/sys is a read-only bind (readonlyPaths); its writes would reach the host's kernel.
containerTest('rule: /proc/sys cannot be written', async (c) => {
  const r = parseProbeJson<{ write: string }>(await probeIn(c, ['write', '/proc/sys/vm/drop_caches', '1']));
  assert.equal(r.write, 'EROFS');
});

// Rule: /proc/sysrq-trigger is read-only; writing it would command the host's kernel.
containerTest('rule: /proc/sysrq-trigger cannot be written', async (c) => {
  const why = missingOnHost('/proc/sysrq-trigger');
  if (why) return c.t.skip(why);
  const r = parseProbeJson<{ write: string }>(await probeIn(c, ['write', '/proc/sysrq-trigger', 'h']));
  assert.equal(r.write, 'EROFS');
});

// Rule: /sys is mounted read-only (the cgroup files included). Each path is
// a subtest: on this machine's kernel some do not exist, and those are skipped.
containerTest('rule: nothing under /sys can be written', async (c) => {
  const file = '/sys/kernel/mm/ksm/run';
  const current = existsSync(file) ? readFileSync(file, 'utf8').trim() : '0';
  const paths = [file, '/sys/fs/cgroup/cgroup.procs', '/sys/kernel/uevent_helper'];
  const results = await probesIn(c, paths.map((path) => ['write', path, current]));
  for (const [i, path] of paths.entries()) {
    await c.t.test(path, { skip: missingOnHost(path) }, () => assert.deepEqual(results[i], { write: 'EROFS' }));
  }
});

// Rule: maskedPaths hide kernel memory, keys and timers. A masked file is
// /dev/null bound over it (the null device, reading empty; unmasked,
// /proc/kcore would be EPERM and /proc/keys would list keys); a masked
// directory is an empty read-only tmpfs. Paths this kernel lacks are skipped.
containerTest('rule: masked paths read as empty (/proc/kcore, /proc/keys, /proc/timer_list, /sys/firmware, /proc/acpi)', async (c) => {
  const files = ['/proc/kcore', '/proc/keys', '/proc/timer_list'];
  const dirs = ['/sys/firmware', '/proc/acpi'];
  const [report, ...results] = await probesIn(c, [[], ...files.flatMap((f) => [['stat', f], ['read', f]]), ...dirs.map((d) => ['ls', d])]);
  for (const [i, path] of files.entries()) {
    await c.t.test(path, { skip: missingOnHost(path) }, () => {
      const st = (results[2 * i] as { stat: Record<string, StatEntry> }).stat[path];
      assert.deepEqual([st?.type, st?.major, st?.minor], ['char', 1, 3], `${path} is the null device: ${JSON.stringify(st)}`);
      assert.deepEqual(results[2 * i + 1], { read: '' });
    });
  }
  const mounts = (report as unknown as ProbeReport).mounts ?? [];
  for (const [i, path] of dirs.entries()) {
    await c.t.test(path, { skip: missingOnHost(path) }, () => {
      const m = mounts.findLast((x) => x.mountPoint === path);
      assert.equal(m?.fsType, 'tmpfs', `${path} is a tmpfs: ${JSON.stringify(m)}`);
      assert.ok(m.options.split(',').includes('ro'), `${path} is read-only: ${m.options}`);
      assert.deepEqual(results[2 * files.length + i], { ls: [] });
    });
  }
});

// Rule: no CAP_MKNOD by default; and even with it, the devices cgroup refuses a block device.
containerTest('rule: a block device can be neither created nor, with CAP_MKNOD, used', async (c) => {
  assert.equal(await attempt(c, 'mknod /dev/blk 7 0'), 'EPERM');
  const withMknod: ConfigPatch = (s) => {
    for (const set of ['bounding', 'effective', 'permitted'] as const) s.process!.capabilities![set]!.push('CAP_MKNOD');
  };
  const [made, opened] = await attempts(c, '/attempt mknod /dev/blk 7 0; /attempt open /dev/blk', withMknod);
  assert.equal(made!.result, 'ok', 'with CAP_MKNOD the node itself may be made');
  assert.equal(opened!.result, 'EPERM', 'but the devices cgroup must refuse to open it');
});

// Rule: setting the clock needs CAP_SYS_TIME (and the default profile refuses it too).
containerTest('rule: a default container cannot set the clock', async (c) => {
  assert.equal(await attempt(c, 'settime'), 'EPERM');
});

// Rule: loading a kernel module needs CAP_SYS_MODULE.
containerTest('rule: a default container cannot load a kernel module', async (c) => {
  assert.equal(await attempt(c, 'module'), 'EPERM');
});

// Rule: reboot(2) needs CAP_SYS_BOOT (an EINVAL would mean the check passed).
containerTest('rule: a default container cannot reboot', async (c) => {
  assert.equal(await attempt(c, 'reboot'), 'EPERM');
});

// Rule: ptrace of a process the container did not start, even one it can see
// (here the container shares the host's pid namespace): the target holds
// capabilities the tracer lacks, which needs CAP_SYS_PTRACE.
containerTest('rule: a container cannot ptrace a host process, even one it can see', async (c) => {
  const victim = spawn('sleep', ['600'], { stdio: 'ignore' });
  c.defer('kill the ptrace victim', () => victim.kill('SIGKILL'));
  const hostPid: ConfigPatch = (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid'); };
  assert.equal(await attempt(c, `ptrace ${victim.pid}`, hostPid), 'EPERM');
  assert.equal(spawnSync('grep', ['-q', '^TracerPid:\\s*0$', `/proc/${victim.pid}/status`]).status, 0, 'the victim is not traced');
});

/* ---- the runtime's own weak spots ---- */

// CVE-2019-5736: the process that enters a container must not expose a
// writable runtime binary. Before `start`, the container's pid 1 is runts's
// init: from inside, /proc/1/exe must not open for writing. EACCES (the
// kernel keeps the runtime's process out of reach), EPERM (a sealed memfd)
// and EROFS are refusals; ETXTBSY would mean a file on disk, only busy for
// now: the exploit reopens it once the runtime is gone.
containerTest('CVE-2019-5736: the runtime seen as /proc/1/exe cannot be opened for writing from inside', async (c) => {
  const ct = await c.create(c.bundle([defaults, (s) => { s.process!.args = ['/probe', 'sleep', '600']; }], withAttempt()));
  const r = await c.runts(['exec', ct.id, '/attempt', 'write-exe', '1']);
  assert.equal(r.code, 0, describeResult(r));
  const result = (JSON.parse(r.stdout.trim()) as { result: string }).result;
  assert.ok(['EACCES', 'EPERM', 'EROFS'].includes(result), `open /proc/1/exe for writing: ${result}`);
});

// CVE-2024-21626: `exec` with cwd=/proc/self/fd/N must never start a process
// outside the root. An exec with an ordinary cwd must work (so a refusal
// below is not just a broken exec); then each N either runs with a cwd
// inside the root (fd N was a directory of the container's), or is refused
// by the chdir, naming the path and why (not a directory, no such fd).
containerTest('CVE-2024-21626: exec with cwd through /proc/self/fd/N never lands outside the root', async (c) => {
  const ct = await c.create(c.bundle([defaults, (s) => { s.process!.args = ['/probe', 'sleep', '600']; }]));
  await c.start(ct.id);
  const plain = await c.runts(['exec', '--cwd', '/tmp', ct.id, '/probe']);
  assert.equal(plain.code, 0, describeResult(plain));
  assert.equal(parseProbe(plain.stdout).cwd, '/tmp');
  for (let n = 3; n <= 10; n++) assertCwdContained(await c.runts(['exec', '--cwd', `/proc/self/fd/${n}`, ct.id, '/probe']), n);
});

// CVE-2021-30465: a symlink in the rootfs must not send a mount onto the host.
containerTest('CVE-2021-30465: a mount destination that is a symlink to a host path stays inside the rootfs', async (c) => {
  const hostTarget = c.tempDir('mount-target');
  const r = await c.run(c.bundle([
    defaults,
    (s) => { s.process!.args = ['/probe', 'stat', '/data']; s.mounts!.push({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] }); },
  ], { prepareRootfs: (rootfs) => symlinkSync(hostTarget, join(rootfs, 'data')) }));
  assert.equal(isMountPoint(hostTarget), false, `tmpfs was mounted on the host path (${describeResult(r)})`);
  assert.deepEqual(readdirSync(hostTarget), []);
  ranOrRefused(r, '/data'); // runts: "create mount target /data: no such file or directory" (resolved inside the root)
});

// CVE-2025-31133 / CVE-2019-19921 family: a masked path planted as a symlink to a host file must not mask (or write) the host file.
containerTest('CVE-2025-31133: a masked path that is a symlink to a host file never touches the host file', async (c) => {
  const hostDir = c.tempDir('masked-host');
  const hostFile = join(hostDir, 'precious');
  writeFileSync(hostFile, 'HOST\n');
  const r = await c.run(c.bundle([defaults, (s) => { s.linux!.maskedPaths = ['/etc/secret']; s.process!.args = ['/probe', 'write', '/etc/secret', 'PWNED\n']; }],
    { prepareRootfs: (rootfs) => symlinkSync(hostFile, join(rootfs, 'etc/secret')) }));
  assert.equal(isMountPoint(hostFile), false, 'the host file was masked');
  assert.equal(readFileSync(hostFile, 'utf8'), 'HOST\n');
  ranOrRefused(r, '/etc/secret'); // runts runs it: the symlink resolves inside the root, to nothing (the write: ENOENT)
});

// CVE-2025-52565 family: a read-only path planted as a symlink to a host directory must not make the host directory read-only.
containerTest('CVE-2025-52565: a read-only path that is a symlink to a host directory never remounts the host directory', async (c) => {
  const hostDir = c.tempDir('ro-host');
  const r = await c.run(c.bundle([defaults, (s) => { s.linux!.readonlyPaths = ['/ro']; }], { prepareRootfs: (rootfs) => symlinkSync(hostDir, join(rootfs, 'ro')) }));
  ranOrRefused(r, '/ro');
  assert.equal(isMountPoint(hostDir), false, 'the host directory got a read-only mount');
  writeFileSync(join(hostDir, 'still-writable'), 'yes');
  rmSync(join(hostDir, 'still-writable'));
});

// CVE-2025-31133 with a symlink: /dev/null itself planted as a symlink to a host file.
containerTest('CVE-2025-31133: masking with /dev/null planted as a symlink to a host file never writes to it', async (c) => {
  const hostDev = c.tempDir('hostdev');
  const hostFile = join(c.tempDir('victim'), 'victim');
  writeFileSync(hostFile, 'HOST\n');
  symlinkSync(hostFile, join(hostDev, 'null'));
  const r = await c.run(c.bundle([defaults, (s) => {
    s.mounts = s.mounts!.filter((m) => !m.destination.startsWith('/dev'));
    s.mounts.push({ destination: '/dev', type: 'bind', source: hostDev, options: ['rbind', 'rw'] });
    s.linux!.maskedPaths = ['/etc/secret'];
    s.root!.readonly = false;
    s.process!.args = ['/probe', 'write', '/etc/secret', 'PWNED\n'];
  }], { prepareRootfs: (rootfs) => writeFileSync(join(rootfs, 'etc/secret'), 'secret\n') }));
  assert.equal(readFileSync(hostFile, 'utf8'), 'HOST\n');
  assert.equal(statSync(hostFile).size, 5);
  ranOrRefused(r, '/etc/secret');
});
