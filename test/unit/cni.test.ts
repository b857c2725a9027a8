/*
 * cni.test.ts - the CNI driver without root or interfaces: finding a
 * configuration list and refusing a bad one, what each plugin reads on stdin
 * (name, cniVersion, runtimeConfig, prevResult), the order of ADD, CHECK and
 * DEL and the undo of a failed ADD, and plugin errors. The plugins are tiny
 * shell scripts in a temporary directory that log their environment and
 * input and answer as the spec says; nothing touches a network.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isRuntsError } from '../../src/errors.ts';
import { cniAdd, cniCheck, cniDel, containerAddress, dnsResolvConf, loadNetwork, pluginError, pluginInput, type CniResult } from '../../src/network/cni.ts';
import type { PortMapping } from '../../src/network/ipam.ts';

const dir = mkdtempSync(join(tmpdir(), 'runts-cni-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const confDir = join(dir, 'net.d');
const bin = join(dir, 'bin');
const log = join(dir, 'log');
mkdirSync(confDir);
mkdirSync(bin);

/** A plugin that logs its call and input; on ADD it answers `result` (or fails with `error`, exit 1). */
function plugin(type: string, answer: { result?: object; error?: string; failDel?: boolean } = {}): void {
  const out = answer.error ?? JSON.stringify(answer.result ?? { cniVersion: '1.0.0' });
  writeFileSync(join(bin, type), `#!/bin/sh
cat >"${dir}/${type}-$CNI_COMMAND.json"
echo "${type} $CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $CNI_PATH" >>"${log}"
${answer.failDel ? `[ "$CNI_COMMAND" = DEL ] && { echo 'cannot undo' >&2; exit 2; }` : ''}
[ "$CNI_COMMAND" = ADD ] || exit 0
echo '${out}'
${answer.error ? 'exit 1' : 'exit 0'}
`);
  chmodSync(join(bin, type), 0o755);
}
const input = (type: string, cmd: string) => JSON.parse(readFileSync(join(dir, `${type}-${cmd}.json`), 'utf8')) as Record<string, unknown>;
const calls = () => { try { return readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' ')); } catch { return []; } };
const conf = (file: string, body: object | string) => writeFileSync(join(confDir, file), typeof body === 'string' ? body : JSON.stringify(body));
const fails = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => isRuntsError(e) && re.test(e.message) || assert.fail(`${(e as Error).message} does not match ${re}`));

