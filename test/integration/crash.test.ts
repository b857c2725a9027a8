/*
 * What a crash or a full disk leaves behind must never wedge an id: runts
 * killed with SIGKILL at its fault points (src/sys/fault.ts, RUNTS_FAULT),
 * state directories left by an older runts, and a write on a full
 * filesystem. After each, `delete` cleans up, the id is free again, and the
 * file leak check finds nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withArgs } from '../lib/bundle.ts';
import { assertOk, checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { sh } from '../lib/host.ts';
import { writeFileAtomic } from '../../src/sys/files.ts';

checkLeaksAfterFile();

const sleeper = withArgs('sleep', '600');

containerTest('create killed after claiming its id: the container reads stopped (its creator is gone), delete removes it, the id is free', async (c) => {
  const b = c.bundle(sleeper);
  const id = c.newId();
  const killed = await c.runts(['create', '--bundle', b.dir, id], { env: { RUNTS_FAULT: 'create.claimed' } });
  assert.equal(killed.signal, 'SIGKILL', `create was to be killed at the fault point: ${killed.code} ${killed.stderr}`);
  const st = JSON.parse((await c.runts(['state', id])).stdout) as { status: string };
  assert.equal(st.status, 'stopped', 'a container whose creator died is not "creating" forever');
  assert.ok((await c.list()).some((s) => s.id === id), 'list shows it');
  assertOk(await c.runts(['delete', id]), 'delete of the dead creation, without --force');
  const ct = await c.create(b, { id });
  await c.delete(ct.id, '--force');
});

containerTest('create killed while claiming its id leaves no directory: the id is free and the next create sweeps the temporary', async (c) => {
  const b = c.bundle(sleeper);
  const id = c.newId();
  const killed = await c.runts(['create', '--bundle', b.dir, id], { env: { RUNTS_FAULT: 'claim.written' } });
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal(existsSync(join(c.root, id)), false, 'no directory under the id');
  assert.ok(readdirSync(c.root).some((n) => n.startsWith('~')), 'the temporary claim is there until someone sweeps');
  const ct = await c.create(b, { id });
  assert.deepEqual(readdirSync(c.root).filter((n) => n.startsWith('~')), [], 'swept by the next create');
  await c.delete(ct.id, '--force');
});

containerTest('a state directory without state.json (an older runts killed while claiming) does not block its id', async (c) => {
  const b = c.bundle(sleeper);
  const [taken, forced] = [c.newId(), c.newId()];
  for (const id of [taken, forced]) {
    mkdirSync(join(c.root, id), { recursive: true });
    writeFileSync(join(c.root, id, 'lock'), '');
  }
  const ct = await c.create(b, { id: taken });
  await c.delete(ct.id, '--force');
  assertOk(await c.runts(['delete', '--force', forced]));
  assert.equal(existsSync(join(c.root, forced)), false, 'delete --force removed it');
});

containerTest('a state file written on a full filesystem keeps its old content and leaves no temporary', async (c) => {
  const dir = c.tempDir('full');
  c.hostMount(dir, '-t', 'tmpfs', '-o', 'size=64k', 'full-fs');
  const file = join(dir, 'state.json');
  writeFileAtomic(file, '{"old":true}');
  sh('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=4k', 'count=100'], { allowFail: true });
  assert.throws(() => writeFileAtomic(file, JSON.stringify({ big: 'x'.repeat(65536) })), new RegExp(`write ${file}: no space left on device$`));
  assert.equal(readFileSync(file, 'utf8'), '{"old":true}');
  assert.deepEqual(readdirSync(dir).sort(), ['filler', 'state.json']);
});
