// Tests for the rootless front end's decisions, on fake hosts: where the
// store goes (src/image/location.ts), the user namespace it runs in
// (src/rootless/userns.ts), the container's id maps (src/frontend/spec.ts),
// pasta's command line and the port check (src/network/pasta.ts). The real
// thing runs as an unprivileged user in test/integration/rootless-frontend.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultStoreRoot } from '../../src/image/location.ts';
import { overlayAttribute } from '../../src/image/unpack.ts';
import type { IdMapHost } from '../../src/rootless/idmap.ts';
import { frontEndIdMap, namespaceRanges, unshareArgs } from '../../src/rootless/userns.ts';
import { checkUnprivilegedPorts, pastaArgs, unprivilegedPortStart } from '../../src/network/pasta.ts';
import { parseNetworkFlags } from '../../src/network/container.ts';
import { parsePublish } from '../../src/network/ports.ts';
import { imageSpec, rootlessImageSpec } from '../../src/frontend/spec.ts';

test('store: /var/lib/runts for root; $XDG_DATA_HOME/runts, else ~/.local/share/runts for a user; an error without either', () => {
  assert.equal(defaultStoreRoot({ XDG_DATA_HOME: '/x', HOME: '/root' }, 0), '/var/lib/runts');
  assert.equal(defaultStoreRoot({ XDG_DATA_HOME: '/data/alice', HOME: '/home/alice' }, 1000), '/data/alice/runts');
  assert.equal(defaultStoreRoot({ HOME: '/home/alice' }, 1000), '/home/alice/.local/share/runts');
  // the XDG rules: a relative XDG_DATA_HOME is ignored
  assert.equal(defaultStoreRoot({ XDG_DATA_HOME: 'data', HOME: '/home/alice' }, 1000), '/home/alice/.local/share/runts');
  assert.throws(() => defaultStoreRoot({}, 1000), /uid 1000.*neither XDG_DATA_HOME nor HOME is set: set one, or pass --store DIR/);
});

const host = (over: Partial<IdMapHost> = {}): IdMapHost => ({
  euid: 1000, egid: 1001, userName: 'alice',
  subuid: 'alice:100000:65536\nalice:300000:10\n', subgid: 'alice:200000:65536\n',
  newuidmap: '/usr/bin/newuidmap', newgidmap: '/usr/bin/newgidmap', ...over,
});

test('the user namespace: root is the user, 1.. its first subordinate range; unshare is told so', () => {
  const map = frontEndIdMap(host(), true);
  assert.deepEqual(map, { uid: 1000, gid: 1001, subuid: { start: 100000, count: 65536 }, subgid: { start: 200000, count: 65536 } });
  assert.deepEqual(unshareArgs(map), ['--map-user=0', '--map-group=0', '--map-users=100000,1,65536', '--map-groups=200000,1,65536', '--mount', '--propagation=private']);
});

test('the user namespace: each missing piece is one error naming it and its fix', () => {
  assert.throws(() => frontEndIdMap(host({ subuid: 'bob:100000:65536\n' }), true), /\/etc\/subuid gives uid 1000 \(alice\) none: as root, run `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice`/);
  assert.throws(() => frontEndIdMap(host({ subuid: undefined, subgid: '' }), true), /\/etc\/subuid and \/etc\/subgid give uid 1000 \(alice\) none/);
  assert.throws(() => frontEndIdMap(host({ newuidmap: undefined }), true), /through newuidmap \(setuid root; Debian package uidmap\), and it is not installed: as root, run `apt-get install uidmap`/);
  assert.throws(() => frontEndIdMap(host({ newuidmap: undefined, newgidmap: undefined }), true), /newuidmap and newgidmap .* they are not installed/);
  assert.throws(() => frontEndIdMap(host(), false), /\/usr\/bin\/unshare \(util-linux >= 2.38\), and it is not installed/);
});

