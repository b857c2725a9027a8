/*
 * "tmpcopyup" (runc's and crun's; podman's --tmpfs and --read-only ask for
 * it): a tmpfs that starts with a copy of what the rootfs has at its mount
 * point, owners and modes kept, symlinks copied as symlinks. The copy is
 * native/steps_copyup.c's; the steps, src/rootfs/mounts.ts's.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lchownSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addMounts, type ConfigPatch, type OciMount } from '../lib/bundle.ts';
import { assertFails, assertOk, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { sh } from '../lib/host.ts';
import { mountAt, parseProbe, type StatEntry } from '../lib/probe.ts';
import { describeResult } from '../lib/runtime.ts';

checkLeaksAfterFile();

const tmpfs = (...options: string[]): OciMount => ({ destination: '/data', type: 'tmpfs', source: 'tmpfs', options });

/*
 * /data in the rootfs (0711, uid:gid): secret (0640, uid+1000:gid+1001), sub/ (02755,
 * uid+1002:gid+1003) holding f, link -> ../etc/passwd, out -> /etc (a
 * directory the copy must not walk into), and a fifo (0620). base: the host
 * ids that are the container's 0 (a user namespace's hostID).
 */
function populate(base = { uid: 0, gid: 0 }): (rootfs: string) => void {
  return (rootfs) => {
    const data = join(rootfs, 'data');
    mkdirSync(join(data, 'sub'), { recursive: true });
    chownSync(data, base.uid, base.gid);
    chmodSync(data, 0o711);
    writeFileSync(join(data, 'secret'), 'image secret\n');
    chownSync(join(data, 'secret'), base.uid + 1000, base.gid + 1001);
    chmodSync(join(data, 'secret'), 0o640);
    writeFileSync(join(data, 'sub', 'f'), 'f\n');
    chownSync(join(data, 'sub'), base.uid + 1002, base.gid + 1003);
    chmodSync(join(data, 'sub'), 0o2755);
    symlinkSync('../etc/passwd', join(data, 'link'));
    lchownSync(join(data, 'link'), base.uid + 1000, base.gid + 1001);
    symlinkSync('/etc', join(data, 'out'));
    sh('mkfifo', ['-m', '0620', join(data, 'fifo')]);
  };
}

const PATHS = ['/data', '/data/secret', '/data/sub', '/data/sub/f', '/data/link', '/data/out', '/data/fifo'];

async function copiedStat(c: Ctx, patch: ConfigPatch, base?: { uid: number; gid: number }) {
  const { stat: st } = await c.probeCmd<{ stat: Record<string, StatEntry> }>([patch, addMounts(tmpfs('rw', 'nosuid', 'tmpcopyup'))], ['stat', ...PATHS], { prepareRootfs: populate(base) });
  return Object.fromEntries(PATHS.map((p) => {
    const { type, mode, uid, gid, target } = st[p] ?? {};
    return [p, type === 'symlink' ? { type, uid, gid, target } : { type, mode, uid, gid }];
  }));
}

const EXPECTED = {
  // the tmpfs's root: the covered directory's mode (runc's), the mount's owner
  '/data': { type: 'dir', mode: 0o711, uid: 0, gid: 0 },
  '/data/secret': { type: 'file', mode: 0o640, uid: 1000, gid: 1001 },
  '/data/sub': { type: 'dir', mode: 0o2755, uid: 1002, gid: 1003 },
  '/data/sub/f': { type: 'file', mode: 0o644, uid: 0, gid: 0 },
  '/data/link': { type: 'symlink', uid: 1000, gid: 1001, target: '../etc/passwd' },
  '/data/out': { type: 'symlink', uid: 0, gid: 0, target: '/etc' },
  '/data/fifo': { type: 'fifo', mode: 0o620, uid: 0, gid: 0 },
};

containerTest('tmpcopyup: the tmpfs holds the files of the directory it covers, owners, modes and symlinks kept', async (c) => {
  assert.deepEqual(await copiedStat(c, {}), EXPECTED);
});

