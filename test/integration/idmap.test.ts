/*
 * idmapped mounts (runtime-spec 1.2 mounts[].uidMappings/gidMappings, the
 * "idmap" and "ridmap" options): a host directory seen through the mount
 * with other owners than on disk, with and without a user namespace, as the
 * prober reports them with stat. runc 1.1.5 predates the feature (runc 1.2).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addMounts, withArgs, type ConfigPatch, type OciMount } from '../lib/bundle.ts';
import { assertFails, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { sh } from '../lib/host.ts';

checkLeaksAfterFile();

/* A host directory with files a (100:211) and b (0:0). */
function ownedDir(c: Ctx): string {
  const dir = c.tempDir('vol');
  for (const [name, uid, gid] of [['a', 100, 211], ['b', 0, 0]] as const) {
    writeFileSync(join(dir, name), name);
    chownSync(join(dir, name), uid, gid);
  }
  return dir;
}

const map = (containerID: number, hostID: number, size: number) => ({ containerID, hostID, size });
const userns: ConfigPatch = [
  { linux: { uidMappings: [map(0, 100000, 65536)], gidMappings: [map(0, 200000, 65536)] } },
  (s) => void s.linux!.namespaces!.push({ type: 'user' }),
];
const owners = (st: Record<string, { uid?: number; gid?: number }>) =>
  Object.fromEntries(Object.entries(st).map(([p, e]) => [p, [e.uid, e.gid]]));

containerTest('an idmapped bind mount shows each file with the owner its mapping gives', async (c) => {
  const m: OciMount = { destination: '/vol', type: 'bind', source: ownedDir(c), options: ['bind'],
    uidMappings: [map(100, 1100, 3), map(0, 5000, 1)], gidMappings: [map(200, 1900, 50), map(0, 6000, 1)] };
  const st = await c.probeStat(addMounts(m), '/vol/a', '/vol/b');
  assert.deepEqual(owners(st), { '/vol/a': [1100, 1911], '/vol/b': [5000, 6000] });
});

containerTest('a write through an idmapped mount by a user outside its mapping fails with EOVERFLOW', async (c) => {
  const m: OciMount = { destination: '/vol', type: 'bind', source: ownedDir(c), options: ['bind'],
    uidMappings: [map(100, 1100, 3)], gidMappings: [map(200, 1900, 50)] };
  assert.equal(await c.probeWrite(addMounts(m), '/vol/new'), 'EOVERFLOW');
});

