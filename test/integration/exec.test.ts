/*
 * `exec` and `ps`: one more process inside a running container, in every one
 * of its namespaces and cgroups, with the security settings it asks for;
 * exit status, pid file, `ps -f json`, `kill --all`, and the errors engines
 * match on.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setNamespaces, withArgs, type OciSpec } from '../lib/bundle.ts';
import { assertFails, assertOk, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { processAlive, waitFor } from '../lib/host.ts';
import { capNames, parseProbe } from '../lib/probe.ts';
import { describeResult } from '../lib/runtime.ts';

checkLeaksAfterFile();

const NAMESPACES = ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'];
const NS_FILES = ['pid', 'net', 'ipc', 'uts', 'mnt', 'cgroup'];

async function runningSleeper(c: Ctx) {
  const ct = await c.create(c.bundle([withArgs('sleep', '600'), setNamespaces(...NAMESPACES)]));
  await c.start(ct.id);
  await c.waitForOutput(ct, /"sleeping"/);
  return ct;
}

const pidsOf = async (c: Ctx, id: string): Promise<number[]> => {
  const r = await c.runts(['ps', '--format', 'json', id]);
  assertOk(r);
  return JSON.parse(r.stdout) as number[];
};

containerTest('a detached exec joins every namespace and the cgroup of the container', async (c) => {
  const ct = await runningSleeper(c);
  const pidFile = join(c.dir, 'exec.pid');
  assertOk(await c.runts(['exec', '--detach', '--pid-file', pidFile, ct.id, '/probe', 'sleep', '600']));
  // the pid file is there when exec returns
  const execPid = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(processAlive(execPid), `exec'd process ${execPid} is not alive`);
  for (const ns of NS_FILES) {
    assert.equal(readlinkSync(`/proc/${execPid}/ns/${ns}`), readlinkSync(`/proc/${ct.pid}/ns/${ns}`), `${ns} namespace`);
  }
  assert.equal(readFileSync(`/proc/${execPid}/cgroup`, 'utf8'), readFileSync(`/proc/${ct.pid}/cgroup`, 'utf8'));
  assert.equal(readlinkSync(`/proc/${execPid}/root`), '/', 'root is the container\'s');
  assert.deepEqual((await pidsOf(c, ct.id)).sort(), [ct.pid, execPid].sort());

  const table = await c.runts(['ps', ct.id]);
  assertOk(table);
  assert.match(table.stdout, /PID/);
  assert.ok(table.stdout.split('\n').some((l) => l.split(/\s+/).includes(String(execPid))), describeResult(table));

  assertOk(await c.runts(['kill', '--all', ct.id, 'KILL']));
  await waitFor(() => !processAlive(execPid) && !processAlive(ct.pid), 'every process of the container to die');
  await c.waitForStatus(ct.id, 'stopped');
  assert.deepEqual(await pidsOf(c, ct.id), []);
});

containerTest('exec applies the flags, and its exit status propagates', async (c) => {
  const ct = await runningSleeper(c);
  const r = await c.runts(['exec', '-u', '1000:1000', '--cwd', '/tmp', '-e', 'FOO=bar', '--cap', 'CAP_NET_RAW', ct.id, '/probe']);
  assertOk(r);
  const p = parseProbe(r.stdout, describeResult(r));
  assert.equal(p.uid, 1000);
  assert.equal(p.gid, 1000);
  assert.equal(p.cwd, '/tmp');
  assert.ok(p.env.includes('FOO=bar'), p.env.join(' '));
  assert.ok(p.env.some((e) => e.startsWith('PATH=')), 'the container\'s environment is kept');
  assert.ok(capNames(p.caps.CapBnd).includes('CAP_NET_RAW'));
  assert.ok(capNames(p.caps.CapEff).includes('CAP_NET_RAW'), 'ambient: a non-root exec keeps the capability');
  assert.equal(p.noNewPrivs, 1, 'noNewPrivileges of config.json applies');
  assert.equal(p.hostname, 'runts');
  assert.notEqual(p.pid, 1);

  const exit = await c.runts(['exec', ct.id, '/probe', 'exit', '7']);
  assert.equal(exit.code, 7, describeResult(exit));
  assert.equal((await c.state(ct.id)).status, 'running');
});

containerTest('exec --process runs the process.json as given', async (c) => {
  const ct = await runningSleeper(c);
  const file = join(c.dir, 'process.json');
  writeFileSync(file, JSON.stringify({
    terminal: false, user: { uid: 65534, gid: 65534, additionalGids: [5] }, args: ['/probe', '--', 'from-json'],
    env: ['ONLY=this'], cwd: '/dev', capabilities: { bounding: ['CAP_KILL'] }, noNewPrivileges: false,
  }));
  const r = await c.runts(['exec', '--process', file, ct.id]);
  assertOk(r);
  const p = parseProbe(r.stdout, describeResult(r));
  assert.deepEqual([p.uid, p.gid, p.groups], [65534, 65534, [5]]);
  assert.deepEqual(p.env, ['ONLY=this']);
  assert.equal(p.cwd, '/dev');
  assert.deepEqual(capNames(p.caps.CapBnd), ['CAP_KILL']);
  assert.equal(p.noNewPrivs, 0);
  assert.deepEqual(p.argv.slice(-1), ['from-json']);
});

containerTest('exec errors are clear and leave the container running', async (c) => {
  const ct = await runningSleeper(c);
  const unknown = await c.runts(['exec', 'no-such-container', '/probe']);
  assertFails(unknown, 'not found');
  assert.equal(unknown.code, 255, `exec failed, as runc says it: ${describeResult(unknown)}`);

  const missing = await c.runts(['exec', ct.id, '/no/such/binary']);
  assertFails(missing, 'no such file');
  assert.equal(missing.code, 255, describeResult(missing));
  const notFound = await c.runts(['exec', ct.id, 'no-such-command']);
  assertFails(notFound, 'not found');
  assert.equal(notFound.code, 255, describeResult(notFound));
  const notExecutable = await c.runts(['exec', ct.id, '/etc/passwd']);
  assertFails(notExecutable, 'permission denied');
  assert.equal(notExecutable.code, 255, describeResult(notExecutable));

  const bad = join(c.dir, 'bad-process.json');
  writeFileSync(bad, '{"args": ["/probe"], ');
  assertFails(await c.runts(['exec', '--process', bad, ct.id]), 'bad-process.json', 'invalid JSON');
  writeFileSync(bad, JSON.stringify({ args: [], cwd: '/', user: { uid: 0, gid: 0 } }));
  assertFails(await c.runts(['exec', '--process', bad, ct.id]), 'args');
  assertFails(await c.runts(['exec', '--process', join(c.dir, 'absent.json'), ct.id]), 'no such file');
  assertFails(await c.runts(['exec', '--tty', '--console-socket', join(c.dir, 'no-socket'), ct.id, '/probe']), 'no such file');

  // with --log-format json, the error is one JSON object on one line of the log
  const log = join(c.dir, 'runtime.log');
  await c.runts(['exec', ct.id, 'no-such-command'], { globalArgs: ['--log', log, '--log-format', 'json'] });
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]!) as { level: string; msg: string };
  assert.equal(entry.level, 'error');
  assert.match(entry.msg, /not found/);

  assert.equal((await c.state(ct.id)).status, 'running');
  assert.deepEqual(await pidsOf(c, ct.id), [ct.pid], 'no process of a failed exec remains');
});

containerTest('a non-root exec does not take the caller\'s stdio: a host file given as stdout keeps its owner (runc would chown it)', async (c) => {
  const ct = await runningSleeper(c);
  const out = join(c.dir, 'exec-stdout');
  const r = await c.runts(['exec', '--user', '1000:1000', ct.id, '/probe'], { stdoutFile: out });
  assertOk(r);
  assert.equal(parseProbe(readFileSync(out, 'utf8'), describeResult(r)).uid, 1000);
  const st = statSync(out);
  assert.deepEqual([st.uid, st.gid], [0, 0], 'the host file is still root\'s');
});

containerTest('exec into a paused or a stopped container fails', async (c) => {
  const ct = await runningSleeper(c);
  assertOk(await c.runts(['pause', ct.id]));
  assertFails(await c.runts(['exec', ct.id, '/probe']), 'paused');
  assertOk(await c.runts(['resume', ct.id]));
  await c.kill(ct.id, 'KILL');
  await c.waitForStatus(ct.id, 'stopped');
  assertFails(await c.runts(['exec', ct.id, '/probe']), 'stopped');
});

containerTest('exec --ignore-paused into a paused container is set up once the container is resumed, as runc', async (c) => {
  const ct = await runningSleeper(c);
  assertOk(await c.runts(['pause', ct.id]));
  let done = false;
  const pending = c.runts(['exec', '--ignore-paused', ct.id, '/probe', 'exit', '3']).finally(() => { done = true; });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(done, false, 'the process cannot be set up in a frozen cgroup');
  assertOk(await c.runts(['resume', ct.id]));
  const r = await pending;
  assert.equal(r.code, 3, describeResult(r));
});

containerTest('a foreground exec forwards signals to its process', async (c) => {
  const ct = await runningSleeper(c);
  const out = join(c.dir, 'exec-out');
  const pending = c.runts(['exec', ct.id, '/probe', 'sleep', '600'], { stdoutFile: out });
  await waitFor(() => readFileSync(out, 'utf8').includes('sleeping') || undefined, 'the exec\'d probe to sleep');
  const pids = (await pidsOf(c, ct.id)).filter((p) => p !== ct.pid);
  assert.equal(pids.length, 1);
  // SIGTERM to runts, not to the process: runts forwards it
  const runtsPid = findRuntsExec(ct.id);
  process.kill(runtsPid, 'SIGTERM');
  const r = await pending;
  assert.equal(r.code, 0, describeResult(r));
  assert.match(r.stdout, /"signal":15/);
});

/* The `runts exec` (Node) process for this container, by its command line. */
function findRuntsExec(id: string): number {
  return findRuntsVerb('exec', id);
}

