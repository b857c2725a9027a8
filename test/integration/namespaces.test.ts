/*
 * linux.namespaces (new, shared with the host, joined by path), user
 * namespace id maps, and what lives in the uts/net namespaces: hostname,
 * domainname, sysctl.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { setNamespaces, withArgs, type ConfigPatch } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { hostNamespace, sh } from '../lib/host.ts';
import { nsInode, parseIdMap } from '../lib/probe.ts';
import { RUN_PREFIX } from '../lib/cleanup.ts';

checkLeaksAfterFile();

/* OCI namespace type -> /proc/self/ns name */
const NS_FILE: Record<string, 'pid' | 'net' | 'ipc' | 'uts' | 'mnt' | 'cgroup' | 'user'> = {
  pid: 'pid', network: 'net', ipc: 'ipc', uts: 'uts', mount: 'mnt', cgroup: 'cgroup', user: 'user',
};

containerTest('every requested namespace is a new one', async (c) => {
  const kinds = ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'];
  const p = await c.probe(setNamespaces(...kinds));
  for (const k of kinds) {
    const f = NS_FILE[k]!;
    assert.notEqual(p.ns[f], hostNamespace(f), `${k} namespace is the host's`);
  }
});

containerTest('namespaces not requested are the host\'s', async (c) => {
  const p = await c.probe([setNamespaces('mount'), { hostname: null }]);
  for (const f of ['pid', 'net', 'ipc', 'uts', 'cgroup', 'user'] as const) {
    assert.equal(p.ns[f], hostNamespace(f), `${f} namespace differs from the host's`);
  }
});

containerTest('the process is pid 1 of its new pid namespace', async (c) => {
  const p = await c.probe();
  assert.equal(p.pid, 1);
});

containerTest('joining a network namespace by path gives that namespace', async (c) => {
  const name = `${RUN_PREFIX}-net`;
  sh('ip', ['netns', 'add', name]);
  c.defer(`ip netns delete ${name}`, () => sh('ip', ['netns', 'delete', name]));
  const path = `/run/netns/${name}`;
  const p = await c.probe((s) => {
    s.linux!.namespaces = s.linux!.namespaces!.map((n) => (n.type === 'network' ? { type: 'network', path } : n));
  });
  assert.equal(nsInode(p.ns.net), statSync(path).ino);
}, { needs: ['ip'] });

const userns = {
  linux: {
    uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }],
  },
};
const withUserns: ConfigPatch = [userns, (s) => void s.linux!.namespaces!.push({ type: 'user' })];

containerTest('a user namespace shows the configured uid and gid maps', async (c) => {
  const p = await c.probe(withUserns);
  assert.deepEqual(parseIdMap(p.uidMap), [[0, 100000, 65536]]);
  assert.deepEqual(parseIdMap(p.gidMap), [[0, 200000, 65536]]);
});

containerTest('in a user namespace the process is root inside', async (c) => {
  const p = await c.probe(withUserns);
  assert.notEqual(p.ns.user, hostNamespace('user'));
  assert.deepEqual([p.uid, p.gid], [0, 0]);
});

containerTest('seen from the host, container root is the mapped host uid', async (c) => {
  const ct = await c.create(c.bundle([withArgs('sleep', '600'), withUserns]));
  const status = readFileSync(`/proc/${ct.pid}/status`, 'utf8');
  assert.match(status, /^Uid:\s+100000\s+100000\s+100000\s+100000$/m);
  assert.match(status, /^Gid:\s+200000\s+200000\s+200000\s+200000$/m);
});

containerTest('hostname is set in the new uts namespace', async (c) => {
  const p = await c.probe({ hostname: 'rtt-host' });
  assert.equal(p.hostname, 'rtt-host');
});

// runc 1.1.5 differs: it ignores "domainname" (support came in runc 1.2).
containerTest('domainname is set in the new uts namespace', async (c) => {
  const p = await c.probe({ domainname: 'example.test' });
  assert.equal(p.domainname, 'example.test');
});

containerTest('a sysctl is applied inside the network namespace only', async (c) => {
  const hostValue = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const want = hostValue.trim() === '1' ? '0' : '1';
  const r = await c.probeRead({ linux: { sysctl: { 'net.ipv4.ip_forward': want } } }, '/proc/sys/net/ipv4/ip_forward');
  assert.equal(r.read, `${want}\n`);
  assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostValue, 'the host value changed');
});

// runtime-spec 1.2 (runc 1.2): linux.timeOffsets in a new time namespace.
const timens: ConfigPatch = [
  { linux: { timeOffsets: { boottime: { secs: 31536000 }, monotonic: { secs: 86400, nanosecs: 5 } } } },
  (s) => void s.linux!.namespaces!.push({ type: 'time' }),
];
const uptime = (text: string | undefined) => Number(text?.split(' ')[0]);

containerTest('a new time namespace shifts CLOCK_BOOTTIME and CLOCK_MONOTONIC by linux.timeOffsets', async (c) => {
  const offsets = await c.probeRead(timens, '/proc/self/timens_offsets');
  assert.deepEqual(offsets.read?.trim().split('\n').map((l) => l.trim().split(/\s+/)), [['monotonic', '86400', '5'], ['boottime', '31536000', '0']]);
  const inside = uptime((await c.probeRead(timens, '/proc/uptime')).read);
  const host = uptime(readFileSync('/proc/uptime', 'utf8'));
  assert.ok(inside - host > 31536000 - 60 && inside - host < 31536000 + 60, `uptime inside ${inside}, on the host ${host}`);
});

containerTest('exec joins the container\'s time namespace', async (c) => {
  const ct = await c.create(c.bundle([withArgs('sleep', '600'), timens]));
  const r = await c.runts(['exec', ct.id, '/probe', 'read', '/proc/uptime']);
  assert.equal(r.code, 0, r.stderr);
  const inside = uptime((JSON.parse(r.stdout) as { read?: string }).read);
  assert.ok(inside > 31536000, `uptime in exec: ${inside}`);
});
