/*
 * Refusals: every failing verb exits non-zero with one line on stderr that
 * names what was wrong, and a failed create leaves nothing behind (no state
 * entry, nothing in `list`, no mounts, no helper processes).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { addMounts, withArgs } from '../lib/bundle.ts';
import { assertFails, checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { describeResult } from '../lib/runtime.ts';
import { processAlive } from '../lib/host.ts';

checkLeaksAfterFile();

const sleeper = withArgs('sleep', '600');

containerTest('create with a taken id fails and leaves the first container alone', async (c) => {
  const first = await c.create(c.bundle(sleeper));
  const again = await c.tryCreate(c.bundle(sleeper), { id: first.id });
  assertFails(again.result);
  const st = await c.state(first.id);
  assert.equal(st.status, 'created');
  assert.equal(st.pid, first.pid);
});

containerTest('delete of a running container without --force fails and changes nothing', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  await c.start(ct.id);
  assertFails(await c.runts(['delete', ct.id]));
  assert.equal((await c.state(ct.id)).status, 'running');
  assert.ok(processAlive(ct.pid));
});

containerTest('kill of a stopped container fails', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  await c.start(ct.id);
  await c.kill(ct.id, 'KILL');
  await c.waitForStatus(ct.id, 'stopped');
  assertFails(await c.runts(['kill', ct.id, 'KILL']));
});

containerTest('start of a running container fails', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  await c.start(ct.id);
  assertFails(await c.runts(['start', ct.id]));
  assert.equal((await c.state(ct.id)).status, 'running');
});

containerTest('start of a stopped container fails', async (c) => {
  const ct = await c.create(c.bundle(withArgs('exit', '0')));
  await c.start(ct.id);
  await c.waitForStatus(ct.id, 'stopped');
  assertFails(await c.runts(['start', ct.id]));
});

// runc differs: it says `container "<id>" does not exist`; the runts contract says "not found".
containerTest('state of an unknown id fails saying "not found"', async (c) => {
  const id = c.newId();
  assertFails(await c.runts(['state', id]), /not found/);
});

for (const verb of ['start', 'kill', 'delete']) {
  containerTest(`${verb} of an unknown id fails`, async (c) => {
    assertFails(await c.runts([verb, c.newId()]));
  });
}

// What runc does, and what containerd's shim relies on: a forced delete is idempotent.
containerTest('delete --force of an unknown id succeeds and changes nothing', async (c) => {
  const r = await c.runts(['delete', '--force', c.newId()]);
  assert.equal(r.code, 0, describeResult(r));
  await c.assertNothingLeft();
});

// runc differs: it says "args must not be empty" without the field path.
containerTest('empty process.args is refused, naming process.args', async (c) => {
  const { result } = await c.tryCreate(c.bundle({ process: { args: [] } }));
  assertFails(result, 'process.args');
  await c.assertNothingLeft();
});

containerTest('a missing rootfs is refused, naming the path', async (c) => {
  const b = c.bundle();
  rmSync(b.rootfs, { recursive: true });
  const { result } = await c.tryCreate(b);
  assertFails(result, b.rootfs);
  await c.assertNothingLeft();
});

containerTest('a bind mount with a missing source is refused, naming the source', async (c) => {
  const missing = `${c.dir}/no-such-dir`;
  const { result } = await c.tryCreate(c.bundle(addMounts({ destination: '/mnt/x', type: 'bind', source: missing, options: ['rbind'] })));
  assertFails(result, missing);
  await c.assertNothingLeft();
});

containerTest('an unknown namespace type is refused, naming it', async (c) => {
  const { result } = await c.tryCreate(c.bundle((s) => s.linux!.namespaces!.push({ type: 'bogusns' })));
  assertFails(result, 'bogusns');
  await c.assertNothingLeft();
});

// runc differs: it says only "unexpected EOF", without naming config.json.
containerTest('a config.json that is not JSON is refused, naming config.json', async (c) => {
  const b = c.bundle();
  writeFileSync(b.configPath, '{ "ociVersion": "1.0.2", ');
  const { result } = await c.tryCreate(b);
  assertFails(result, 'config.json');
  await c.assertNothingLeft();
});

containerTest('a bundle without config.json is refused', async (c) => {
  const b = c.bundle();
  rmSync(b.configPath);
  const { result } = await c.tryCreate(b);
  assertFails(result, 'config.json');
  await c.assertNothingLeft();
});

containerTest('a process that cannot be executed fails create, naming it', async (c) => {
  const { result } = await c.tryCreate(c.bundle({ process: { args: ['/no-such-binary'] } }));
  assertFails(result, '/no-such-binary');
  await c.assertNothingLeft();
});

for (const id of ['../escape', 'a/b', '.']) {
  containerTest(`an id like "${id}" is refused`, async (c) => {
    const { result } = await c.tryCreate(c.bundle(sleeper), { id });
    assertFails(result);
    await c.assertNothingLeft();
  });
}

containerTest('an unknown command fails', async (c) => {
  assertFails(await c.runts(['no-such-command']));
});

containerTest('with --log-format json an error is one JSON object on stderr', async (c) => {
  const r = await c.runts(['state', c.newId()], { globalArgs: ['--log-format', 'json'] });
  assertFails(r);
  const entry = JSON.parse(r.stderr.trim()) as { level?: string; msg?: string };
  assert.equal(entry.level, 'error');
  assert.ok(entry.msg, 'the JSON error has a msg');
});

/* runc says "unable to set memory limit ... current usage"; a limit the setup itself outgrows is named, not "unexpected message 9". */
containerTest('a memory limit below what the container needs to start is named: OOM-killed at that limit, in create and in run', async (c) => {
  const tiny = c.bundle([withArgs('exit', '0'), { linux: { resources: { memory: { limit: 16384 } } } }]);
  const oom = /container init was killed by the OOM killer before it was created: linux\.resources\.memory\.limit \(16384 bytes\) is below what the container needs to start/;
  assertFails((await c.tryCreate(tiny)).result, oom);
  assertFails(await c.run(tiny), oom);
  assert.deepEqual(await c.list(), [], 'nothing left');
});

