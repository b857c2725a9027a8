/*
 * Escapes that must fail. Each test starts a default container (the
 * `runc spec` configuration: three capabilities, masked and read-only /proc
 * and /sys paths, no_new_privs, plus runts's default seccomp profile, as
 * the friendly front end gives it) and tries one way out, naming the rule
 * or the CVE it guards. The attempts are raw system calls made by
 * test/escapes/attempt.c, so a result is the kernel's answer, not a shell's.
 *
 * More regression tests for SECURITY.md's lessons live in security.test.ts:
 * the /proc symlink (CVE-2019-19921), /dev/null as a regular file
 * (CVE-2025-31133), cwd through a leaked fd (CVE-2024-21626) and the init
 * binary seen from the host (CVE-2019-5736).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigPatch, OciSpec } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { isMountPoint } from '../lib/host.ts';
import { parseProbe, parseProbeJson, REPO } from '../lib/probe.ts';
import { describeResult } from '../lib/runtime.ts';
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
  const r = parseProbeJson<{ write: string }>(await probeIn(c, ['write', '/proc/sysrq-trigger', 'h']));
  assert.notEqual(r.write, 'ok');
});

// Rule: /sys is mounted read-only.
containerTest('rule: nothing under /sys can be written', async (c) => {
  const file = '/sys/kernel/mm/ksm/run';
  const current = existsSync(file) ? readFileSync(file, 'utf8').trim() : '0';
  for (const path of [file, '/sys/fs/cgroup/cgroup.procs', '/sys/kernel/uevent_helper']) {
    const r = parseProbeJson<{ write: string }>(await probeIn(c, ['write', path, current]));
    assert.notEqual(r.write, 'ok', path);
  }
});

// Rule: maskedPaths hide kernel memory, keys and timers; reading them gives nothing.
containerTest('rule: masked paths read as empty (/proc/kcore, /proc/keys, /proc/timer_list, /sys/firmware)', async (c) => {
  for (const path of ['/proc/kcore', '/proc/keys', '/proc/timer_list']) {
    const r = parseProbeJson<{ read?: string; error?: string }>(await probeIn(c, ['read', path]));
    assert.ok(r.read === '' || r.error !== undefined, `${path}: ${JSON.stringify(r)}`);
  }
  const ls = parseProbeJson<{ ls?: string[] }>(await probeIn(c, ['ls', '/sys/firmware']));
  assert.deepEqual(ls.ls ?? [], []);
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

// CVE-2024-21626: `exec` with cwd=/proc/self/fd/N must never start a process outside the root.
containerTest('CVE-2024-21626: exec with cwd through /proc/self/fd/N never lands outside the root', async (c) => {
  const ct = await c.create(c.bundle([defaults, (s) => { s.process!.args = ['/probe', 'sleep', '600']; }]));
  await c.start(ct.id);
  for (let n = 3; n <= 10; n++) {
    const r = await c.runts(['exec', '--cwd', `/proc/self/fd/${n}`, ct.id, '/probe']);
    if (r.code !== 0) continue; // refused: safe
    const p = parseProbe(r.stdout);
    assert.ok(p.cwd?.startsWith('/'), `fd ${n}: cwd is outside the root (${p.cwd ?? p.cwdError})`);
  }
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
});

// CVE-2025-31133 / CVE-2019-19921 family: a masked path planted as a symlink to a host file must not mask (or write) the host file.
containerTest('CVE-2025-31133: a masked path that is a symlink to a host file never touches the host file', async (c) => {
  const hostDir = c.tempDir('masked-host');
  const hostFile = join(hostDir, 'precious');
  writeFileSync(hostFile, 'HOST\n');
  await c.run(c.bundle([defaults, (s) => { s.linux!.maskedPaths = ['/etc/secret']; s.process!.args = ['/probe', 'write', '/etc/secret', 'PWNED\n']; }],
    { prepareRootfs: (rootfs) => symlinkSync(hostFile, join(rootfs, 'etc/secret')) }));
  assert.equal(isMountPoint(hostFile), false, 'the host file was masked');
  assert.equal(readFileSync(hostFile, 'utf8'), 'HOST\n');
});

// CVE-2025-52565 family: a read-only path planted as a symlink to a host directory must not make the host directory read-only.
containerTest('CVE-2025-52565: a read-only path that is a symlink to a host directory never remounts the host directory', async (c) => {
  const hostDir = c.tempDir('ro-host');
  await c.run(c.bundle([defaults, (s) => { s.linux!.readonlyPaths = ['/ro']; }], { prepareRootfs: (rootfs) => symlinkSync(hostDir, join(rootfs, 'ro')) }));
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
  await c.run(c.bundle([defaults, (s) => {
    s.mounts = s.mounts!.filter((m) => !m.destination.startsWith('/dev'));
    s.mounts.push({ destination: '/dev', type: 'bind', source: hostDev, options: ['rbind', 'rw'] });
    s.linux!.maskedPaths = ['/etc/secret'];
    s.root!.readonly = false;
    s.process!.args = ['/probe', 'write', '/etc/secret', 'PWNED\n'];
  }], { prepareRootfs: (rootfs) => writeFileSync(join(rootfs, 'etc/secret'), 'secret\n') }));
  assert.equal(readFileSync(hostFile, 'utf8'), 'HOST\n');
  assert.equal(statSync(hostFile).size, 5);
});
