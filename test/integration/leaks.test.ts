/*
 * The suite-wide leak check (TESTING.md). Run it after the other files:
 * node sorts test files by name, so invoke it on its own, last:
 *
 *   node --test --test-concurrency=1 $(ls test/integration/*.test.ts | grep -v leaks) &&
 *   node --test test/integration/leaks.test.ts
 *
 * Every other file also checks its own leftovers after its last test, so
 * this file adds what only a later process can see: what finished runs left
 * (including crashed ones), and a proof that the checks see a leak at all.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatLeaks, leakCheck, RUN_PREFIX, sweepLeaks } from '../lib/cleanup.ts';
import { checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { sh, waitFor } from '../lib/host.ts';
import { probeBinary } from '../lib/probe.ts';

checkLeaksAfterFile();

/* ---- the checks can see a leak (otherwise a passing check proves nothing) ---- */

containerTest('the leak check sees a mount left under the test dir', async (c) => {
  const dir = c.tempDir('leaky');
  sh('mount', ['-t', 'tmpfs', 'tmpfs', dir]);
  try {
    assert.ok(leakCheck({ scope: 'run' }).some((l) => l.kind === 'mount' && l.what.startsWith(dir)));
  } finally {
    sh('umount', [dir]);
  }
});

containerTest('the leak check sees a cgroup named for this run', async () => {
  const cg = join('/sys/fs/cgroup/pids', `${RUN_PREFIX}-leaky`);
  mkdirSync(cg);
  try {
    assert.ok(leakCheck({ scope: 'run' }).some((l) => l.kind === 'cgroup' && l.what === cg));
  } finally {
    rmdirSync(cg);
  }
});

containerTest('the leak check sees a probe process started for this run', async (c) => {
  const probe = join(c.tempDir('bin'), 'probe'); // named as in a container, so its comm is "probe"
  copyFileSync(probeBinary(), probe);
  chmodSync(probe, 0o755);
  const child = spawn(probe, ['sleep', '60'], { env: { RUNTS_TEST_RUN: RUN_PREFIX }, stdio: 'ignore' });
  try {
    await waitFor(() => leakCheck({ scope: 'run' }).some((l) => l.kind === 'process' && l.what.startsWith(`${child.pid} `)),
      'the leak check to see the probe');
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
});

/* ---- the check itself ---- */

test('nothing is left behind by any finished run', () => {
  const leaks = leakCheck({ scope: 'all' });
  sweepLeaks(leaks); // so the next run starts clean; the failure below still reports them
  assert.equal(leaks.length, 0, `leftovers:\n${formatLeaks(leaks)}`);
});
