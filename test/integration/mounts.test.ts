/*
 * root and mounts: what the container's mount table looks like from inside
 * (the probe parses /proc/self/mountinfo), and what writes do.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addMounts, withArgs, type OciMount } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { mountsUnder, sh, waitFor } from '../lib/host.ts';
import { mountAt, optionList, parseProbe } from '../lib/probe.ts';

checkLeaksAfterFile();

/* A host directory holding hello.txt, to bind into containers. */
function hostDir(c: Ctx, content = 'from the host\n'): string {
  const dir = c.tempDir('host');
  writeFileSync(join(dir, 'hello.txt'), content);
  return dir;
}

const bind = (source: string, destination: string, ...options: string[]): OciMount =>
  ({ destination, type: 'bind', source, options: options.length ? options : ['rbind'] });

containerTest('the root is the bundle rootfs', async (c) => {
  const p = await c.probe();
  const root = mountAt(p, '/');
  assert.ok(root, 'no mount at /');
  assert.ok(root.root.endsWith('/rootfs'), `root mount comes from ${root.root}`);
});

containerTest('root.readonly makes the root read-only (EROFS)', async (c) => {
  assert.equal(await c.probeWrite({ root: { path: 'rootfs', readonly: true } }, '/newfile'), 'EROFS');
});

containerTest('a writable root accepts writes', async (c) => {
  assert.equal(await c.probeWrite({ root: { path: 'rootfs', readonly: false } }, '/newfile'), 'ok');
});

containerTest('the default mounts have their filesystem types', async (c) => {
  const p = await c.probe();
  const types = Object.fromEntries(
    ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys'].map((m) => [m, mountAt(p, m)?.fsType]));
  assert.deepEqual(types, {
    '/proc': 'proc', '/dev': 'tmpfs', '/dev/pts': 'devpts', '/dev/shm': 'tmpfs', '/dev/mqueue': 'mqueue', '/sys': 'sysfs',
  });
});

containerTest('sysfs mounted with "ro" is read-only', async (c) => {
  const p = await c.probe();
  assert.ok(optionList(mountAt(p, '/sys')?.options ?? '').includes('ro'));
});

containerTest('devpts gets its options (newinstance, ptmxmode, mode, gid)', async (c) => {
  const p = await c.probe();
  const sup = optionList(mountAt(p, '/dev/pts')?.superOptions ?? '');
  for (const o of ['ptmxmode=666', 'mode=620', 'gid=5']) assert.ok(sup.includes(o), `devpts lacks ${o}: ${sup}`);
});

containerTest('the cgroup mount shows the container its cgroup hierarchies', async (c) => {
  const p = await c.probe();
  const cg = (p.mounts ?? []).filter((m) => m.mountPoint.startsWith('/sys/fs/cgroup') && /^cgroup2?$/.test(m.fsType));
  assert.ok(cg.length > 0, 'no cgroup filesystem under /sys/fs/cgroup');
});

containerTest('the cgroup mount with "ro" is read-only', async (c) => {
  const p = await c.probe();
  const cg = (p.mounts ?? []).filter((m) => m.mountPoint.startsWith('/sys/fs/cgroup') && /^cgroup2?$/.test(m.fsType));
  for (const m of cg) assert.ok(optionList(m.options).includes('ro'), `${m.mountPoint} is ${m.options}`);
});

containerTest('tmpfs options size and mode are applied', async (c) => {
  const p = await c.probe(addMounts({ destination: '/mnt/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1m', 'mode=1770'] }));
  const m = mountAt(p, '/mnt/scratch');
  assert.equal(m?.fsType, 'tmpfs');
  const sup = optionList(m?.superOptions ?? '');
  assert.ok(sup.includes('size=1024k') && sup.includes('mode=1770'), `super options ${m?.superOptions}`);
  assert.ok(optionList(m?.options ?? '').includes('nosuid'), `options ${m?.options}`);
});

containerTest('a bind mount of a host directory shows its files', async (c) => {
  const dir = hostDir(c);
  const r = await c.probeRead(addMounts(bind(dir, '/mnt/host')), '/mnt/host/hello.txt');
  assert.equal(r.read, 'from the host\n');
});

containerTest('a bind mount of a host file shows its content', async (c) => {
  const file = join(hostDir(c), 'hello.txt');
  const r = await c.probeRead(addMounts(bind(file, '/etc/hello.txt', 'bind')), '/etc/hello.txt');
  assert.equal(r.read, 'from the host\n');
});

containerTest('a missing bind target is created as a directory for a directory source', async (c) => {
  const st = await c.probeStat(addMounts(bind(hostDir(c), '/new/dir/target')), '/new/dir/target');
  assert.equal(st['/new/dir/target']?.type, 'dir');
});

containerTest('a missing bind target is created as a file for a file source', async (c) => {
  const file = join(hostDir(c), 'hello.txt');
  const st = await c.probeStat(addMounts(bind(file, '/new/file.txt', 'bind')), '/new/file.txt');
  assert.equal(st['/new/file.txt']?.type, 'file');
});

