/*
 * The fast verbs (docs/design/fast-verbs.md): `state`, `start`, `kill` and
 * `delete` carried out by dist/runts-fast from the record `create` wrote,
 * without Node, give what the Node path gives: the same stdout, stderr and
 * exit status, the same state directory and cgroups after. Every other case
 * (bad arguments, a missing container, a status or flag the record does not
 * settle, a held lock, a stale record, hooks, a front-end container) goes
 * to Node.
 *
 * Which path ran is observed, not inferred: bin/runts runs the Node binary
 * named by RUNTS_NODE, here a script that notes each start in a file before
 * it execs the real Node. RUNTS_FAST=0 is the Node path, for comparison.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withArgs } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest, type Container, type Ctx } from '../lib/context.ts';
import { processAlive, waitFor } from '../lib/host.ts';
import { describeResult, RUNTS_BIN, type RuntsResult } from '../lib/runtime.ts';

checkLeaksAfterFile();

const sleeper = withArgs('sleep', '600');

interface Run extends RuntsResult {
  /** Node was started for this command */
  node: boolean;
}

/* The Node binary bin/runts runs: notes that it started, then is Node. */
function nodeMarker(c: Ctx): { node: string; marker: string } {
  const node = join(c.dir, 'node');
  const marker = join(c.dir, 'node-started');
  if (!existsSync(node)) writeFileSync(node, `#!/bin/sh\necho "$*" >> '${marker}'\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
  return { node, marker };
}

async function runWith(c: Ctx, args: string[], env: Record<string, string>): Promise<Run> {
  const { node, marker } = nodeMarker(c);
  rmSync(marker, { force: true });
  const r = await c.runts(args, { env: { RUNTS_NODE: node, ...env } });
  return { ...r, node: existsSync(marker) };
}
/* bin/runts as engines call it: the fast path when the record allows. */
const fast = (c: Ctx, ...args: string[]) => runWith(c, args, {});
/* The Node path, always. */
const viaNode = (c: Ctx, ...args: string[]) => runWith(c, args, { RUNTS_FAST: '0' });

const outcome = (r: RuntsResult) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });

function assertFast(r: Run): void {
  assert.equal(r.node, false, `Node started for ${describeResult(r)}`);
}

/* The same command through both paths gives the same bytes; the fast one did not start Node unless `node` says it must. */
async function assertSame(c: Ctx, args: string[], expect: { node: boolean }): Promise<Run> {
  const f = await fast(c, ...args);
  const n = await viaNode(c, ...args);
  assert.equal(f.node, expect.node, `${args.join(' ')}: Node ${f.node ? 'started' : 'did not start'}: ${describeResult(f)}`);
  assert.deepEqual(outcome(f), outcome(n), args.join(' '));
  return f;
}

async function startedSleeper(c: Ctx): Promise<Container> {
  const ct = await c.create(c.bundle(sleeper));
  assertFast(await fast(c, 'start', ct.id));
  await c.waitForOutput(ct, /"sleeping"/);
  return ct;
}

async function stoppedSleeper(c: Ctx): Promise<Container> {
  const ct = await startedSleeper(c);
  assertFast(await fast(c, 'kill', ct.id, 'KILL'));
  await c.waitForStatus(ct.id, 'stopped');
  return ct;
}

const stateDir = (c: Ctx, id: string) => join(c.root, id);
const cgroupDirs = (c: Ctx, id: string): string[] => JSON.parse(readFileSync(join(stateDir(c, id), 'state.json'), 'utf8')).cgroupDirs;

/* What delete must leave: no state directory, no cgroup, no INIT. */
function assertGone(c: Ctx, ct: Container, cgroups: string[]): void {
  assert.equal(existsSync(stateDir(c, ct.id)), false, `${stateDir(c, ct.id)} is still there`);
  for (const d of cgroups) assert.equal(existsSync(d), false, `cgroup ${d} is still there`);
  assert.equal(processAlive(ct.pid), false, `INIT ${ct.pid} still runs`);
}

containerTest('the runtime under test has the fast path (bin/runts with dist/runts-fast)', async () => {
  assert.ok(existsSync(join(RUNTS_BIN, '../../dist/runts-fast')), 'dist/runts-fast is missing: run npm run build');
});

containerTest('state prints what Node prints, in every status, without Node', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  const created = await assertSame(c, ['state', ct.id], { node: false });
  assert.equal(JSON.parse(created.stdout).status, 'created');
  assertFast(await fast(c, 'start', ct.id));
  await c.waitForOutput(ct, /"sleeping"/);
  assert.equal(JSON.parse((await assertSame(c, ['state', ct.id], { node: false })).stdout).status, 'running');
  assert.equal((await c.runts(['pause', ct.id])).code, 0);
  assert.equal(JSON.parse((await assertSame(c, ['state', ct.id], { node: false })).stdout).status, 'paused');
  assert.equal((await c.runts(['resume', ct.id])).code, 0);
  assertFast(await fast(c, 'kill', ct.id, 'KILL'));
  await c.waitForStatus(ct.id, 'stopped');
  const stopped = await assertSame(c, ['state', ct.id], { node: false });
  assert.deepEqual([JSON.parse(stopped.stdout).status, JSON.parse(stopped.stdout).pid], ['stopped', 0]);
  // the global flags engines pass go fast too
  await assertSame(c, ['--log-format', 'json', '--systemd-cgroup', 'state', ct.id], { node: false });
});

containerTest('start releases INIT without Node, as Node does; a second start is Node\'s error', async (c) => {
  const a = await c.create(c.bundle(sleeper));
  const b = await c.create(c.bundle(sleeper));
  const f = await fast(c, 'start', a.id);
  const n = await viaNode(c, 'start', b.id);
  assertFast(f);
  assert.deepEqual(outcome(f), outcome(n));
  for (const ct of [a, b]) {
    await c.waitForOutput(ct, /"sleeping"/);
    assert.equal((await c.state(ct.id)).status, 'running');
    assert.deepEqual(readdirSync(stateDir(c, ct.id)).sort(), ['fast-verbs', 'lock', 'state.json']);
  }
  const again = await assertSame(c, ['start', a.id], { node: true });
  assert.notEqual(again.code, 0);
});

containerTest('kill signals INIT by name or number without Node; what the record does not settle goes to Node', async (c) => {
  for (const [sig, n] of [['USR1', 10], ['sigusr2', 12], ['10', 10]] as const) {
    const a = await startedSleeper(c);
    const b = await startedSleeper(c);
    const f = await fast(c, 'kill', a.id, sig);
    assertFast(f);
    assert.deepEqual(outcome(f), outcome(await viaNode(c, 'kill', b.id, sig)));
    for (const ct of [a, b]) assert.match(await c.waitForOutput(ct, /"signal"/), new RegExp(`"signal":${n}\\b`));
  }
  const d = await startedSleeper(c);
  assertFast(await fast(c, 'kill', d.id)); // SIGTERM, the default
  assert.match(await c.waitForOutput(d, /"signal"/), /"signal":15\b/);
  await c.waitForStatus(d.id, 'stopped');
  assert.notEqual((await assertSame(c, ['kill', d.id, 'KILL'], { node: true })).code, 0); // stopped: Node's error
  const e = await startedSleeper(c);
  const mixed = await fast(c, 'kill', e.id, 'Usr1'); // a spelling the record does not list
  assert.deepEqual([mixed.code, mixed.node], [0, true], describeResult(mixed));
  const g = await startedSleeper(c);
  const all = await fast(c, 'kill', '--all', g.id, 'USR1');
  assert.deepEqual([all.code, all.node], [0, true], describeResult(all));
  const p = await startedSleeper(c);
  assert.equal((await c.runts(['pause', p.id])).code, 0);
  assertFast(await fast(c, 'kill', p.id, 'KILL')); // a paused INIT is signalled too: it dies once thawed
  assert.equal((await c.runts(['resume', p.id])).code, 0);
  await c.waitForStatus(p.id, 'stopped');
});

containerTest('kill --all of a stopped container with nothing left in its cgroups goes without Node, as Node; a process left behind is Node\'s to signal', async (c) => {
  const a = await stoppedSleeper(c);
  const b = await stoppedSleeper(c);
  const f = await fast(c, 'kill', '--all', a.id, 'KILL');
  assertFast(f);
  assert.deepEqual(outcome(f), outcome(await viaNode(c, 'kill', '--all', b.id, 'KILL')));
  // no pid namespace of its own: what INIT started outlives it, in its cgroup
  const ct = await c.create(c.bundle([
    (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid'); },
    (s) => { s.process!.args = ['/bin/sh', '-c', 'sleep 600 >/dev/null 2>&1 & exit 0']; },
  ]));
  assertFast(await fast(c, 'start', ct.id));
  await c.waitForStatus(ct.id, 'stopped');
  const left = cgroupDirs(c, ct.id).flatMap((d) => readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)).map(Number);
  assert.ok(left.length > 0, 'the background sleep is in the container\'s cgroup');
  const r = await fast(c, 'kill', '--all', ct.id, 'KILL');
  assert.deepEqual([r.code, r.node], [0, true], describeResult(r));
  await waitFor(() => left.every((pid) => !processAlive(pid)), 'the process left behind to die');
});

containerTest('delete of a stopped or created container, or --force of a running one, leaves what Node leaves, without Node', async (c) => {
  const a = await stoppedSleeper(c);
  const b = await stoppedSleeper(c);
  const [ga, gb] = [cgroupDirs(c, a.id), cgroupDirs(c, b.id)];
  assert.ok(ga.length > 0);
  const f = await fast(c, 'delete', a.id);
  assertFast(f);
  assert.deepEqual(outcome(f), outcome(await viaNode(c, 'delete', b.id)));
  assertGone(c, a, ga);
  assertGone(c, b, gb);

  const created = await c.create(c.bundle(sleeper));
  const gc = cgroupDirs(c, created.id);
  assertFast(await fast(c, 'delete', created.id));
  assertGone(c, created, gc);

  const running = await startedSleeper(c);
  const gr = cgroupDirs(c, running.id);
  assert.notEqual((await assertSame(c, ['delete', running.id], { node: true })).code, 0); // running needs --force: Node's error
  assertFast(await fast(c, 'delete', '--force', running.id));
  assertGone(c, running, gr);
  assert.deepEqual(readdirSync(c.root), []);
});

containerTest('delete --force of a paused container goes to Node, which thaws it first', async (c) => {
  const ct = await startedSleeper(c);
  const g = cgroupDirs(c, ct.id);
  assert.equal((await c.runts(['pause', ct.id])).code, 0);
  const r = await fast(c, 'delete', '-f', ct.id);
  assert.deepEqual([r.code, r.node], [0, true], describeResult(r));
  assertGone(c, ct, g);
});

containerTest('a missing container and bad arguments get Node\'s answer, byte for byte', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  const cases = [
    ['state', 'fv-none'], ['start', 'fv-none'], ['kill', 'fv-none'], ['delete', 'fv-none'],
    ['state'], ['state', ct.id, 'extra'], ['state', 'bad/id'], ['kill', ct.id, 'NOPE'], ['kill', ct.id, '99'],
    ['delete', '--bogus', ct.id], ['--log-format', 'xml', 'state', ct.id], ['--root'], ['state', '--help'],
  ];
  for (const args of cases) await assertSame(c, args, { node: true });
  // --debug is Node's, whatever the verb
  await assertSame(c, ['--debug', 'state', ct.id], { node: true });
  assert.equal((await c.state(ct.id)).status, 'created'); // none of it changed the container
});

containerTest('delete --force of an id with no state directory succeeds without Node, as Node does (containerd\'s shim asks after every delete)', async (c) => {
  for (const verb of ['delete', 'rm']) await assertSame(c, [verb, '--force', 'fv-none'], { node: false });
  // a directory without state (a create killed while claiming it) is Node's to clear
  mkdirSync(join(c.root, 'fv-claimed'), { recursive: true });
  await assertSame(c, ['delete', '-f', 'fv-claimed'], { node: true });
  assert.equal(existsSync(join(c.root, 'fv-claimed')), false);
  // a front-end container of that name, maybe: Node's routing decides
  const f = await runWith(c, ['delete', '-f', 'fv-none'], { RUNTS_STORE: c.tempDir('store') });
  assert.equal(f.node, true, describeResult(f));
});

containerTest('--log: the fast path creates the log file as Node does, and writes nothing in it', async (c) => {
  const ct = await c.create(c.bundle(sleeper));
  const [lf, ln] = [join(c.dir, 'fast.log'), join(c.dir, 'node.log')];
  const f = await fast(c, '--log', lf, '--log-format', 'json', 'state', ct.id);
  const n = await viaNode(c, '--log', ln, '--log-format', 'json', 'state', ct.id);
  assertFast(f);
  assert.deepEqual(outcome(f), outcome(n));
  assert.deepEqual([readFileSync(lf, 'utf8'), readFileSync(ln, 'utf8')], ['', '']);
  // a log that cannot be opened is Node's error
  await assertSame(c, ['--log', join(c.dir, 'no/such/dir/x.log'), 'state', ct.id], { node: true });
});

containerTest('a held lock, a stale record or hooks send the verb to Node', async (c) => {
  // another verb holds the container's lock: Node waits for it
  const held = await c.create(c.bundle(sleeper));
  const lock = join(stateDir(c, held.id), 'lock');
  const holder = spawn('flock', [lock, 'sleep', '0.5'], { stdio: 'ignore' });
  const exited = new Promise((r) => holder.once('exit', r));
  const inode = `:${statSync(lock).ino} `;
  await waitFor(() => readFileSync('/proc/locks', 'utf8').split('\n').some((l) => l.includes('FLOCK') && l.includes(inode)), 'flock to hold the lock');
  const r = await fast(c, 'start', held.id);
  await exited;
  assert.deepEqual([r.code, r.node], [0, true], describeResult(r));
  await c.waitForOutput(held, /"sleeping"/);

  // state.json no longer what the record was written for
  const stale = await c.create(c.bundle(sleeper));
  const file = join(stateDir(c, stale.id), 'state.json');
  writeFileSync(file, readFileSync(file, 'utf8') + '\n');
  await assertSame(c, ['state', stale.id], { node: true });

  // poststop hooks run in Node
  const hooked = await c.create(c.bundle([sleeper, { hooks: { poststop: [{ path: '/bin/true' }] } }]));
  const d = await fast(c, 'delete', hooked.id);
  assert.deepEqual([d.code, d.node], [0, true], describeResult(d));
  // with the image store moved, `delete ID` may be the front end's `container rm`: Node decides
  const routed = await stoppedSleeper(c);
  const rm = await runWith(c, ['delete', routed.id], { RUNTS_STORE: c.tempDir('store') });
  assert.deepEqual([rm.code, rm.node], [0, true], describeResult(rm));
  // poststart hooks too
  const post = await c.create(c.bundle([sleeper, { hooks: { poststart: [{ path: '/bin/true' }] } }]));
  const s = await fast(c, 'start', post.id);
  assert.deepEqual([s.code, s.node], [0, true], describeResult(s));
});

containerTest('runts plan --fast-verbs shows what create records', async (c) => {
  const bundle = c.bundle(sleeper);
  const r = await c.runts(['plan', '--fast-verbs', '--bundle', bundle.dir, '--id', 'fv-plan']);
  assert.equal(r.code, 0, describeResult(r));
  for (const verb of ['state:', 'start:', 'kill:', 'delete:']) assert.ok(r.stdout.includes(verb), `${verb} missing from:\n${r.stdout}`);
  assert.match(r.stdout, /fv-plan\/fast-verbs/);
});