containerTest('tmpcopyup: the mount is a tmpfs, and writes to it do not reach the rootfs', async (c) => {
  const b = c.bundle([addMounts(tmpfs('rw', 'tmpcopyup')), { process: { args: ['/bin/sh', '-c', 'echo new > /data/new && echo changed > /data/sub/f && /probe'] } }],
    { prepareRootfs: populate() });
  const r = await c.run(b);
  assertOk(r);
  const p = parseProbe(r.stdout, describeResult(r));
  assert.equal(mountAt(p, '/data')?.fsType, 'tmpfs');
  assert.deepEqual(readdirSync(join(b.rootfs, 'data')).sort(), ['fifo', 'link', 'out', 'secret', 'sub']);
  assert.equal(readFileSync(join(b.rootfs, 'data', 'sub', 'f'), 'utf8'), 'f\n');
});

containerTest('without tmpcopyup the tmpfs starts empty', async (c) => {
  const r = await c.probeCmd<{ ls?: string[] }>(addMounts(tmpfs('rw')), ['ls', '/data'], { prepareRootfs: populate() });
  assert.deepEqual(r.ls, []);
});

containerTest('tmpcopyup on a destination missing from the rootfs: an empty tmpfs there', async (c) => {
  const r = await c.probeCmd<{ ls?: string[] }>(addMounts({ ...tmpfs('tmpcopyup'), destination: '/no/such/dir' }), ['ls', '/no/such/dir']);
  assert.deepEqual(r.ls, []);
});

containerTest('tmpcopyup with "ro": the copy is there and the tmpfs is read-only', async (c) => {
  const patch = addMounts(tmpfs('ro', 'tmpcopyup'));
  const opts = { prepareRootfs: populate() };
  assert.deepEqual(await c.probeCmd(patch, ['read', '/data/sub/f'], opts), { read: 'f\n' });
  assert.equal((await c.probeCmd<{ write: string }>(patch, ['write', '/data/new', 'x'], opts)).write, 'EROFS');
});

// In a user namespace INIT sees the container's ids, and copies those.
containerTest('tmpcopyup in a user namespace keeps the owners the container sees', async (c) => {
  const userns: ConfigPatch = [
    { linux: { uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }] } },
    (s) => void s.linux!.namespaces!.push({ type: 'user' }),
  ];
  const base = { uid: 100000, gid: 200000 };
  const st = await copiedStat(c, userns, base);
  // what the test did not chown is the host's root's: unmapped, the overflow id
  const overflow = Number(readFileSync('/proc/sys/kernel/overflowuid', 'utf8'));
  const owned = <T extends { uid: number; gid: number }>(e: T) => (e.uid === 0 ? { ...e, uid: overflow, gid: overflow } : e);
  // the tmpfs's root is the container's root's: INIT mounted it
  assert.deepEqual(st, { ...Object.fromEntries(Object.entries(EXPECTED).map(([p, e]) => [p, owned(e)])), '/data': EXPECTED['/data'] });
});

containerTest('a copy that fails names the mount and the file, and leaves nothing behind', async (c) => {
  const b = c.bundle(addMounts(tmpfs('size=16k', 'tmpcopyup')), {
    prepareRootfs: (rootfs) => {
      mkdirSync(join(rootfs, 'data', 'sub'), { recursive: true });
      writeFileSync(join(rootfs, 'data', 'sub', 'big'), Buffer.alloc(256 * 1024));
    },
  });
  const index = b.config.mounts!.length - 1;
  const { result } = await c.tryCreate(b);
  assertFails(result, `runts: mounts[${index}]: copy /data/sub/big into the tmpfs mounted on /data: no space left on device`);
  await c.assertNothingLeft();
});

containerTest('tmpcopyup on a mount that is not a tmpfs is refused, naming the option', async (c) => {
  const b = c.bundle(addMounts({ destination: '/mnt', type: 'bind', source: c.tempDir('src'), options: ['rbind', 'tmpcopyup'] }));
  const { result } = await c.tryCreate(b);
  assertFails(result, `mounts[${b.config.mounts!.length - 1}].options[1]: "tmpcopyup" applies only to a tmpfs mount, and this one is a bind mount`);
  await c.assertNothingLeft();
});

// runc's features list it among mountOptions (specconv.KnownMountOptions)
containerTest('runts features lists tmpcopyup among the mount options', async (c) => {
  const r = await c.runts(['features']);
  assertOk(r);
  assert.ok((JSON.parse(r.stdout) as { mountOptions: string[] }).mountOptions.includes('tmpcopyup'), r.stdout);
});
