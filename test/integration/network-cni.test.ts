/*
 * network-cni.test.ts - `--network cni:<name>` for real: Debian's CNI
 * plugins (bridge with host-local IPAM and ipMasq, portmap) run from a
 * configuration list of the test's own (RUNTS_CNI_CONFIG_DIR), on a bridge
 * and subnet of its own, with leases in a dataDir of its own: never
 * /etc/cni/net.d, /var/lib/cni or another network's bridge.
 *
 * Proven: an address from the subnet, container to container, -p through
 * portmap from the host, CHECK passing and then failing once the address is
 * deleted inside the namespace, DEL on rm (lease file, veth and iptables
 * rules gone) even after the container died, and a plugin failing mid-chain
 * undone whole. The last test deletes the bridge (the bridge plugin never
 * does) and asserts that no iptables rule names the test's network, subnet
 * or containers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ensureRunDir, RUN_PREFIX } from '../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { hasCommand, isRoot, waitFor, fileSkip } from '../lib/host.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';
import { checkNetwork, type NetworkRecord } from '../../src/network/container.ts';
import { BUSYBOX, busyboxLayer, ociLayout } from './image-fixtures.ts';

const PLUGINS = '/usr/lib/cni';
// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const skip = fileSkip('CNI network tests', !isRoot() ? 'needs root' : !existsSync(BUSYBOX) ? 'needs `npm run build` (dist/images/busybox)'
  : !existsSync(join(PLUGINS, 'bridge')) ? 'needs the CNI plugins (apt-get install containernetworking-plugins)'
    : !hasCommand('iptables-save') ? 'needs iptables' : !hasCommand('ip') ? 'needs iproute2' : false);

const base = join(ensureRunDir(), 'network-cni');
const store = join(base, 'store');
const stateRoot = join(base, 'state');
const confDir = join(base, 'net.d');
const binDir = join(base, 'bin');
const ipamDir = join(base, 'ipam');
const octet = 100 + (parseInt(RUN_PREFIX.slice(-2), 16) % 100);
const SUBNET = `10.233.${octet}.0/24`;
const GATEWAY = `10.233.${octet}.1`;
const BRIDGE = `${RUN_PREFIX}c`;
const NET = `${RUN_PREFIX}-cni`;
const BAD = `${RUN_PREFIX}-bad`;
const PORT = 40000 + (parseInt(RUN_PREFIX.slice(-4), 16) % 10000);
const names: string[] = [];
const cname = (n: string) => { const name = `${RUN_PREFIX}-${n}`; names.push(name); return name; };
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const bridgePlugin = {
  type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: true,
  ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET, gateway: GATEWAY }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir },
};
const portmap = { type: 'portmap', capabilities: { portMappings: true } };

/*
 * portmap's shared chains (CNI-HOSTPORT-*), which it never removes: if this
 * file made them, they go at the end, in one iptables-restore transaction
 * that fails whole, changing nothing, while anyone else's rule is in them.
 */
const hadPortmapChains = () => /^:CNI-HOSTPORT-DNAT /m.test(spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).stdout ?? '');
const portmapChainsBefore = !skip && hadPortmapChains();
const PORTMAP_CHAINS_UNDO = `*nat
-D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-D CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-D CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
-X CNI-HOSTPORT-DNAT
-X CNI-HOSTPORT-MASQ
-X CNI-HOSTPORT-SETMARK
COMMIT
`;

after(() => {
  for (const n of names) runts(['container', 'rm', '-f', n]);
  spawnSync('ip', ['link', 'delete', BRIDGE], { stdio: 'ignore' });
  if (!skip && !portmapChainsBefore && hadPortmapChains()) spawnSync('iptables-restore', ['--noflush'], { input: PORTMAP_CHAINS_UNDO, stdio: ['pipe', 'ignore', 'ignore'] });
  rmSync(base, { recursive: true, force: true });
});
checkLeaksAfterFile();