test('a container maps its user namespace 1:1 onto the front end\'s, one line per line of its map', () => {
  const ranges = namespaceRanges('         0       1000          1\n         1     100000      65536\n');
  assert.deepEqual(ranges, [{ start: 0, count: 1 }, { start: 1, count: 65536 }]);
  const config = { config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [] } };
  const spec = rootlessImageSpec(imageSpec(config, [], { env: [], volumes: [] }, 'c1'), ranges, ranges);
  assert.deepEqual(spec.linux!.uidMappings, [{ containerID: 0, hostID: 0, size: 1 }, { containerID: 1, hostID: 1, size: 65536 }]);
  assert.deepEqual(spec.linux!.gidMappings, spec.linux!.uidMappings);
  assert.equal(spec.linux!.namespaces!.filter((n) => n.type === 'user').length, 1);
  // a network namespace of its own: sysfs is mounted; without one (host mode) the host's is bound
  assert.equal(spec.mounts!.find((m) => m.destination === '/sys')!.type, 'sysfs');
  const host = imageSpec(config, [], { env: [], volumes: [] }, 'c2');
  host.linux!.namespaces = host.linux!.namespaces!.filter((n) => n.type !== 'network');
  const sys = rootlessImageSpec(host, ranges, ranges).mounts!.find((m) => m.destination === '/sys')!;
  assert.deepEqual(sys, { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
});

test('overlay attributes: trusted.overlay.* and user.overlay.* are OverlayFS\'s, others are the file\'s', () => {
  assert.equal(overlayAttribute('trusted.overlay.opaque'), 'opaque');
  assert.equal(overlayAttribute('user.overlay.origin'), 'origin');
  assert.equal(overlayAttribute('user.mime_type'), undefined);
  assert.equal(overlayAttribute('security.capability'), undefined);
});

test('ports: below net.ipv4.ip_unprivileged_port_start is refused with the sysctl named; at or above it is fine', () => {
  assert.equal(unprivilegedPortStart('1024\n'), 1024);
  checkUnprivilegedPorts([parsePublish('8080:80')], 1024);
  checkUnprivilegedPorts([parsePublish('80:80')], 80);
  assert.throws(() => checkUnprivilegedPorts([parsePublish('8080:80'), parsePublish('127.0.0.1:443:443')], 1024),
    /-p 127.0.0.1:443->443\/tcp: host port 443 is below 1024, the lowest port an unprivileged user may bind \(net.ipv4.ip_unprivileged_port_start = 1024\): publish a port >= 1024, or, as root, lower it with `sysctl net.ipv4.ip_unprivileged_port_start=443`/);
});

test('pasta: only the ports -p asks, each way; the namespaces come as descriptors', () => {
  assert.deepEqual(pastaArgs([parsePublish('8080:80'), parsePublish('127.0.0.1:5353:53/udp')], '/c/pasta.pid'), [
    '--foreground', '--quiet', '--config-net', '--pid', '/c/pasta.pid',
    '-t', '8080:80', '-u', '127.0.0.1/5353:53',
    '-T', 'none', '-U', 'none', '--no-map-gw',
    '--userns', '/proc/self/fd/3', '--netns', '/proc/self/fd/4', '--no-netns-quit',
  ]);
  assert.deepEqual(pastaArgs([], '/p').slice(5, 9), ['-t', 'none', '-u', 'none']);
});

test('network flags as a user: pasta by default, none and host; no bridge, CNI or container:NAME; pasta is a user\'s only', () => {
  assert.equal(parseNetworkFlags(undefined, [], true).mode, 'pasta');
  assert.deepEqual(parseNetworkFlags(undefined, ['8080:80'], true).ports, [parsePublish('8080:80')]);
  assert.equal(parseNetworkFlags('none', [], true).mode, 'none');
  assert.equal(parseNetworkFlags('host', [], true).mode, 'host');
  assert.throws(() => parseNetworkFlags('bridge', [], true), /--network bridge: an unprivileged user's container cannot be wired to a bridge or CNI network .*use pasta \(the default\), none or host$/);
  assert.throws(() => parseNetworkFlags('container:web', [], true), /--network container:web: an unprivileged user's container cannot join another container's network/);
  assert.throws(() => parseNetworkFlags('cni:x', [], true), /cannot be wired to a bridge or CNI network/);
  assert.throws(() => parseNetworkFlags('pasta', [], false), /--network pasta: the network of an unprivileged user's containers/);
});
