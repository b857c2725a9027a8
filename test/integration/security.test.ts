/*
 * Regression tests for the attacks on container runtimes that can be shown
 * through the CLI (the book: docs/08-security.md; the design:
 * docs/design/security.md): hostile paths in the rootfs, leaked fds, the
 * runtime binary, seccomp, and bad security input. The escapes a default
 * container must not make are in escapes.test.ts. Each test accepts only
 * the safe outcomes, each checked for what it is: a refusal with the error
 * that names the hostile path, or a run whose result is contained; a run
 * that failed for any other reason fails the test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withArgs, type ConfigPatch, type OciSpec } from '../lib/bundle.ts';
import { assertCwdContained, assertFails, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { isMountPoint, sh } from '../lib/host.ts';
import { capNames, parseProbe, parseProbeJson, probeBinary } from '../lib/probe.ts';
import { describeResult, RUNTS_BIN, runLogged } from '../lib/runtime.ts';
import { RUN_PREFIX } from '../lib/cleanup.ts';
import { defaultSeccompProfile } from '../../src/security/seccomp/default-profile.ts';

checkLeaksAfterFile();

/*
 * CVE-2019-19921 and friends: /proc in the rootfs is a symlink to a host
 * path. Joining strings would mount proc on the host path; resolving inside
 * the root must land the mount in the rootfs, or refuse.
 */
containerTest('a /proc symlink pointing out of the rootfs does not move the proc mount out of it', async (c) => {
  const hostTarget = c.tempDir('proc-target');
  const b = c.bundle(withArgs('--'), {
    prepareRootfs: (rootfs) => {
      rmSync(join(rootfs, 'proc'), { recursive: true });
      symlinkSync(hostTarget, join(rootfs, 'proc'));
    },
  });
  const r = await c.run(b);
  assert.equal(isMountPoint(hostTarget), false, 'proc was mounted on the host path');
  assert.deepEqual(readdirSync(hostTarget), [], 'the host path was written to');
  if (r.code === 0) {
    // accepted: then proc must be reachable inside the container (the probe read its mountinfo through it)
    const p = parseProbe(r.stdout, describeResult(r));
    assert.ok((p.mounts ?? []).some((m) => m.fsType === 'proc' && m.mountPoint === '/proc'), 'no proc mount at /proc inside the container');
  } else {
    // refused: for the mount at /proc, not for some other breakage (runts: "create mount target /proc: ...")
    assertFails(r, /\/proc\b/);
  }
});

/*
 * CVE-2025-31133: masking bind-mounts /dev/null over a path. If the
 * container's /dev/null is a regular file (here from a host dir bind-mounted
 * as /dev), that bind makes the "masked" path a writable window onto it.
 * The runtime must check /dev/null is the null char device, or not use it.
 */
function fakeDevNull(s: OciSpec, hostDev: string): void {
  s.mounts = (s.mounts ?? []).filter((m) => !m.destination.startsWith('/dev'));
  s.mounts.push({ destination: '/dev', type: 'bind', source: hostDev, options: ['rbind', 'rw'] });
  s.linux!.maskedPaths = ['/etc/secret'];
  s.root!.readonly = false;
}
const withSecret = { prepareRootfs: (rootfs: string) => writeFileSync(join(rootfs, 'etc/secret'), 'secret\n') };

// runc 1.1.5 fails this (it predates the CVE-2025-31133 fix): the write lands in the host file.
containerTest('masking with a /dev/null that is a regular file never writes through to it', async (c) => {
  const hostDev = c.tempDir('hostdev');
  writeFileSync(join(hostDev, 'null'), 'SENTINEL\n');
  const r = await c.run(c.bundle([(s) => fakeDevNull(s, hostDev), withArgs('write', '/etc/secret', 'PWNED\n')], withSecret));
  assert.equal(readFileSync(join(hostDev, 'null'), 'utf8'), 'SENTINEL\n');
  // and not because the run broke: refused for the fake /dev/null, or the write went nowhere
  if (r.code === 0) assert.deepEqual(parseProbeJson<{ write?: string }>(r.stdout), { write: 'ok' });
  else assertFails(r, '/etc/secret', '/dev/null');
});