interface Result { code: number; stdout: string; stderr: string }
function runts(args: string[]): Result {
  const env: NodeJS.ProcessEnv = { ...process.env, RUNTS_STORE: store, RUNTS_CNI_CONFIG_DIR: confDir, RUNTS_CNI_PATH: `${binDir}:${PLUGINS}` };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(RUNTS_BIN, ['--root', stateRoot, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
function ok(args: string[]): string {
  const r = runts(args);
  assert.equal(r.code, 0, `runts ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
function fails(args: string[], re: RegExp): void {
  const r = runts(args);
  assert.notEqual(r.code, 0, `runts ${args.join(' ')} succeeded`);
  assert.match(r.stderr, re);
}
/** One HTTP GET with busybox nc; `-w 3` bounds it. */
function httpGet(host: string, port: number): string {
  const r = spawnSync('/bin/busybox', ['nc', '-w', '3', host, String(port)], { input: 'GET / HTTP/1.0\r\n\r\n', encoding: 'utf8', timeout: 10_000 });
  return r.stdout ?? '';
}
const containerDir = (name: string) => join(store, 'containers', name);
const record = (name: string) => JSON.parse(readFileSync(join(containerDir(name), 'network.json'), 'utf8')) as NetworkRecord;
/** host-local keeps one file per lease, named by the address, in dataDir/<network>. */
const leases = (net: string) => { try { return readdirSync(join(ipamDir, net)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)); } catch { return []; } };
const bridgePorts = () => { try { return readdirSync(`/sys/class/net/${BRIDGE}/brif`); } catch { return []; } };
const iptablesLines = (re: RegExp) => (spawnSync('iptables-save', { encoding: 'utf8' }).stdout ?? '').split('\n').filter((l) => re.test(l));
/** The rules of the test: a comment naming its network or a container, or an address of its subnet. */
const ours = new RegExp(`${escape(RUN_PREFIX)}|10\\.233\\.${octet}\\.`);
const hostVethOf = (name: string) => record(name).cni!.result!.interfaces!.find((i) => !i.sandbox && i.name !== BRIDGE)!.name;

function webServer(name: string, text: string, publish: string[]): void {
  ok(['run', '-d', '--name', name, '--network', `cni:${NET}`, ...publish.flatMap((p) => ['-p', p]), 'test/bb:1', 'sh', '-c',
    `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`]);
}

/* ---- the tests ---- */

test('setup: a busybox image, the configuration lists and a plugin that always fails', { skip }, () => {
  mkdirSync(confDir, { recursive: true });
  mkdirSync(binDir, { recursive: true });
  const layout = ociLayout(join(base, 'layout'), 'test/bb:1', [{ tar: busyboxLayer() }]);
  ok(['load', layout.dir]);
  writeFileSync(join(confDir, '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: NET, plugins: [bridgePlugin, portmap] }, null, 2));
  writeFileSync(join(confDir, '20-bad.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: BAD, plugins: [bridgePlugin, portmap, { type: `${RUN_PREFIX}-fail` }] }, null, 2));
  // per the spec: the error as JSON on stdout; DEL of what it never made succeeds. It keeps what it was given.
  const fail = join(binDir, `${RUN_PREFIX}-fail`);
  writeFileSync(fail, `#!/bin/sh\ncat >"${base}/fail-$CNI_COMMAND.json"\n[ "$CNI_COMMAND" = ADD ] || exit 0\n`
    + 'echo \'{"cniVersion":"1.0.0","code":7,"msg":"refusing on purpose","details":"this plugin always fails"}\'\nexit 1\n');
  chmodSync(fail, 0o755);
});

test('an address from the subnet, lo up, /etc/hosts, and another container reached on the same network', { skip }, () => {
  const web = cname('web');
  webServer(web, 'hello-from-cni', []);
  const ip = record(web).ip!;
  assert.match(ip, new RegExp(`^10\\.233\\.${octet}\\.\\d+$`));
  assert.deepEqual(leases(NET), [ip], 'host-local leased exactly that address');
  assert.match(readFileSync(join(containerDir(web), 'hosts'), 'utf8'), new RegExp(`^${escape(ip)}\t(.* )?${web}$`, 'm'));
  const out = ok(['run', '--rm', '--name', cname('client'), '--network', `cni:${NET}`, 'test/bb:1', 'sh', '-c',
    `ip addr show lo; ip addr show eth0; ip route; cat /etc/hosts; for i in 1 2 3 4 5; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} 80 && break; sleep 0.2; done`]);
  assert.match(out, /lo: <LOOPBACK,UP/);
  assert.match(out, new RegExp(`inet 10\\.233\\.${octet}\\.\\d+/24`));
  assert.match(out, new RegExp(`default via ${escape(GATEWAY)} dev eth0`));
  assert.match(out, /hello-from-cni/, 'container to container');
  assert.deepEqual(leases(NET), [ip], '--rm freed the client\'s lease');
  ok(['rm', '-f', web]);
  assert.deepEqual(leases(NET), []);
});

test('-p through portmap: published to the host, its rules gone with the container', { skip }, async () => {
  const web = cname('pub');
  webServer(web, 'hello-through-portmap', [`${PORT}:80`, `127.0.0.1:${PORT + 1}:80`]);
  const ip = record(web).ip!;
  await waitFor(() => httpGet(GATEWAY, PORT).includes('hello-through-portmap'), 'the published server');
  assert.match(httpGet('127.0.0.1', PORT), /hello-through-portmap/, 'via localhost');
  assert.match(httpGet('127.0.0.1', PORT + 1), /hello-through-portmap/, 'a port published on 127.0.0.1');
  assert.ok(iptablesLines(new RegExp(`--to-destination ${escape(ip)}:80`)).length >= 2, 'portmap\'s DNAT rules');
  ok(['stop', '-t', '1', web]);
  assert.deepEqual(iptablesLines(ours), [], 'stop ran DEL: no rule of the container is left');
  assert.equal(httpGet(GATEWAY, PORT), '');
  ok(['rm', web]);
});

test('CHECK passes on a healthy container, fails naming the plugin once its address is deleted, passes once it is back', { skip }, () => {
  const name = cname('check');
  ok(['run', '-d', '--name', name, '--network', `cni:${NET}`, 'test/bb:1', 'sleep', '60']);
  assert.equal(checkNetwork(containerDir(name), name), true);
  const ip = record(name).ip!;
  const pid = (JSON.parse(ok(['state', name])) as { pid: number }).pid;
  const inside = (lines: string[]) => {
    const r = spawnSync('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-batch', '-'], { input: lines.join('\n') + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  inside([`addr del ${ip}/24 dev eth0`]);
  assert.throws(() => checkNetwork(containerDir(name), name), (e: Error) => {
    assert.match(e.message, new RegExp(`^CNI network ${escape(NET)}: plugin bridge CHECK: .*${escape(ip)}`));
    return true;
  });
  // put it back: the bridge plugin's DEL finds the masquerade rules to remove through the address
  inside([`addr add ${ip}/24 dev eth0`, `route add default via ${GATEWAY} dev eth0`]);
  assert.equal(checkNetwork(containerDir(name), name), true);
  assert.throws(() => checkNetwork(join(base, 'nowhere'), 'nowhere'), /is not attached to a CNI network/);
  ok(['rm', '-f', name]);
});

test('DEL after the container died: the pinned namespace still lets bridge remove eth0, its masquerade and the lease', { skip }, async () => {
  const name = cname('dead');
  ok(['run', '-d', '--name', name, '--network', `cni:${NET}`, 'test/bb:1', 'sleep', '60']);
  const veth = hostVethOf(name);
  const pid = (JSON.parse(ok(['state', name])) as { pid: number }).pid;
  assert.ok(iptablesLines(new RegExp(`${escape(name)}`)).length > 0, 'ipMasq\'s rules name the container');
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !existsSync(`/proc/${pid}`), 'the container to die');
  assert.equal(existsSync(`/sys/class/net/${veth}`), true, 'the pinned namespace keeps the veth until DEL');
  ok(['rm', name]);
  assert.equal(existsSync(`/sys/class/net/${veth}`), false, 'the veth is gone');
  assert.deepEqual(leases(NET), [], 'the lease file is gone');
  assert.deepEqual(iptablesLines(ours), [], 'the masquerade rules are gone');
  assert.equal(existsSync(containerDir(name)), false);
});

test('a plugin failing mid-chain: a clear error, and DEL of the whole list leaves nothing', { skip }, () => {
  const name = cname('halfway');
  fails(['run', '--rm', '--name', name, '--network', `cni:${BAD}`, '-p', `${PORT + 2}:80`, 'test/bb:1', 'true'],
    new RegExp(`CNI network ${escape(BAD)}: plugin ${RUN_PREFIX}-fail ADD: refusing on purpose: this plugin always fails \\(CNI error 7: invalid network configuration\\)`));
  const given = (cmd: string) => JSON.parse(readFileSync(join(base, `fail-${cmd}.json`), 'utf8')) as { name: string; prevResult?: { ips?: { address: string }[] } };
  assert.equal(given('ADD').name, BAD, 'the list\'s name, injected');
  assert.match(given('ADD').prevResult!.ips![0]!.address, new RegExp(`^10\\.233\\.${octet}\\.\\d+/24$`), 'bridge had leased an address before the failure');
  assert.deepEqual(given('DEL').prevResult, given('ADD').prevResult, 'DEL of the whole list, with the last result');
  assert.deepEqual(leases(BAD), [], 'no lease');
  assert.deepEqual(bridgePorts(), [], 'no veth on the bridge');
  assert.deepEqual(iptablesLines(ours), [], 'no portmap or masquerade rule');
  assert.equal(existsSync(containerDir(name)), false, 'no container directory');
  assert.notEqual(runts(['state', name]).code, 0, 'no container');
});

test('bad input fails before anything is made, naming what and where', { skip }, () => {
  fails(['run', '--rm', '--network', `cni:${RUN_PREFIX}-nosuch`, 'test/bb:1', 'true'],
    new RegExp(`no CNI network ${RUN_PREFIX}-nosuch in ${escape(confDir)} \\(the networks there: ${escape(BAD)}, ${escape(NET)}\\)`));
  fails(['run', '--rm', '--network', 'cni:', 'test/bb:1', 'true'], /--network cni:: name the CNI network/);
  writeFileSync(join(confDir, '30-noport.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: `${RUN_PREFIX}-noport`, plugins: [bridgePlugin] }));
  try {
    fails(['run', '--rm', '--network', `cni:${RUN_PREFIX}-noport`, '-p', '8080:80', 'test/bb:1', 'true'], /declares "capabilities": \{"portMappings": true\}/);
  } finally {
    rmSync(join(confDir, '30-noport.conflist'));
  }
  assert.deepEqual(readdirSync(join(store, 'containers')), [], 'no container directory');
});

test('nothing is left: no lease, bridge port or iptables rule; the bridge (which DEL never removes) deleted', { skip }, () => {
  for (const n of names) runts(['container', 'rm', '-f', n]);
  assert.deepEqual(leases(NET), []);
  assert.deepEqual(leases(BAD), []);
  assert.deepEqual(bridgePorts(), []);
  assert.deepEqual(iptablesLines(ours), []);
  assert.equal(spawnSync('ip', ['link', 'delete', BRIDGE]).status, 0, 'the bridge plugin made the bridge');
});