const resultOf = (n: number): CniResult => ({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/x' }], ips: [{ address: `10.9.0.${n}/24`, interface: 0 }] });
plugin('first', { result: resultOf(2) });
plugin('second', { result: resultOf(3) });
plugin('ipamish');
plugin('broken', { error: '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"lock held"}' });
plugin('stubborn', { error: 'not json at all', failDel: true });
plugin('sloppy', { result: { cniVersion: '1.0.0', ips: [{ address: '10.9.0.9/24' }], dns: { nameservers: '10.9.0.1' } } });

const list = (name: string, plugins: object[], extra: object = {}) => ({ cniVersion: '1.0.0', name, plugins, ...extra });
conf('10-a.conflist', list('a', [{ type: 'first', ipam: { type: 'ipamish' } }, { type: 'second', capabilities: { portMappings: true }, runtimeConfig: { stale: 1 } }]));
conf('20-a-again.conflist', list('a', [{ type: 'second' }]));
conf('30-legacy.conf', { cniVersion: '0.4.0', name: 'legacy', type: 'first' });
conf('40-bad.conflist', list('bad', [{ type: 'first' }, { type: 'broken' }, { type: 'second' }]));
conf('50-worse.conflist', list('worse', [{ type: 'first' }, { type: 'stubborn' }]));
conf('51-sloppy.conflist', list('sloppy', [{ type: 'sloppy' }]));
conf('60-nocheck.conflist', list('nocheck', [{ type: 'first' }], { disableCheck: true }));
conf('61-old.conflist', { ...list('old', [{ type: 'first' }]), cniVersion: '0.3.1' });
conf('70-future.conflist', { ...list('future', [{ type: 'first' }]), cniVersion: '9.9.9' });
conf('71-nobin.conflist', list('nobin', [{ type: 'first' }, { type: 'nosuch' }]));
conf('72-noipam.conflist', list('noipam', [{ type: 'first', ipam: { type: 'host-nowhere' } }]));
conf('73-escape.conflist', list('escape', [{ type: '../bin/first' }]));
conf('80-broken.conflist', '{"name": "half"');
conf('README', 'not a configuration');

const load = (name: string) => loadNetwork(name, confDir, [join(dir, 'empty'), bin]);
const ports: PortMapping[] = [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, proto: 'tcp' }, { hostIp: '127.0.0.1', hostPort: 53, containerPort: 53, proto: 'udp' }];

test('lookup: the first file by name wins; a legacy .conf is a list of one; the search path is kept', () => {
  const a = load('a');
  assert.equal(a.file, join(confDir, '10-a.conflist'));
  assert.deepEqual(a.plugins.map((p) => p.type), ['first', 'second']);
  assert.deepEqual(a.path, [join(dir, 'empty'), bin]);
  const legacy = load('legacy');
  assert.equal(legacy.cniVersion, '0.4.0');
  assert.deepEqual(legacy.plugins, [{ cniVersion: '0.4.0', name: 'legacy', type: 'first' }]);
  assert.equal(load('nocheck').disableCheck, true);
});

test('lookup errors name the network, the file and why', () => {
  fails(() => load('nosuch'), new RegExp(`no CNI network nosuch in ${confDir} \\(the networks there: a, bad, escape, future, legacy, nobin, nocheck, noipam, old, sloppy, worse\\); not valid JSON: ${join(confDir, '80-broken.conflist')}: .*JSON`));
  fails(() => load('future'), /CNI network future \(.*70-future\.conflist\): cniVersion "9\.9\.9" is not supported \(runts speaks 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0\)/);
  fails(() => load('nobin'), new RegExp(`71-nobin\\.conflist\\): plugin nosuch not found in ${join(dir, 'empty')}:${bin}`));
  fails(() => load('noipam'), /plugin host-nowhere not found in/);
  fails(() => load('escape'), /plugins\[0\] needs a "type" naming an executable/);
  fails(() => loadNetwork('a', join(dir, 'nowhere')), /no CNI network a: cannot read .*nowhere/);
});

test('plugin input: the list\'s name and version, runtimeConfig only for a declared capability, prevResult', () => {
  const a = load('a');
  const prev = resultOf(2);
  const first = pluginInput(a, a.plugins[0]!, ports);
  assert.deepEqual(first, { type: 'first', ipam: { type: 'ipamish' }, name: 'a', cniVersion: '1.0.0' });
  const second = pluginInput(a, a.plugins[1]!, ports, prev);
  assert.deepEqual(second.runtimeConfig, { portMappings: [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 53, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
  ] });
  assert.deepEqual(second.prevResult, prev);
  const legacy = load('legacy');
  assert.equal(pluginInput({ ...legacy, cniVersion: '1.0.0' }, legacy.plugins[0]!, []).cniVersion, '1.0.0', 'the list\'s version replaces the plugin\'s');
});

test('ADD in order, each given the previous result; CHECK in order and DEL in reverse, given the cached one', () => {
  rmSync(log, { force: true });
  const a = load('a');
  const c = { id: 'web1', netns: '/run/netns/x', ports };
  const result = cniAdd(a, c);
  assert.deepEqual(result, resultOf(3), 'the last plugin\'s result');
  assert.equal(input('first', 'ADD').prevResult, undefined);
  assert.deepEqual(input('second', 'ADD').prevResult, resultOf(2));
  assert.equal(cniCheck(a, c, result), true);
  assert.deepEqual(input('first', 'CHECK').prevResult, result);
  cniDel(a, { ...c, netns: '' }, result);
  assert.deepEqual(input('first', 'DEL').prevResult, result);
  assert.deepEqual(calls(), ['first ADD', 'second ADD', 'first CHECK', 'second CHECK', 'second DEL', 'first DEL']);
  const env = readFileSync(log, 'utf8').split('\n');
  assert.equal(env[0], `first ADD web1 /run/netns/x eth0 ${join(dir, 'empty')}:${bin}`);
  assert.equal(env[5], `first DEL web1  eth0 ${join(dir, 'empty')}:${bin}`, 'DEL without a namespace');
});

test('CHECK is never called with disableCheck, and refused before cniVersion 0.4.0', () => {
  rmSync(log, { force: true });
  assert.equal(cniCheck(load('nocheck'), { id: 'x', netns: '/n', ports: [] }, resultOf(2)), false);
  fails(() => cniCheck(load('old'), { id: 'x', netns: '/n', ports: [] }, resultOf(2)), /CNI network old: CHECK needs cniVersion 0\.4\.0 or later, not 0\.3\.1/);
  assert.deepEqual(calls(), []);
});

test('an ADD failing halfway DELs the whole list, last first, with the last result; the error is the plugin\'s', () => {
  rmSync(log, { force: true });
  fails(() => cniAdd(load('bad'), { id: 'web2', netns: '/n', ports: [] }),
    /^CNI network bad: plugin broken ADD: busy: lock held \(CNI error 11: try again later\)$/);
  assert.deepEqual(calls(), ['first ADD', 'broken ADD', 'second DEL', 'broken DEL', 'first DEL']);
  assert.deepEqual(input('second', 'DEL').prevResult, resultOf(2));
  rmSync(log, { force: true });
  fails(() => cniAdd(load('worse'), { id: 'web3', netns: '/n', ports: [] }),
    /^CNI network worse: plugin stubborn ADD: not json at all \(exit status 1\); undoing it failed too: CNI network worse: plugin stubborn DEL: cannot undo \(exit status 2\)$/);
});

test('a malformed result is the plugin\'s error, and is undone like any failed ADD', () => {
  rmSync(log, { force: true });
  fails(() => cniAdd(load('sloppy'), { id: 'web4', netns: '/n', ports: [] }),
    /^CNI network sloppy: plugin sloppy ADD: no valid result on stdout: "dns" is not \{nameservers, domain, search, options\} of strings$/);
  assert.deepEqual(calls(), ['sloppy ADD', 'sloppy DEL']);
});

test('plugin errors: the spec\'s JSON, else stderr, else how it ended', () => {
  assert.equal(pluginError('{"code":7,"msg":"bad subnet"}', '', 1, null), 'bad subnet (CNI error 7: invalid network configuration)');
  assert.equal(pluginError('{"code":100,"msg":"custom"}', '', 1, null), 'custom (CNI error 100)');
  assert.equal(pluginError('', 'panic: oops\ngoroutine 1', 2, null), 'panic: oops; goroutine 1 (exit status 2)');
  assert.equal(pluginError('', '', null, 'SIGTERM'), 'killed by SIGTERM');
});

test('the container\'s address and resolv.conf from a result', () => {
  const r: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'br0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/n' }],
    ips: [{ address: '10.9.0.1/24', interface: 0 }, { address: '10.9.0.7/24', interface: 2 }],
  };
  assert.equal(containerAddress(r), '10.9.0.7');
  assert.equal(containerAddress({ cniVersion: '1.0.0', ips: [{ address: '10.9.0.8/24' }] }), '10.9.0.8');
  assert.equal(containerAddress({ cniVersion: '1.0.0' }), undefined);
  assert.equal(dnsResolvConf(undefined), undefined);
  assert.equal(dnsResolvConf({ domain: 'x' }), undefined, 'no nameserver: the host\'s resolv.conf applies');
  assert.equal(dnsResolvConf({ nameservers: ['10.9.0.1'], domain: 'lan', options: ['ndots:2'] }), 'nameserver 10.9.0.1\nsearch lan\noptions ndots:2\n');
  assert.equal(dnsResolvConf({ nameservers: ['10.9.0.1', '1.1.1.1'], domain: 'lan', search: ['a', 'b'] }), 'nameserver 10.9.0.1\nnameserver 1.1.1.1\nsearch a b\n');
});
