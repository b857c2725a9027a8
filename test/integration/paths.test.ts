/*
 * linux.maskedPaths and linux.readonlyPaths: hiding and freezing parts of
 * the container's filesystem (/proc and /sys by default).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigPatch } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { describeResult } from '../lib/runtime.ts';

checkLeaksAfterFile();

/* rootfs with /etc/secret (a file) and /etc/secretdir/key (a dir with a file) */
const secrets = {
  prepareRootfs(rootfs: string) {
    writeFileSync(join(rootfs, 'etc/secret'), 'secret\n');
    mkdirSync(join(rootfs, 'etc/secretdir'));
    writeFileSync(join(rootfs, 'etc/secretdir/key'), 'key\n');
  },
};
const masked = (...paths: string[]): ConfigPatch => (s) => void s.linux!.maskedPaths!.push(...paths);
const readonly = (...paths: string[]): ConfigPatch => (s) => void s.linux!.readonlyPaths!.push(...paths);

containerTest('a masked file reads empty', async (c) => {
  const r = await c.probeCmd<{ read?: string }>(masked('/etc/secret'), ['read', '/etc/secret'], secrets);
  assert.equal(r.read, '');
});

containerTest('a masked directory is empty', async (c) => {
  const r = await c.probeCmd<{ ls?: string[] }>(masked('/etc/secretdir'), ['ls', '/etc/secretdir'], secrets);
  assert.deepEqual(r.ls, []);
});

containerTest('writes to a masked file do not reach the file', async (c) => {
  const b = c.bundle([masked('/etc/secret'), { root: { path: 'rootfs', readonly: false }, process: { args: ['/probe', 'write', '/etc/secret', 'leak'] } }], secrets);
  const r = await c.run(b);
  assert.equal(r.code, 0, describeResult(r));
  assert.equal(readFileSync(join(b.rootfs, 'etc/secret'), 'utf8'), 'secret\n');
});

containerTest('the default masked /proc files read empty', async (c) => {
  const present = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug'].filter((p) => existsSync(p));
  assert.ok(present.length > 0, 'none of the masked /proc files exists on this kernel');
  for (const path of present) {
    const r = await c.probeRead(undefined, path);
    assert.equal(r.read ?? r.error, '', path);
  }
});

containerTest('the default masked /sys/firmware is empty', async (c) => {
  assert.deepEqual((await c.probeLs(undefined, '/sys/firmware')).ls, []);
});

containerTest('a masked path that does not exist is ignored', async (c) => {
  const p = await c.probe(masked('/no/such/path'));
  assert.equal(p.pid, 1);
});

containerTest('the default read-only /proc/sys refuses writes (EROFS)', async (c) => {
  assert.equal(await c.probeWrite(undefined, '/proc/sys/kernel/hostname', 'x'), 'EROFS');
});

containerTest('a read-only directory refuses writes (EROFS) on a writable root', async (c) => {
  const patch = [readonly('/etc/secretdir'), { root: { path: 'rootfs', readonly: false } }];
  assert.equal(await c.probeCmd<{ write: string }>(patch, ['write', '/etc/secretdir/new'], secrets).then((r) => r.write), 'EROFS');
});

containerTest('a read-only file refuses writes (EROFS) on a writable root', async (c) => {
  const patch = [readonly('/etc/secret'), { root: { path: 'rootfs', readonly: false } }];
  assert.equal(await c.probeCmd<{ write: string }>(patch, ['write', '/etc/secret'], secrets).then((r) => r.write), 'EROFS');
});

containerTest('a read-only path stays readable', async (c) => {
  const patch = [readonly('/etc/secret'), { root: { path: 'rootfs', readonly: false } }];
  assert.equal((await c.probeCmd<{ read?: string }>(patch, ['read', '/etc/secret'], secrets)).read, 'secret\n');
});