function findRuntsVerb(verb: string, id: string): number {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)) {
    if (pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(verb) && cmd.includes(id) && cmd.some((a) => a.endsWith('runts.mjs'))) return pid;
    } catch {
      /* gone */
    }
  }
  throw new Error(`no runts ${verb} process for ${id}`);
}

containerTest('a client killed in the middle of exec leaves the container running and nothing behind', async (c) => {
  const ct = await runningSleeper(c);
  const out = join(c.dir, 'exec-out');
  const pending = c.runts(['exec', ct.id, '/probe', 'sleep', '600'], { stdoutFile: out, timeoutMs: 120_000 });
  await waitFor(() => readFileSync(out, 'utf8').includes('sleeping') || undefined, 'the exec\'d probe to sleep');
  // SIGKILL to runts's whole process group: runts, runts-init and the exec'd process
  const runtsPid = findRuntsExec(ct.id);
  process.kill(-runtsPid, 'SIGKILL');
  const r = await pending;
  assert.equal(r.signal, 'SIGKILL', describeResult(r));
  await waitFor(async () => (await pidsOf(c, ct.id)).length === 1, 'only the container\'s own process to remain');
  assert.equal((await c.state(ct.id)).status, 'running');
  assertOk(await c.runts(['exec', ct.id, '/probe', 'exit', '0']), 'a later exec still works');
});

