/*
 * The OCI lifecycle through the runc-compatible CLI: create, start, state,
 * kill, delete, run, list, spec, features.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { withArgs } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { describeResult } from '../lib/runtime.ts';
import { processAlive, waitFor } from '../lib/host.ts';
import { parseProbe, parseProbeJson } from '../lib/probe.ts';

checkLeaksAfterFile();

/* A container that stays up until signalled (the probe handles TERM/INT/HUP/USR1/USR2). */
const sleeper = withArgs('sleep', '600');

/* started, and past installing its signal handlers (it printed {"sleeping":N}) */
async function startedSleeper(c: Ctx) {
  const ct = await c.create(c.bundle(sleeper));
  await c.start(ct.id);
  await c.waitForOutput(ct, /"sleeping"/);
  return ct;
}

/* the {"signal":N} line the sleeping probe prints when a signal reaches it */
function signalReceived(output: string): number | undefined {
  const lines = output.trim().split('\n').map((l) => parseProbeJson<{ signal?: number }>(l));
  return lines.find((l) => l.signal !== undefined)?.signal;
}

containerTest('full lifecycle: create, start, kill, delete', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  assert.equal((await c.state(ct.id)).status, 'created');
  await c.start(ct.id);
  assert.equal((await c.state(ct.id)).status, 'running');
  await c.waitForOutput(ct, /"sleeping"/);
  await c.kill(ct.id);
  await c.waitForStatus(ct.id, 'stopped');
  await c.delete(ct.id);
  assert.deepEqual(await c.list(), []);
});

containerTest('create leaves a live process and reports it in state', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  const st = await c.state(ct.id);
  assert.equal(st.status, 'created');
  assert.ok(st.pid > 0, `pid ${st.pid}`);
  assert.ok(processAlive(st.pid), `process ${st.pid} is not alive`);
});

containerTest('the pid file is written before create returns', async (c) => {
  const pidFile = `${c.dir}/container.pid`;
  const ct = await c.create(c.bundle(sleeper), { flags: ['--pid-file', pidFile] });
  // read right after create returned: no waiting, the engine contract forbids a late pid file
  assert.equal(readFileSync(pidFile, 'utf8').trim(), String(ct.pid));
});

containerTest('the process does not run before start', async (c) => {
  const ct = await c.create(c.bundle(withArgs('--')));
  assert.equal(ct.output(), '', 'the probe printed before start');
  await c.start(ct.id);
  const out = await waitFor(() => ct.output().trim(), 'probe output after start');
  assert.equal(parseProbe(out).argv[0], '/probe');
});

containerTest('state reports ociVersion, id, status, pid, bundle and annotations', async (c) => {
  const ct = await c.create(c.bundle([sleeper, { annotations: { 'org.runts.test': 'yes' } }]));
  const st = await c.state(ct.id);
  assert.match(st.ociVersion, /^\d+\.\d+\.\d+/);
  assert.equal(st.id, ct.id);
  assert.equal(st.status, 'created');
  assert.equal(st.pid, ct.pid);
  assert.equal(st.bundle, ct.bundle.dir);
  assert.deepEqual(st.annotations, { 'org.runts.test': 'yes' });
});

containerTest('start makes the container running', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  await c.start(ct.id);
  assert.equal((await c.state(ct.id)).status, 'running');
});

containerTest('kill sends SIGTERM by default and the container stops', async (c) => {
  const ct = await startedSleeper(c);
  await c.kill(ct.id);
  await c.waitForStatus(ct.id, 'stopped');
  assert.equal(signalReceived(ct.output()), 15);
});

for (const signal of ['SIGUSR1', 'USR1', '10']) {
  containerTest(`kill accepts the signal as "${signal}"`, async (c) => {
    const ct = await startedSleeper(c);
    await c.kill(ct.id, signal);
    await c.waitForStatus(ct.id, 'stopped');
    assert.equal(signalReceived(ct.output()), 10);
  });
}

containerTest('kill KILL stops the process without it seeing a signal', async (c) => {
  const ct = await startedSleeper(c);
  await c.kill(ct.id, 'KILL');
  await c.waitForStatus(ct.id, 'stopped');
  assert.equal(signalReceived(ct.output()), undefined);
});

containerTest('kill with signal 0 (and kill -a) asks whether the container runs, as runc: success while it does, "not running" after', async (c) => {
  const ct = await startedSleeper(c);
  await c.kill(ct.id, '0');
  await c.kill(ct.id, '--all', '0');
  assert.equal((await c.state(ct.id)).status, 'running', 'signal 0 changed nothing');
  await c.kill(ct.id, 'KILL');
  await c.waitForStatus(ct.id, 'stopped');
  const r = await c.runts(['kill', ct.id, '0']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /container not running/);
});

containerTest('delete removes a stopped container and its state', async (c) => {
  const ct = await startedSleeper(c);
  await c.kill(ct.id, 'KILL');
  await c.waitForStatus(ct.id, 'stopped');
  await c.delete(ct.id);
  assert.notEqual((await c.runts(['state', ct.id])).code, 0, 'state still answers after delete');
  assert.deepEqual(readdirSync(c.root), []);
});

