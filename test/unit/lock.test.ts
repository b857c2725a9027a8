/*
 * lock.test.ts - src/sys/lock.ts, across real processes: node children
 * contend for one lock file and their critical sections never overlap; a
 * holder killed with SIGKILL frees the lock at once; a waiter gives up after
 * its timeout naming the holder; a nested lock fails instead of waiting for
 * itself. No root needed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isRuntsError } from '../../src/errors.ts';
import { withFileLock } from '../../src/sys/lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'runts-lock-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const LOCK_MODULE = new URL('../../src/sys/lock.ts', import.meta.url).href;

/** A node child that runs `body` with withFileLock, appendFileSync and sleep(ms) in scope. */
function child(body: string): ChildProcess {
  const script = `import { withFileLock } from ${JSON.stringify(LOCK_MODULE)};
import { appendFileSync } from 'node:fs';
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
${body}`;
  const c = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  return c;
}

/** Resolves with the child's first line of output. */
async function firstLine(c: ChildProcess): Promise<string> {
  let out = '';
  for await (const chunk of c.stdout!) {
    out += String(chunk);
    if (out.includes('\n')) return out.split('\n')[0]!;
  }
  throw new Error(`child ${c.pid} exited before writing a line`);
}

test('processes contending for the lock take turns: their critical sections never overlap', async () => {
  const lock = join(dir, 'turns.lock');
  const log = join(dir, 'turns.log');
  const ROUNDS = 25;
  const procs = Array.from({ length: 4 }, () => child(`
for (let i = 0; i < ${ROUNDS}; i++) withFileLock(${JSON.stringify(lock)}, () => {
  appendFileSync(${JSON.stringify(log)}, 'start ' + process.pid + '\\n');
  sleep(1);
  appendFileSync(${JSON.stringify(log)}, 'end ' + process.pid + '\\n');
}, { what: 'test lock' });`));
  const codes = await Promise.all(procs.map(async (c) => (await once(c, 'exit'))[0] as number | null));
  assert.deepEqual(codes, [0, 0, 0, 0]);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 4 * ROUNDS * 2);
  for (let i = 0; i < lines.length; i += 2) {
    const pid = lines[i]!.slice('start '.length);
    assert.deepEqual([lines[i], lines[i + 1]], [`start ${pid}`, `end ${pid}`], `line ${i + 1}: a section began before the previous one ended`);
  }
  const holders = new Set(lines.map((l) => l.split(' ')[1]));
  assert.equal(holders.size, 4, 'every process had its turns');
  assert.ok(existsSync(lock), 'the lock file stays: only the lock on it comes and goes');
});

test('a waiter times out naming the holder; a SIGKILLed holder frees the lock at once', async () => {
  const lock = join(dir, 'killed.lock');
  const holder = child(`withFileLock(${JSON.stringify(lock)}, () => { console.log('locked'); sleep(60_000); }, { what: 'test lock' });`);
  assert.equal(await firstLine(holder), 'locked');

  const started = Date.now();
  assert.throws(() => withFileLock(lock, () => 'never', { what: 'test lock', timeoutMs: 300 }), (err: unknown) =>
    isRuntsError(err, 'ESTATE') && err.message === `test lock ${lock} is locked by another runts (pid ${holder.pid}): timed out after 0.3 s`);
  assert.ok(Date.now() - started >= 300, 'it waited for the timeout');

  holder.kill('SIGKILL');
  await once(holder, 'exit');
  assert.equal(withFileLock(lock, () => 'taken', { what: 'test lock', timeoutMs: 0 }), 'taken', 'no stale lock to wait for or break');
});

test('released after a throw; not re-entrant: a nested lock of the same file fails at once', () => {
  const lock = join(dir, 'nested.lock');
  assert.throws(() => withFileLock(lock, () => { throw new Error('boom'); }), /boom/);
  assert.throws(() => withFileLock(lock, () => withFileLock(lock, () => 'inner', { what: 'test lock' }), { what: 'test lock' }),
    (err: unknown) => isRuntsError(err, 'EINTERNAL') && /already locked by this process/.test(err.message));
  assert.equal(withFileLock(lock, () => withFileLock(`${lock}2`, () => 'two locks', { what: 'test lock' })), 'two locks', 'different files nest');
});