containerTest('an id too long for a directory name is refused, saying how long it may be', async (c) => {
  const r = await c.tryCreate(c.bundle(sleeper), { id: 'a'.repeat(1024) });
  assertFails(r.result, /^runts: invalid container id: 1024 characters long, 200 at most$/m);
});

containerTest('root.path of the host\'s own / (or a symlink to it) is refused, naming root.path', async (c) => {
  for (const path of ['/', c.tempDir('to-root') + '/link']) {
    if (path !== '/') symlinkSync('/', path);
    const r = await c.tryCreate(c.bundle([sleeper, { root: { path } }]));
    assertFails(r.result, /root\.path: .* is the host's own root: a container needs a root filesystem of its own/);
  }
});

containerTest('a --log that cannot be written is an error, not a silence', async (c) => {
  const r = await c.runts(['--log', '/nonexistent-dir/runts.log', 'list']);
  assertFails(r, /^runts: --log \/nonexistent-dir\/runts\.log: no such directory$/m);
});

containerTest('a usage error (an unknown verb, a missing argument) is JSON with --log-format json, and reaches --log', async (c) => {
  const log = `${c.tempDir('log')}/runts.log`;
  for (const args of [['no-such-verb'], ['state']]) {
    const r = await c.runts(args, { globalArgs: ['--log-format', 'json', '--log', log] });
    assertFails(r);
    const entry = JSON.parse(r.stderr.trim()) as { level?: string; msg?: string };
    assert.equal(entry.level, 'error', r.stderr);
    assert.match(entry.msg ?? '', args[0] === 'state' ? /missing required argument/ : /unknown command/);
  }
  const logged = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
  assert.equal(logged.length, 2, 'both errors are in the log');
});