containerTest('delete --force stops and removes a running container', async (c) => {
  const ct = await startedSleeper(c);
  await c.delete(ct.id, '--force');
  assert.ok(!processAlive(ct.pid), 'the container process survived delete --force');
  assert.deepEqual(await c.list(), []);
});

containerTest('delete --force removes a created container', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  await c.delete(ct.id, '--force');
  assert.ok(!processAlive(ct.pid), 'the container process survived delete --force');
  assert.deepEqual(await c.list(), []);
});

containerTest('run in the foreground exits with the exit code of the process', async (c) => {
  const r = await c.run(c.bundle(withArgs('exit', '7')));
  assert.equal(r.code, 7, describeResult(r));
});

containerTest('run in the foreground passes the process output through', async (c) => {
  const r = await c.run(c.bundle(withArgs('--', 'hello')));
  assert.equal(r.code, 0, describeResult(r));
  assert.deepEqual(parseProbe(r.stdout).argv, ['/probe', '--', 'hello']);
});

containerTest('run in the foreground removes the container when the process exits', async (c) => {
  const r = await c.run(c.bundle(withArgs('exit', '0')));
  assert.equal(r.code, 0, describeResult(r));
  assert.deepEqual(await c.list(), []);
  assert.deepEqual(readdirSync(c.root), []);
});

containerTest('run --keep keeps the stopped container for state and delete, as runc', async (c) => {
  const r = await c.run(c.bundle(withArgs('exit', '4')), { flags: ['--keep'] });
  assert.equal(r.code, 4, describeResult(r));
  assert.equal((await c.state(r.id)).status, 'stopped');
  await c.delete(r.id);
  assert.deepEqual(await c.list(), []);
  assert.notEqual((await c.runts(['run', '--keep', '--detach', '--bundle', c.bundle(sleeper).dir, c.newId()])).code, 0, '--keep with --detach is refused');
});

containerTest('run --detach returns while the process keeps running', async (c) => {
  const r = await c.run(c.bundle(sleeper), { flags: ['--detach'] });
  assert.equal(r.code, 0, describeResult(r));
  assert.equal((await c.state(r.id)).status, 'running');
});

containerTest('run --detach writes the pid file', async (c) => {
  const pidFile = `${c.dir}/run.pid`;
  const r = await c.run(c.bundle(sleeper), { flags: ['--detach', '--pid-file', pidFile] });
  assert.equal(r.code, 0, describeResult(r));
  assert.equal(readFileSync(pidFile, 'utf8').trim(), String((await c.state(r.id)).pid));
});

containerTest('list shows containers with their status', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  const listed = await c.list();
  assert.deepEqual(listed.map((s) => [s.id, s.status, s.pid]), [[ct.id, 'created', ct.pid]]);
});

containerTest('list -q prints only the ids', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  const r = await c.runts(['list', '-q']);
  assert.equal(r.code, 0, describeResult(r));
  assert.equal(r.stdout.trim(), ct.id);
});

containerTest('list of an empty state root prints nothing in json form', async (c) => {
  assert.deepEqual(await c.list(), []);
});

containerTest('spec writes a starter config.json in the current directory', async (c) => {
  const dir = c.tempDir('spec');
  const r = await c.runts(['spec'], { cwd: dir });
  assert.equal(r.code, 0, describeResult(r));
  const spec = JSON.parse(readFileSync(`${dir}/config.json`, 'utf8'));
  assert.equal(spec.root.path, 'rootfs');
  assert.ok(Array.isArray(spec.process.args) && spec.process.args.length > 0);
  assert.ok(spec.linux.namespaces.some((n: { type: string }) => n.type === 'mount'));
});

containerTest('spec into a bundle that is missing or a file: one message, nothing written', async (c) => {
  const dir = c.tempDir('spec-bad');
  const missing = `${dir}/missing`;
  const r = await c.runts(['spec', '--bundle', missing]);
  assert.equal(r.code, 1, describeResult(r));
  assert.equal(r.stderr, `runts: bundle ${missing}: no such directory (runts spec writes config.json into an existing directory)\n`);
  writeFileSync(`${dir}/file`, '');
  const f = await c.runts(['spec', '--rootless', '-b', `${dir}/file`]);
  assert.equal(f.code, 1, describeResult(f));
  assert.equal(f.stderr, `runts: bundle ${dir}/file: not a directory (runts spec writes config.json into an existing directory)\n`);
  assert.deepEqual(readdirSync(dir), ['file']);
});

containerTest('features reports OCI versions, hooks and namespaces as JSON', async (c) => {
  const r = await c.runts(['features']);
  assert.equal(r.code, 0, describeResult(r));
  const f = JSON.parse(r.stdout);
  assert.match(f.ociVersionMin, /^1\.\d+\.\d+/);
  assert.match(f.ociVersionMax, /^1\.\d+\.\d+/);
  for (const h of ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']) {
    assert.ok(f.hooks.includes(h), `hooks lacks ${h}`);
  }
  for (const ns of ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']) {
    assert.ok(f.linux.namespaces.includes(ns), `linux.namespaces lacks ${ns}`);
  }
});
