/*
 * Regression tests for the lessons in SECURITY.md that can be shown through
 * the CLI: hostile paths in the rootfs, leaked fds, the runtime binary, and
 * seccomp. Each test accepts the safe outcomes (refusal, or a contained
 * result) and fails on the escape.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withArgs, type OciSpec } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { isMountPoint, sh } from '../lib/host.ts';
import { parseProbe, parseProbeJson } from '../lib/probe.ts';

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
    const p = parseProbe(r.stdout);
    assert.ok((p.mounts ?? []).some((m) => m.fsType === 'proc'), 'no proc mount inside the container');
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
  await c.run(c.bundle([(s) => fakeDevNull(s, hostDev), withArgs('write', '/etc/secret', 'PWNED\n')], withSecret));
  assert.equal(readFileSync(join(hostDev, 'null'), 'utf8'), 'SENTINEL\n');
});

// runc 1.1.5 fails this too: the masked path shows the fake file's content.
containerTest('masking with a /dev/null that is a regular file never shows its content', async (c) => {
  const hostDev = c.tempDir('hostdev');
  writeFileSync(join(hostDev, 'null'), 'SENTINEL\n');
  const r = await c.run(c.bundle([(s) => fakeDevNull(s, hostDev), withArgs('read', '/etc/secret')], withSecret));
  if (r.code === 0) assert.notEqual(parseProbeJson<{ read?: string }>(r.stdout).read, 'SENTINEL\n');
});

/*
 * CVE-2024-21626: a host directory fd leaked into the container init plus
 * cwd=/proc/self/fd/N put the process outside its root. For every small N the
 * process must either not start, or have a cwd inside its root.
 */
// Debian's runc 1.1.5+ds1-1+deb12u1 carries the fix, so it passes; an unfixed runc < 1.1.12 fails.
containerTest('cwd through /proc/self/fd/N never lands outside the root', async (c) => {
  for (let n = 3; n <= 12; n++) {
    const r = await c.run(c.bundle([withArgs('--'), { process: { cwd: `/proc/self/fd/${n}` } }]));
    if (r.code !== 0) continue; // refused: safe
    const p = parseProbe(r.stdout);
    assert.ok(p.cwd?.startsWith('/'), `fd ${n}: cwd is outside the root (${p.cwd ?? p.cwdError})`);
  }
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