// runc 1.1.5 fails this too: the masked path shows the fake file's content.
containerTest('masking with a /dev/null that is a regular file never shows its content', async (c) => {
  const hostDev = c.tempDir('hostdev');
  writeFileSync(join(hostDev, 'null'), 'SENTINEL\n');
  const r = await c.run(c.bundle([(s) => fakeDevNull(s, hostDev), withArgs('read', '/etc/secret')], withSecret));
  // refused, naming the masked path and /dev/null (runts: "mask /etc/secret: /dev/null is not the null device 1:3"),
  // or run with the path masked for real: it reads empty, as the null device does
  if (r.code === 0) assert.deepEqual(parseProbeJson<{ read?: string }>(r.stdout), { read: '' });
  else assertFails(r, '/etc/secret', '/dev/null');
});

/*
 * CVE-2024-21626: a host directory fd leaked into the container init plus
 * cwd=/proc/self/fd/N put the process outside its root. For every small N the
 * process must either run with a cwd inside its root, or be refused by the
 * chdir for a reason naming the path (assertCwdContained): any other failure
 * is a runtime that does not work, not a safe one. A run with an ordinary cwd
 * shows it does.
 */
// Debian's runc 1.1.5+ds1-1+deb12u1 carries the fix, so it passes; an unfixed runc < 1.1.12 fails.
containerTest('cwd through /proc/self/fd/N never lands outside the root', async (c) => {
  assert.equal((await c.probe({ process: { cwd: '/tmp' } })).cwd, '/tmp');
  for (let n = 3; n <= 12; n++) assertCwdContained(await c.run(c.bundle([withArgs('--'), { process: { cwd: `/proc/self/fd/${n}` } }])), n);
});

containerTest('no host fd reaches the container: the process has only 0, 1 and 2', async (c) => {
  const p = await c.probe();
  assert.deepEqual(Object.keys(p.fds ?? {}).sort(), ['0', '1', '2']);
});

/*
 * CVE-2019-5736: the process that enters the container must not expose a
 * writable host binary through /proc/<pid>/exe. Look at the init of a
 * created container from the host: a sealed memfd, or a file on a
 * read-only mount, and never Node itself.
 */
const EXE_CHECK = String.raw`
import fcntl, json, os, sys
path = sys.argv[1]
fd = os.open(path, os.O_RDONLY)
try:
    seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
except OSError:
    seals = None
print(json.dumps({"target": os.readlink(path), "seals": seals,
                  "readOnlyMount": bool(os.fstatvfs(fd).f_flag & os.ST_RDONLY)}))
`;

containerTest('the init of a created container is not a writable host binary', async (c) => {
  const ct = await c.create(c.bundle(withArgs('sleep', '600')));
  const exe = JSON.parse(sh('python3', ['-c', EXE_CHECK, `/proc/${ct.pid}/exe`]).stdout) as { target: string; seals: number | null; readOnlyMount: boolean };
  const F_SEAL_WRITE = 0x8;
  const sealedMemfd = exe.target.startsWith('/memfd:') && exe.seals !== null && (exe.seals & F_SEAL_WRITE) !== 0;
  assert.ok(sealedMemfd || exe.readOnlyMount, `container init runs ${JSON.stringify(exe)}`);
  assert.ok(!/\bnode\b/.test(exe.target), `Node entered the container: ${exe.target}`);
}, { needs: ['python3'] });

/* ---- seccomp ---- */

const ARCH = process.arch === 'arm64' ? 'SCMP_ARCH_AARCH64' : 'SCMP_ARCH_X86_64';
const denyGetcwd = (errnoRet: number) => ({
  linux: {
    seccomp: {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: [ARCH],
      syscalls: [{ names: ['getcwd'], action: 'SCMP_ACT_ERRNO', errnoRet }],
    },
  },
});

containerTest('a seccomp profile puts the process in filter mode', async (c) => {
  const p = await c.probe(denyGetcwd(1));
  assert.equal(p.seccomp, 2);
});

containerTest('a seccomp rule returns its errnoRet', async (c) => {
  const p = await c.probe(denyGetcwd(38));
  assert.deepEqual([p.cwd, p.cwdError], [null, 'ENOSYS']);
});

containerTest('without a seccomp profile the process is not filtered', async (c) => {
  const p = await c.probe();
  assert.equal(p.seccomp, 0);
});

containerTest('without no_new_privs the filter is loaded before the user switch and still binds a non-root process', async (c) => {
  const p = await c.probe([denyGetcwd(1), { process: { noNewPrivileges: false, user: { uid: 1000, gid: 1000 } } }]);
  assert.equal(p.seccomp, 2);
  assert.equal(p.noNewPrivs, 0);
  assert.deepEqual([p.uid, p.cwd, p.cwdError], [1000, null, 'EPERM']);
});