// Kubernetes' hostUsers: false: a volume owned by host root belongs to the
// pod's root, and what the pod writes is owned by root on disk. (Targets
// that exist in the rootfs: container root may not create them there.)
containerTest('"idmap" in a user namespace: container root owns what host root owns, and writes as host root', async (c) => {
  const dir = ownedDir(c);
  const st = await c.probeStat([userns, addMounts({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind', 'idmap'] },
    { destination: '/home', type: 'bind', source: dir, options: ['rbind'] })], '/mnt/a', '/mnt/b', '/home/b');
  const overflow = Number(readFileSync('/proc/sys/kernel/overflowuid', 'utf8'));
  assert.deepEqual(owners(st), { '/mnt/a': [100, 211], '/mnt/b': [0, 0], '/home/b': [overflow, overflow] });
  assert.equal(await c.probeWrite([userns, addMounts({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind', 'idmap'] })], '/mnt/new'), 'ok');
  const made = statSync(join(dir, 'new'));
  assert.deepEqual([made.uid, made.gid], [0, 0]);
});

containerTest('"ridmap" idmaps the submounts of an rbind too; "idmap" only the top', async (c) => {
  const dir = ownedDir(c);
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'runts-test-idmap', sub]);
  c.defer(`umount ${sub}`, () => void sh('umount', [sub]));
  writeFileSync(join(sub, 'f'), 'f');
  const mount = (options: string[]): OciMount => ({ destination: '/mnt', type: 'bind', source: dir, options });
  const recursive = await c.probeStat([userns, addMounts(mount(['rbind', 'ridmap']))], '/mnt/b', '/mnt/sub/f');
  assert.deepEqual(owners(recursive), { '/mnt/b': [0, 0], '/mnt/sub/f': [0, 0] });
  const top = await c.probeStat([userns, addMounts(mount(['rbind', 'idmap']))], '/mnt/b', '/mnt/sub/f');
  const overflow = Number(readFileSync('/proc/sys/kernel/overflowuid', 'utf8'));
  assert.deepEqual(owners(top), { '/mnt/b': [0, 0], '/mnt/sub/f': [overflow, overflow] });
});

// The OCI side of a Kubernetes pod with hostUsers: false, as containerd 2.x
// writes it (containerd 1.6, the one in Debian 12, has no pod user
// namespaces): the pause container owns a user namespace with the pod's
// range; each container joins it by path, and its volumes carry the pod's
// range as uidMappings/gidMappings, so they keep their owners inside.
containerTest('a container of a user-namespaced pod: joins the pod\'s user namespace, its volume keeps its owners, its writes land as the writer\'s id', async (c) => {
  const dir = ownedDir(c);
  const pod = await c.create(c.bundle([withArgs('sleep', '600'), userns]));
  const podRange = { uidMappings: [map(0, 100000, 65536)], gidMappings: [map(0, 200000, 65536)] };
  const joinPod: ConfigPatch = (s) => {
    s.linux!.namespaces = s.linux!.namespaces!.map((n) => (['network', 'ipc', 'uts'].includes(n.type) ? { type: n.type, path: `/proc/${pod.pid}/ns/${n.type === 'network' ? 'net' : n.type}` } : n));
    s.linux!.namespaces.push({ type: 'user', path: `/proc/${pod.pid}/ns/user` });
  };
  const volume = addMounts({ destination: '/mnt', type: 'bind', source: dir, options: ['rbind', 'rprivate', 'rw'], ...podRange });
  const st = await c.probeStat([joinPod, volume], '/mnt/a', '/mnt/b');
  assert.deepEqual(owners(st), { '/mnt/a': [100, 211], '/mnt/b': [0, 0] });
  chmodSync(dir, 0o777);
  assert.equal(await c.probeWrite([joinPod, volume, { process: { user: { uid: 1000, gid: 1000 } } }], '/mnt/by-1000'), 'ok');
  const made = statSync(join(dir, 'by-1000'));
  assert.deepEqual([made.uid, made.gid], [1000, 1000]);
});

containerTest('"idmap" without mappings and without a user namespace is refused, and nothing is left', async (c) => {
  const { result } = await c.tryCreate(c.bundle(addMounts({ destination: '/vol', type: 'bind', source: ownedDir(c), options: ['bind', 'idmap'] })));
  assertFails(result, 'mounts[', '"idmap" without uidMappings and gidMappings needs a new user namespace');
  await c.assertNothingLeft();
});

containerTest('uidMappings without gidMappings is refused, naming the missing field', async (c) => {
  const m: OciMount = { destination: '/vol', type: 'bind', source: ownedDir(c), options: ['bind'], uidMappings: [map(0, 1000, 1)] };
  const { result } = await c.tryCreate(c.bundle(addMounts(m)));
  assertFails(result, '.gidMappings: required with uidMappings');
  await c.assertNothingLeft();
});

containerTest('a source the kernel cannot idmap fails create with the mount named, and nothing is left', async (c) => {
  // procfs has no idmapped mounts (FS_ALLOW_IDMAP): mount_setattr says EINVAL
  const m: OciMount = { destination: '/vol', type: 'bind', source: '/proc/self/fdinfo', options: ['bind'], uidMappings: [map(0, 1000, 1)], gidMappings: [map(0, 1000, 1)] };
  const { result } = await c.tryCreate(c.bundle(addMounts(m)));
  assertFails(result, 'idmap the mount of /proc/self/fdinfo');
  await c.assertNothingLeft();
});
