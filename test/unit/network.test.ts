/*
 * network.test.ts - the pure parts of src/network/: subnets and address
 * allocation, -p parsing, the nft scripts, and the /etc files a container
 * gets. No root, no interfaces; the lock is exercised on a temporary file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isRuntsError } from '../../src/errors.ts';
import { containerResolvConf, FALLBACK_RESOLVERS, hostsFile } from '../../src/network/files.ts';
import { formatIp, nextFree, overlaps, parseIp, parseSubnet, portTaken, withLock, type NetworkTable } from '../../src/network/ipam.ts';
import { loopbackGuardScript, publishScript, tableScript, unpublishScript } from '../../src/network/nat.ts';
import { parsePublish } from '../../src/network/ports.ts';
import { parseNetworkFlags } from '../../src/network/container.ts';

const einval = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => isRuntsError(e) && re.test(e.message));

test('IPv4 addresses and subnets round-trip; host bits and bad prefixes are refused', () => {
  assert.equal(formatIp(parseIp('10.77.1.254')), '10.77.1.254');
  assert.deepEqual(parseSubnet('10.77.0.0/16'), { base: parseIp('10.77.0.0'), prefix: 16 });
  einval(() => parseSubnet('10.77.0.1/16'), /host bits are set \(did you mean 10\.77\.0\.0\/16\?\)/);
  einval(() => parseSubnet('10.77.0.0/31'), /prefix from \/8 to \/30/);
  einval(() => parseIp('10.256.0.1'), /not an IPv4 address/);
  assert.equal(overlaps(parseSubnet('10.0.0.0/8'), parseSubnet('10.77.0.0/16')), true);
  assert.equal(overlaps(parseSubnet('10.77.0.0/24'), parseSubnet('10.77.1.0/24')), false);
});

test('allocation: lowest free address, never network, gateway or broadcast; exhaustion is an error', () => {
  const t: NetworkTable = { subnet: '10.9.0.0/29', gateway: '10.9.0.1', allocations: {} };
  const got: string[] = [];
  for (let i = 0; i < 5; i++) {
    const ip = nextFree(t);
    got.push(ip);
    t.allocations[`c${i}`] = { ip, pid: 1, startTime: '0', ports: [] };
  }
  assert.deepEqual(got, ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
  assert.throws(() => nextFree(t), /subnet 10\.9\.0\.0\/29 is exhausted: all 5 addresses are in use/);
  delete t.allocations.c1;
  assert.equal(nextFree(t), '10.9.0.3', 'a released address is reused');
});

test('-p parsing: Docker\'s forms, and clear errors', () => {
  assert.deepEqual(parsePublish('8080:80'), { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, proto: 'tcp' });
  assert.deepEqual(parsePublish('127.0.0.1:53:5353/udp'), { hostIp: '127.0.0.1', hostPort: 53, containerPort: 5353, proto: 'udp' });
  einval(() => parsePublish('80'), /-p 80: a host port and a container port are both needed/);
  einval(() => parsePublish('0:80'), /not a port number: "0"/);
  einval(() => parsePublish('8080:80/sctp'), /unknown protocol "sctp"/);
  einval(() => parsePublish('x:1:2'), /not an IPv4 address: x/);
  einval(() => parsePublish('1:2:3:4'), /both needed/);
});

test('a host port is taken on the same address or across 0.0.0.0, per protocol', () => {
  const p = (s: string) => parsePublish(s);
  const t: NetworkTable = { subnet: '10.9.0.0/24', gateway: '10.9.0.1', allocations: { web: { ip: '10.9.0.2', pid: 1, startTime: '0', ports: [p('127.0.0.1:8080:80')] } } };
  assert.equal(portTaken(t, p('8080:80')), 'web');
  assert.equal(portTaken(t, p('127.0.0.1:8080:81')), 'web');
  assert.equal(portTaken(t, p('127.0.0.2:8080:80')), undefined);
  assert.equal(portTaken(t, p('8080:80/udp')), undefined);
});

test('--network and -p together: only bridge publishes; unknown networks are named', () => {
  assert.equal(parseNetworkFlags(undefined, []).mode, 'bridge');
  assert.throws(() => parseNetworkFlags('none', ['80:80']), /-p needs a bridge network/);
  assert.deepEqual(parseNetworkFlags('container:web'), { mode: 'container', ports: [], container: 'web' });
  assert.throws(() => parseNetworkFlags('container:'), /name the container/);
  assert.throws(() => parseNetworkFlags('container:web', ['80:80']), /publish the ports on that container/);
  assert.throws(() => parseNetworkFlags('nosuch'), (e: unknown) => isRuntsError(e, 'ENOTFOUND') && /--network nosuch: no such network/.test(e.message));
});

test('nft: one table with our bridge and subnet; ports are map elements, created and deleted exactly', () => {
  const script = tableScript({ table: 'runts', bridge: 'runts0', subnet: '10.77.0.0/16' });
  assert.match(script, /^table ip runts \{/);
  assert.match(script, /ip saddr 10\.77\.0\.0\/16 oifname != "runts0" masquerade/);
  assert.match(script, /oifname "runts0" ip saddr 127\.0\.0\.0\/8 masquerade/);
  assert.match(script, /type nat hook output priority -100/);
  assert.match(script, /iifname "runts0" ip daddr 127\.0\.0\.0\/8 ct state != \{ established, related \} drop/, 'the loopback guard');
  assert.equal(loopbackGuardScript({ table: 'runts', bridge: 'runts0', subnet: '10.77.0.0/16' }),
    `table ip runts {\n${/  chain input \{[^}]*\}[^}]*\}\n/.exec(script)![0]}}\n`, 'the same guard, for a table made before it');
  const ports = [parsePublish('8080:80'), parsePublish('127.0.0.1:53:53/udp')];
  assert.equal(publishScript('runts', '10.77.0.2', ports),
    'create element ip runts pub_tcp { 8080 : 10.77.0.2 . 80 }\ncreate element ip runts pub_udp_ip { 127.0.0.1 . 53 : 10.77.0.2 . 53 }\n');
  assert.equal(unpublishScript('runts', '10.77.0.2', ports), publishScript('runts', '10.77.0.2', ports).replace(/create/g, 'delete'));
});

test('resolv.conf: loopback resolvers are dropped as Docker does, with its fallback when none remain', () => {
  const host = 'search example.org\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.53\noptions edns0\n';
  assert.equal(containerResolvConf(host), 'search example.org\nnameserver 192.0.2.53\noptions edns0\n');
  assert.equal(containerResolvConf('nameserver 127.0.0.53\n'), FALLBACK_RESOLVERS.map((s) => `nameserver ${s}\n`).join(''));
  assert.equal(containerResolvConf('nameserver 127.0.0.53\n', true), 'nameserver 127.0.0.53\n', 'host networking keeps them');
});

test('/etc/hosts names the container on its own address', () => {
  assert.equal(hostsFile({ ip: '10.77.0.2', names: ['web'] }, 'box'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.77.0.2\tbox web\n');
  assert.match(hostsFile(undefined, 'box'), /^127\.0\.1\.1\tbox$/m);
});

test('the table lock is taken, and released after use and after a throw; a lock file left behind is no obstacle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'runts-netlock-'));
  try {
    const file = join(dir, 'net.json');
    assert.equal(withLock(file, () => withLock.length), 2);
    assert.throws(() => withLock(file, () => { throw new Error('boom'); }), /boom/);
    // the file a process that is gone left (flock: the kernel dropped its lock with it)
    writeFileSync(`${file}.lock`, '4194305 1\n');
    assert.equal(withLock(file, () => 'taken'), 'taken');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