/*
 * SECCOMP_FILTER_FLAG_LOG, seen from the host: the kernel logs every action
 * but ALLOW of such a filter (an audit record, type=1326, in the kernel log
 * when no audit daemon takes it), where an ERRNO action is otherwise not
 * logged. The probe runs under a name of its own (exe="/seclog-...") so its
 * records can be told apart. An SCMP_ACT_LOG rule, logged with or without
 * the flag, first shows that this kernel logs seccomp actions at all.
 */
async function seccompLogLines(c: Ctx, tag: string, seccomp: Record<string, unknown>): Promise<string[]> {
  const exe = `/seclog-${c.newId()}-${tag}`;
  const r = await c.run(c.bundle([{ linux: { seccomp } }, (s) => { s.process!.args = ['/bin/sh', '-c', `${exe}; ${exe}; ${exe}`]; }],
    { prepareRootfs: (rootfs) => copyFileSync(join(rootfs, 'probe'), join(rootfs, exe)) }));
  assert.equal(r.code, 0, describeResult(r));
  assert.equal(parseProbe(r.stdout.split('\n')[0]!, describeResult(r)).seccomp, 2);
  return sh('dmesg', []).stdout.split('\n').filter((l) => l.includes('type=1326') && l.includes(`exe="${exe}"`));
}

containerTest('seccomp flags are passed to the kernel: SECCOMP_FILTER_FLAG_LOG logs an ERRNO action', async (c) => {
  const getcwd = (action: string, flags?: string[]) => ({ ...denyGetcwd(1).linux.seccomp, ...(flags ? { flags } : {}), syscalls: [{ names: ['getcwd'], action, errnoRet: 1 }] });
  const logged = readFileSync('/proc/sys/kernel/seccomp/actions_logged', 'utf8').split(' ').map((w) => w.trim());
  if (!logged.includes('errno') || !logged.includes('log')) return c.t.skip(`this kernel logs no seccomp errno or log actions (actions_logged: ${logged.join(' ')})`);
  if (!(await seccompLogLines(c, 'control', getcwd('SCMP_ACT_LOG'))).length) return c.t.skip('no seccomp audit record reaches the kernel log here (an audit daemon, or a kernel without audit)');
  const withFlag = await seccompLogLines(c, 'flag', getcwd('SCMP_ACT_ERRNO', ['SECCOMP_FILTER_FLAG_LOG']));
  assert.ok(withFlag.some((l) => / syscall=79 /.test(l) && /code=0x5000[0-9a-f]/.test(l)), `no audit record of the denied getcwd: ${JSON.stringify(withFlag)}`);
  assert.deepEqual(await seccompLogLines(c, 'noflag', getcwd('SCMP_ACT_ERRNO')), [], 'without the flag an ERRNO action is not logged');
}, { needs: ['dmesg'] });

/*
 * SECCOMP_FILTER_FLAG_SPEC_ALLOW: without it, loading a filter turns on the
 * speculative store bypass mitigation for the process, but only where the
 * kernel's mode is "seccomp" (spec_store_bypass: "... via prctl and
 * seccomp"). Elsewhere (a CPU without the mitigation, or the kernel's default
 * "prctl" mode since 5.16) the flag changes nothing that can be seen, and
 * the test says so and skips after what it can check: the run with the flag
 * works, in filter mode.
 */
containerTest('seccomp flags are passed to the kernel: SECCOMP_FILTER_FLAG_SPEC_ALLOW leaves the store bypass mitigation off', async (c) => {
  const ssb = async (flags: string[]) => {
    const r = await c.run(c.bundle([{ linux: { seccomp: { ...denyGetcwd(1).linux.seccomp, flags } } }, withArgs('read', '/proc/self/status')]));
    assert.equal(r.code, 0, describeResult(r));
    const status = parseProbeJson<{ read: string }>(r.stdout).read;
    assert.match(status, /^Seccomp:\s+2$/m);
    return /^Speculation_Store_Bypass:\s+(.*)$/m.exec(status)?.[1] ?? 'absent';
  };
  const [withFlag, without] = [await ssb(['SECCOMP_FILTER_FLAG_SPEC_ALLOW']), await ssb([])];
  const mode = readFileSync('/sys/devices/system/cpu/vulnerabilities/spec_store_bypass', 'utf8').trim();
  if (!/seccomp/.test(mode)) return c.t.skip(`nothing to see on this host: spec_store_bypass is "${mode}" (with the flag: ${withFlag}; without: ${without})`);
  assert.equal(without, 'thread force mitigated', 'a filter without the flag forces the mitigation');
  assert.notEqual(withFlag, 'thread force mitigated', 'with SPEC_ALLOW the mitigation is not forced');
});