containerTest('a read-only bind mount refuses writes (EROFS)', async (c) => {
  const dir = hostDir(c);
  assert.equal(await c.probeWrite(addMounts(bind(dir, '/mnt/host', 'rbind', 'ro')), '/mnt/host/new.txt'), 'EROFS');
  assert.deepEqual(readdirSync(dir), ['hello.txt']);
});

containerTest('a writable bind mount writes through to the host', async (c) => {
  const dir = hostDir(c);
  assert.equal(await c.probeWrite(addMounts(bind(dir, '/mnt/host', 'rbind', 'rw')), '/mnt/host/new.txt', 'hi'), 'ok');
  assert.equal(readFileSync(join(dir, 'new.txt'), 'utf8'), 'hi');
});

containerTest('rbind carries the mounts below the source', async (c) => {
  const dir = hostDir(c);
  mkdirSync(join(dir, 'sub'));
  c.hostMount(join(dir, 'sub'), '-t', 'tmpfs', 'tmpfs');
  const p = await c.probe(addMounts(bind(dir, '/mnt/host', 'rbind')));
  assert.equal(mountAt(p, '/mnt/host/sub')?.fsType, 'tmpfs');
});

containerTest('bind (not rbind) leaves out the mounts below the source', async (c) => {
  const dir = hostDir(c);
  mkdirSync(join(dir, 'sub'));
  c.hostMount(join(dir, 'sub'), '-t', 'tmpfs', 'tmpfs');
  const p = await c.probe(addMounts(bind(dir, '/mnt/host', 'bind')));
  assert.equal(mountAt(p, '/mnt/host/sub'), undefined);
});

/* ---- propagation ---- */

/* A host dir that is its own shared mount: what slave/shared propagation needs. */
function sharedHostDir(c: Ctx): string {
  const dir = hostDir(c);
  c.hostMount(dir, '--bind', dir);
  sh('mount', ['--make-shared', dir]);
  return dir;
}

containerTest('an rshared bind mount is shared inside the container', async (c) => {
  const p = await c.probe(addMounts(bind(hostDir(c), '/mnt/prop', 'rbind', 'rshared')));
  const opt = mountAt(p, '/mnt/prop')?.optional ?? [];
  assert.ok(opt.some((o) => o.startsWith('shared:')), `optional fields: ${opt}`);
});

containerTest('an rslave bind mount of a shared host mount is a slave inside', async (c) => {
  const p = await c.probe(addMounts(bind(sharedHostDir(c), '/mnt/prop', 'rbind', 'rslave')));
  const opt = mountAt(p, '/mnt/prop')?.optional ?? [];
  assert.ok(opt.some((o) => o.startsWith('master:')), `optional fields: ${opt}`);
  assert.ok(!opt.some((o) => o.startsWith('shared:')), `optional fields: ${opt}`);
});

containerTest('an rprivate bind mount of a shared host mount is private inside', async (c) => {
  const p = await c.probe(addMounts(bind(sharedHostDir(c), '/mnt/prop', 'rbind', 'rprivate')));
  assert.deepEqual(mountAt(p, '/mnt/prop')?.optional, []);
});

/* create, mount on the host below the shared source, then start and look */
async function seesLaterHostMount(c: Ctx, propagation: string): Promise<boolean> {
  const dir = sharedHostDir(c);
  mkdirSync(join(dir, 'later'));
  const ct = await c.create(c.bundle([withArgs('--'), addMounts(bind(dir, '/mnt/prop', 'rbind', propagation))]));
  c.hostMount(join(dir, 'later'), '-t', 'tmpfs', 'tmpfs');
  await c.start(ct.id);
  const p = parseProbe(await waitFor(() => ct.output().trim(), 'probe output'));
  return mountAt(p, '/mnt/prop/later') !== undefined;
}

containerTest('a host mount made after create propagates into an rslave bind', async (c) => {
  assert.equal(await seesLaterHostMount(c, 'rslave'), true);
});

containerTest('a host mount made after create does not reach an rprivate bind', async (c) => {
  assert.equal(await seesLaterHostMount(c, 'rprivate'), false);
});

// runc 1.1.5 differs: it leaves "/" private whatever rootfsPropagation says.
containerTest('rootfsPropagation shared makes the root mount shared', async (c) => {
  const p = await c.probe({ linux: { rootfsPropagation: 'shared' } });
  const opt = mountAt(p, '/')?.optional ?? [];
  assert.ok(opt.some((o) => o.startsWith('shared:')), `optional fields of /: ${opt}`);
});

containerTest('rootfsPropagation private makes the root mount private', async (c) => {
  const p = await c.probe({ linux: { rootfsPropagation: 'private' } });
  assert.deepEqual(mountAt(p, '/')?.optional, []);
});

containerTest('container mounts do not appear on the host, even with a shared root', async (c) => {
  const ct = await c.create(c.bundle([withArgs('sleep', '600'), { linux: { rootfsPropagation: 'shared' } }]));
  assert.deepEqual(mountsUnder(c.dir).map((m) => m.mountPoint), []);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(ct.bundle.rootfs), 'the rootfs mount is visible on the host');
});
