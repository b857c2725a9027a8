/*
 * /dev: the default devices and symlinks every container gets, linux.devices,
 * and the device cgroup (linux.resources.devices) deciding what opens.
 */
import assert from 'node:assert/strict';
import type { OciDevice, OciSpec } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest } from '../lib/context.ts';

checkLeaksAfterFile();

const DEFAULT_DEVICES: Record<string, [number, number]> = {
  '/dev/null': [1, 3], '/dev/zero': [1, 5], '/dev/full': [1, 7],
  '/dev/random': [1, 8], '/dev/urandom': [1, 9], '/dev/tty': [5, 0],
};

containerTest('the default devices are char devices with their numbers and mode 0666', async (c) => {
  const st = await c.probeStat(undefined, ...Object.keys(DEFAULT_DEVICES));
  for (const [path, [major, minor]] of Object.entries(DEFAULT_DEVICES)) {
    const s = st[path];
    assert.deepEqual([s?.type, s?.major, s?.minor, s?.mode], ['char', major, minor, 0o666], path);
  }
});

containerTest('the default /dev symlinks point where runc points them', async (c) => {
  const links = {
    '/dev/fd': '/proc/self/fd', '/dev/stdin': '/proc/self/fd/0', '/dev/stdout': '/proc/self/fd/1',
    '/dev/stderr': '/proc/self/fd/2', '/dev/ptmx': 'pts/ptmx',
  };
  const st = await c.probeStat(undefined, ...Object.keys(links));
  const seen = Object.fromEntries(Object.keys(links).map((p) => [p, st[p]?.type === 'symlink' ? st[p]?.target : st[p]?.type]));
  assert.deepEqual(seen, links);
});

containerTest('the default devices can be used through the device cgroup', async (c) => {
  assert.equal(await c.probeWrite(undefined, '/dev/null'), 'ok');
});

containerTest('/dev/full refuses writes with ENOSPC (it is the real device)', async (c) => {
  assert.equal(await c.probeWrite(undefined, '/dev/full'), 'ENOSPC');
});

const devices: OciDevice[] = [
  { path: '/dev/rtt-char', type: 'c', major: 1, minor: 5, fileMode: 0o640, uid: 1000, gid: 1001 },
  { path: '/dev/rtt-block', type: 'b', major: 7, minor: 0, fileMode: 0o600, uid: 0, gid: 0 },
  { path: '/dev/rtt-fifo', type: 'p', fileMode: 0o620, uid: 0, gid: 5 },
];
const withDevices = (s: OciSpec) => void (s.linux!.devices = devices);

containerTest('linux.devices are created with their type, numbers, mode and owner', async (c) => {
  const st = await c.probeStat(withDevices, ...devices.map((d) => d.path));
  const TYPES: Record<string, string> = { c: 'char', b: 'block', p: 'fifo' };
  for (const d of devices) {
    const s = st[d.path];
    assert.deepEqual(
      [s?.type, s?.major, s?.minor, s?.mode, s?.uid, s?.gid],
      [TYPES[d.type], d.major ?? 0, d.minor ?? 0, d.fileMode, d.uid, d.gid], d.path);
  }
});

containerTest('a device the device cgroup does not allow cannot be opened (EPERM)', async (c) => {
  const r = await c.probeCmd<{ error?: string }>(withDevices, ['read', '/dev/rtt-block', '1']);
  assert.equal(r.error, 'EPERM');
});

containerTest('a device allowed in linux.resources.devices can be opened', async (c) => {
  const allow = (s: OciSpec) => {
    withDevices(s);
    s.linux!.resources!.devices!.push({ allow: true, type: 'b', major: 7, minor: 0, access: 'rwm' });
  };
  const r = await c.probeCmd<{ read?: string; error?: string }>(allow, ['read', '/dev/rtt-block', '1']);
  assert.equal(r.error, undefined);
});