containerTest('runts killed with SIGKILL in the middle of create leaves nothing delete --force cannot clean', async (c) => {
  // the createRuntime hook holds create at a known point: INIT exists, sits
  // in its cgroup and namespaces, and waits for runts
  const id = c.newId();
  const hold = `sleep 600; : ${id}`;
  const b = c.bundle([withArgs('--'), { hooks: { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', hold] }] } }]);
  c.defer(`delete --force ${id}`, () => c.runts(['delete', '--force', id]));
  const pending = c.runts(['create', '--bundle', b.dir, id], { timeoutMs: 120_000 });
  await waitFor(() => processMentioning(hold) || undefined, 'create to reach its createRuntime hook');
  const runtsPid = findRuntsVerb('create', id);
  process.kill(-runtsPid, 'SIGKILL');
  assert.equal((await pending).signal, 'SIGKILL');
  assertOk(await c.runts(['delete', '--force', id]));
  await c.assertNothingLeft();
});

/* Is there a process whose command line contains every one of the words? */
function processMentioning(...words: string[]): boolean {
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (words.every((w) => cmd.includes(w))) return true;
    } catch {
      /* gone */
    }
  }
  return false;
}

containerTest('exec joins the user namespace of the container, and its id maps apply', async (c) => {
  const userns = (s: OciSpec) => {
    s.linux!.namespaces = [...NAMESPACES, 'user'].map((type) => ({ type }));
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
  };
  const ct = await c.create(c.bundle([withArgs('sleep', '600'), userns]));
  await c.start(ct.id);
  await c.waitForOutput(ct, /"sleeping"/);
  const pidFile = join(c.dir, 'exec.pid');
  assertOk(await c.runts(['exec', '--detach', '--pid-file', pidFile, '-u', '1000:1000', ct.id, '/probe', 'sleep', '600']));
  const execPid = Number(readFileSync(pidFile, 'utf8'));
  for (const ns of [...NS_FILES, 'user']) {
    assert.equal(readlinkSync(`/proc/${execPid}/ns/${ns}`), readlinkSync(`/proc/${ct.pid}/ns/${ns}`), `${ns} namespace`);
  }
  const status = readFileSync(`/proc/${execPid}/status`, 'utf8');
  assert.match(status, /^Uid:\s+101000\s/m, 'uid 1000 of the container is host uid 101000');
  assert.match(status, /^Gid:\s+201000\s/m);
  const r = await c.runts(['exec', ct.id, '/probe']);
  assertOk(r);
  assert.equal(parseProbe(r.stdout, describeResult(r)).uid, 0);
});

containerTest('exec --preserve-fds passes the extra descriptors on, and no others', async (c) => {
  const ct = await runningSleeper(c);
  const path = join(c.dir, 'passed-file');
  writeFileSync(path, 'passed\n');
  const fd = openSync(path, 'r');
  c.defer(`close fd ${fd}`, () => closeSync(fd));
  const r = await c.runts(['exec', '--preserve-fds', '1', ct.id, '/probe'], { extraFds: [fd] });
  assertOk(r);
  const fds = parseProbe(r.stdout, describeResult(r)).fds ?? {};
  assert.deepEqual(Object.keys(fds).sort(), ['0', '1', '2', '3']);
  assert.match(fds['3'] ?? '', /passed-file$/);
  const none = await c.runts(['exec', ct.id, '/probe'], { extraFds: [fd] });
  assertOk(none);
  assert.deepEqual(Object.keys(parseProbe(none.stdout).fds ?? {}).sort(), ['0', '1', '2']);
});