containerTest('the default profile runs a container, and answers ENOSYS for a call it does not know', async (c) => {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  const seccomp = defaultSeccompProfile(caps);
  // getcwd stays allowed; make it "unknown" to show the default errno
  const unknownGetcwd = { ...seccomp, syscalls: seccomp.syscalls!.map((s) => ({ ...s, names: s.names.filter((n) => n !== 'getcwd') })) };
  const p = await c.probe({ linux: { seccomp: unknownGetcwd } });
  assert.equal(p.seccomp, 2);
  assert.deepEqual([p.cwd, p.cwdError], [null, 'ENOSYS']);
});

/* ---- bad input: a clear message naming the field, and nothing started ---- */

async function refused(c: Ctx, patch: ConfigPatch, ...patterns: (RegExp | string)[]) {
  const { result } = await c.tryCreate(c.bundle(patch));
  assertFails(result, ...patterns);
  await c.assertNothingLeft();
}

const seccompWith = (extra: Record<string, unknown>) => ({ linux: { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', ...extra } } });

containerTest('bad input: a profile whose only syscall name is unknown is refused', async (c) => {
  await refused(c, seccompWith({ syscalls: [{ names: ['no_such_call'], action: 'SCMP_ACT_ERRNO' }] }), 'linux.seccomp.syscalls', 'no_such_call');
});

containerTest('bad input: an unknown syscall among known ones is skipped with a warning', async (c) => {
  const r = await c.run(c.bundle([withArgs('--'), seccompWith({ syscalls: [{ names: ['getcwd', 'no_such_call'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] })]));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /linux\.seccomp\.syscalls\[0\]\.names\[1\]: unknown syscall "no_such_call"/);
  assert.equal(parseProbe(r.stdout).cwdError, 'ENOSYS');
});

containerTest('bad input: an unknown seccomp action is refused', async (c) => {
  await refused(c, seccompWith({ syscalls: [{ names: ['getcwd'], action: 'SCMP_ACT_EXPLODE' }] }), 'linux.seccomp.syscalls[0].action', 'SCMP_ACT_EXPLODE');
});

containerTest('bad input: an invalid architecture is refused', async (c) => {
  await refused(c, seccompWith({ architectures: ['SCMP_ARCH_Z80'] }), 'linux.seccomp.architectures[0]', 'SCMP_ARCH_Z80');
});

containerTest('bad input: SCMP_ACT_NOTIFY is refused as unsupported', async (c) => {
  await refused(c, seccompWith({ listenerPath: '/run/agent.sock', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_NOTIFY' }] }), 'linux.seccomp.listenerPath', 'not supported');
});

containerTest('bad input: an unknown capability is refused', async (c) => {
  await refused(c, { process: { capabilities: { bounding: ['CAP_KILL', 'CAP_TELEPORT'] } } }, 'process.capabilities.bounding[1]', 'CAP_TELEPORT');
});

/* ---- no_new_privs ---- */

// The rule noNewPrivileges enforces: a setuid-root binary run by a non-root
// user gains nothing. Without it the same binary does gain root, which shows
// the test can tell the two apart.
const suidProbe = { prepareRootfs: (rootfs: string) => {
  copyFileSync(join(rootfs, 'probe'), join(rootfs, 'suid-probe'));
  chmodSync(join(rootfs, 'suid-probe'), 0o4755);
} };
for (const noNewPrivileges of [true, false]) {
  containerTest(`a setuid-root binary run by uid 1000 ${noNewPrivileges ? 'stays uid 1000 under no_new_privs' : 'becomes root without no_new_privs'}`, async (c) => {
    const r = await c.run(c.bundle([{ process: { noNewPrivileges, user: { uid: 1000, gid: 1000 } } }, (s) => { s.process!.args = ['/suid-probe']; }], suidProbe));
    assert.equal(r.code, 0, r.stderr);
    const p = parseProbe(r.stdout);
    assert.equal(p.uid, 1000);
    assert.equal(p.euid, noNewPrivileges ? 1000 : 0);
  });
}

/* ---- capabilities runts itself does not hold ---- */

// runc's rule: a capability the kernel or the runtime's own bounding set
// lacks is skipped with a warning, not fatal. setpriv starts runts without
// CAP_SYS_NICE in its bounding set to show it on any machine.
containerTest('a capability outside runts\'s own bounding set is skipped with a warning', async (c) => {
  const caps = ['CAP_KILL', 'CAP_SYS_NICE'];
  const b = c.bundle([withArgs('--'), { process: { capabilities: { bounding: caps, effective: caps, permitted: caps } } }]);
  const id = c.newId();
  c.defer(`delete --force ${id}`, () => c.runts(['delete', '--force', id]));
  const r = spawnSync('setpriv', ['--bounding-set', '-sys_nice', RUNTS_BIN, '--root', c.root, 'run', '--bundle', b.dir, id], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, RUNTS_TEST_RUN: RUN_PREFIX, NODE_TEST_CONTEXT: undefined },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /capability CAP_SYS_NICE .*skipped/);
  const p = parseProbe(r.stdout);
  assert.deepEqual(capNames(p.caps.CapBnd), ['CAP_KILL']);
  assert.deepEqual(capNames(p.caps.CapEff), ['CAP_KILL']);
}, { needs: ['setpriv'] });

/* ---- the session keyring ---- */

interface KeyringReport { keyring: { session: string | null; keys: { description?: string; payload?: string }[]; clear?: string } }
interface WithKeyReport { withKey: { status: number; after: string | null } }

/*
 * A host process holds a key in its session keyring and starts a container
 * (probe with-key runs runts with the key in place). The container must not
 * see that keyring, nor be able to clear it: it gets one of its own, named
 * after it, as runc gives; `exec` joins the same one. With --no-new-keyring
 * (runc's flag) the caller's keyring is kept: that run shows the probe can
 * see a shared key, so the first assertions can fail.
 */
async function runWithHostKey(c: Ctx, verb: string[]) {
  const r = await runLogged(probeBinary(), ['with-key', 'hunter2', '--', RUNTS_BIN, '--root', c.root, ...verb]);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2, `a keyring report and the host's verdict:\n${r.stdout}${r.stderr}`);
  const inside = parseProbeJson<KeyringReport>(lines[0]!).keyring;
  const host = parseProbeJson<WithKeyReport>(lines[1]!).withKey;
  assert.equal(host.status, 0, `runts ${verb.join(' ')}: ${r.stdout}${r.stderr}`);
  return { inside, host };
}

containerTest('a container gets its own session keyring: the host\'s key is neither readable nor clearable (create and exec)', async (c) => {
  const id = c.newId();
  c.defer(`delete --force ${id}`, () => c.runts(['delete', '--force', id]));
  const run = await runWithHostKey(c, ['run', '--bundle', c.bundle(withArgs('keyring', 'clear')).dir, id]);
  assert.match(run.inside.session ?? '', new RegExp(`;_ses\\.${id.replace(/[.+]/g, '\\$&')}$`), 'the session keyring is the container\'s own');
  assert.ok(!run.inside.keys.some((k) => k.payload === 'hunter2'), `the host's key is visible: ${JSON.stringify(run.inside)}`);
  assert.equal(run.host.after, 'hunter2', 'the host\'s key survived the container\'s KEYCTL_CLEAR');

  const long = await c.create(c.bundle(withArgs('sleep', '60')));
  const exec = await runWithHostKey(c, ['exec', long.id, '/probe', 'keyring', 'clear']);
  assert.match(exec.inside.session ?? '', new RegExp(`;_ses\\.${long.id.replace(/[.+]/g, '\\$&')}$`), 'exec joins the container\'s keyring');
  assert.equal(exec.host.after, 'hunter2');
});

containerTest('--no-new-keyring keeps the caller\'s session keyring, as runc does', async (c) => {
  const id = c.newId();
  c.defer(`delete --force ${id}`, () => c.runts(['delete', '--force', id]));
  const run = await runWithHostKey(c, ['run', '--no-new-keyring', '--bundle', c.bundle(withArgs('keyring')).dir, id]);
  assert.match(run.inside.session ?? '', /;probe-session$/);
  assert.ok(run.inside.keys.some((k) => k.payload === 'hunter2'));
});
