/*
 * linux.resources to cgroup values without touching a cgroup: v1 -> v2
 * conversions (runc's formulas), cpu lists, device rules, and the CLI's
 * size and duration flags.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBytes, parseDuration } from '../../src/cli/cgroup-commands.ts';
import { DEFAULT_ALLOWED, deviceRules, v1RuleText } from '../../src/cgroups/device-rules.ts';
import { blkioToIoWeight, sharesToWeight } from '../../src/cgroups/v2.ts';
import { limitValue, parseList } from '../../src/cgroups/writes.ts';
import { parseSpec } from '../../src/oci/validate.ts';

test('cpu shares convert to cpu.weight as runc converts them', () => {
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
});

test('blkio weight converts to io.weight as runc converts it', () => {
  assert.equal(blkioToIoWeight(10), 1);
  assert.equal(blkioToIoWeight(500), 4950);
  assert.equal(blkioToIoWeight(1000), 10000);
});

test('cpu lists expand, and malformed lists name the field', () => {
  assert.deepEqual(parseList('f', '0-2,5'), [0, 1, 2, 5]);
  assert.deepEqual(parseList('f', ''), []);
  assert.throws(() => parseList('linux.resources.cpu.cpus', '3-1'), /linux\.resources\.cpu\.cpus: range 3-1 is backwards/);
  assert.throws(() => parseList('linux.resources.cpu.cpus', 'a,b'), /linux\.resources\.cpu\.cpus: "a,b" is not a list/);
});

test('limits: -1 is unlimited, other negatives are refused with the field', () => {
  assert.equal(limitValue('x', -1), 'max');
  assert.equal(limitValue('x', -1, '-1'), '-1');
  assert.equal(limitValue('x', 42), '42');
  assert.throws(() => limitValue('linux.resources.memory.limit', -5), /linux\.resources\.memory\.limit: must be -1/);
  assert.throws(() => limitValue('linux.resources.memory.limit', 1.5), /linux\.resources\.memory\.limit/);
});

test('int64 limits past 2^53 are read and written exactly; past 2^63-1 refused with the value as written', () => {
  const spec = (limit: string) => `{"ociVersion":"1.2.0","root":{"path":"rootfs"},"linux":{"resources":{"memory":{"limit":${limit},"swap":-1}}}}`;
  const limit = parseSpec(spec('9223372036854775807')).linux!.resources!.memory!.limit!;
  assert.equal(limit, 9223372036854775807n);
  assert.equal(limitValue('linux.resources.memory.limit', limit), '9223372036854775807');
  assert.equal(parseSpec(spec('1073741824')).linux!.resources!.memory!.limit, 1073741824, 'an ordinary limit stays a number');
  assert.throws(() => parseSpec(spec('9223372036854775808')), /linux\.resources\.memory\.limit: must be a 64-bit integer, not 9223372036854775808$/);
  const rlimit = parseSpec(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"cwd":"/","user":{"uid":0,"gid":0},"args":["sh"],"rlimits":[{"type":"RLIMIT_NOFILE","soft":18446744073709551615,"hard":18446744073709551615}]}}`);
  assert.equal(rlimit.process!.rlimits![0]!.hard, 2 ** 64, 'other fields read a large integer as JSON.parse would: RLIM_INFINITY rounded, as before');
});

test('device rules: the config first, then the defaults; wildcards as *', () => {
  const rules = deviceRules([{ allow: false, access: 'rwm' }, { allow: true, type: 'b', major: 8, minor: 0, access: 'rr' }]);
  assert.equal(rules.length, 2 + DEFAULT_ALLOWED.length);
  assert.deepEqual(rules.slice(0, 2).map(v1RuleText), ['a *:* rwm', 'b 8:0 r']);
  assert.ok(rules.map(v1RuleText).includes('c 136:* rwm'), '/dev/pts is allowed');
  assert.ok(rules.map(v1RuleText).includes('c 1:3 rwm'), '/dev/null is allowed');
  assert.throws(() => deviceRules([{ allow: true, type: 'x' as 'a' }]), /linux\.resources\.devices\[0\]\.type: unknown device type "x"/);
  assert.throws(() => deviceRules([{ allow: true, access: 'rx' }]), /devices\[0\]\.access/);
  // a deny rule's letters that name no access are ignored, as runc does ("rwa" in its own tests)
  assert.deepEqual(deviceRules([{ allow: false, type: 'c', major: 1, minor: 11, access: 'rwa' }, { allow: false, access: 'x' }]).slice(0, 1).map(v1RuleText), ['c 1:11 rw']);
  assert.equal(deviceRules([{ allow: false, access: 'x' }]).length, DEFAULT_ALLOWED.length, 'a deny of nothing is no rule');
  assert.throws(() => deviceRules([{ allow: true, type: 'c', major: -7 }]), /devices\[0\]\.major/);
});

test('update flags: sizes and durations as runc spells them', () => {
  assert.equal(parseBytes('--memory', '64m'), 64 * 1024 * 1024);
  assert.equal(parseBytes('--memory', '1g'), 1024 ** 3);
  assert.equal(parseBytes('--memory', '4096'), 4096);
  assert.equal(parseBytes('--memory', '-1'), -1);
  assert.throws(() => parseBytes('--memory', 'lots'), /--memory: not a size/);
  assert.equal(parseDuration('--interval', '5s'), 5000);
  assert.equal(parseDuration('--interval', '250ms'), 250);
  assert.throws(() => parseDuration('--interval', '0s'), /--interval: not a positive duration/);
});
