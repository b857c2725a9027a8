/*
 * image-wait.test.ts - a detached front-end container keeps its exit status,
 * for real: `run -d ... exit 3`, then `wait` prints 3, `ps -a` shows
 * "exited (3)" and inspect State.ExitCode 3; `wait` of a running container
 * returns when `stop` ends it (137: sleep, as the pid namespace's init,
 * ignores SIGTERM, so the grace period's SIGKILL ends it). The supervisor
 * that records it (runts-init's PARENT, outliving runts) sits in a session
 * of its own, holds nothing but /dev/null, and is gone once the container
 * is. A SIGKILL of the supervisor leaves the container running; its exit
 * code is then unknown: plain "exited", ExitCode -1, and `wait` an error.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ensureRunDir, RUN_PREFIX } from '../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { isRoot, processAlive, waitFor, fileSkip } from '../lib/host.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';
import { BUSYBOX } from './image-fixtures.ts';

// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const skip = fileSkip('front-end wait tests', !isRoot() ? 'needs root' : !existsSync(BUSYBOX) ? 'needs `npm run build` (dist/images/busybox)' : false);

const base = join(ensureRunDir(), 'image-wait');
const store = join(base, 'store');
const IMAGE = 'test/wait:1';
const names: string[] = [];
const cname = (n: string) => { const name = `${RUN_PREFIX}-${n}`; names.push(name); return name; };

after(() => {
  for (const n of names) runts(['container', 'rm', '-f', n]);
  rmSync(base, { recursive: true, force: true });
});
checkLeaksAfterFile();

interface Result { code: number; stdout: string; stderr: string }
const env = () => { const e: NodeJS.ProcessEnv = { ...process.env, RUNTS_STORE: store }; delete e.NODE_TEST_CONTEXT; return e; };
const argv = (args: string[]) => ['--root', join(base, 'state'), ...args];
function runts(args: string[]): Result {
  const r = spawnSync(RUNTS_BIN, argv(args), { env: env(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
/** Not blocking the test: for `wait`, which returns only when the container exits. */
function runtsLater(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(RUNTS_BIN, argv(args), { env: env(), encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr });
    });
  });
}
function ok(args: string[]): string {
  const r = runts(args);
  assert.equal(r.code, 0, `runts ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
const psLine = (name: string) => ok(['ps', '-a']).split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
const stateOf = (name: string) => (JSON.parse(ok(['inspect', name])) as { State: { Status: string; ExitCode: number; FinishedAt: string; Pid: number } }[])[0]!.State;
const supervisorOf = (name: string) => Number(readFileSync(join(store, 'containers', name, 'supervisor'), 'utf8').split(' ')[0]);
const detached = (name: string, ...cmd: string[]) => assert.equal(ok(['run', '-d', '--network', 'none', '--name', name, IMAGE, ...cmd]), `${name}\n`);

test('setup: a busybox image', { skip }, () => {
  ok(['import', BUSYBOX, IMAGE]);
});

test('run -d ... exit 3: wait prints 3, ps -a shows exited (3), inspect ExitCode 3; the supervisor is gone', { skip }, async () => {
  const name = cname('three');
  const before = Date.now();
  detached(name, 'sh', '-c', 'sleep 0.3; exit 3');
  const supervisor = supervisorOf(name);
  assert.equal(ok(['wait', name]), '3\n');
  assert.match(psLine(name), /\sexited \(3\)$/);
  const s = stateOf(name);
  assert.deepEqual([s.Status, s.ExitCode, s.Pid], ['exited', 3, 0]);
  assert.ok(Date.parse(s.FinishedAt) >= before - 1000 && Date.parse(s.FinishedAt) <= Date.now() + 1000, s.FinishedAt);
  await waitFor(() => !processAlive(supervisor), 'the supervisor to exit with the container');
  assert.equal(ok(['wait', name]), '3\n', 'an exited container: at once');
  ok(['rm', name]);
  assert.equal(existsSync(join(store, 'containers', name)), false, 'rm takes the exit record with the container');
});

test('wait of a running container returns when stop ends it; the supervisor holds nothing of runts\'s', { skip }, async () => {
  const name = cname('stopped');
  detached(name, 'sleep', '60');
  const supervisor = supervisorOf(name);
  const stat = readFileSync(`/proc/${supervisor}/stat`, 'utf8');
  const [, , session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  assert.equal(Number(session), supervisor, 'a session of its own');
  const fds = readdirSync(`/proc/${supervisor}/fd`).map((fd) => `${fd}:${readlinkSync(`/proc/${supervisor}/fd/${fd}`)}`);
  assert.deepEqual(fds.sort(), ['0:/dev/null', '1:/dev/null', '2:/dev/null'], 'neither the log nor runts\'s stdio');
  assert.equal(readlinkSync(`/proc/${supervisor}/cwd`), '/');
  let done = false;
  const waiting = runtsLater(['wait', name]).finally(() => { done = true; });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(done, false, 'wait blocks while the container runs');
  assert.equal(stateOf(name).Status, 'running');
  ok(['stop', '-t', '1', name]);
  const r = await waiting;
  assert.deepEqual([r.code, r.stdout], [0, '137\n'], r.stderr);
  assert.match(psLine(name), /\sexited \(137\)$/);
  assert.equal(stateOf(name).ExitCode, 137);
  await waitFor(() => !processAlive(supervisor), 'the supervisor to exit with the container');
});

test('a killed supervisor leaves the container running; its code is then unknown', { skip }, async () => {
  const name = cname('orphan');
  detached(name, 'sleep', '60');
  const supervisor = supervisorOf(name);
  process.kill(supervisor, 'SIGKILL');
  await waitFor(() => !processAlive(supervisor), 'the supervisor to die');
  const { Status, Pid } = stateOf(name);
  assert.equal(Status, 'running', 'the container outlives its supervisor');
  assert.ok(processAlive(Pid));
  const waiting = runtsLater(['wait', name]);
  ok(['kill', name, 'KILL']);
  const r = await waiting;
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`container ${name} has exited, but its exit code is unknown`));
  assert.match(psLine(name), /\sexited$/);
  assert.equal(stateOf(name).ExitCode, -1);
});

test('a foreground run records its code too; wait of no front-end container is an error', { skip }, () => {
  const name = cname('fg');
  const r = runts(['run', '--network', 'none', '--name', name, IMAGE, 'sh', '-c', 'exit 5']);
  assert.equal(r.code, 5, r.stderr);
  assert.equal(ok(['wait', name]), '5\n');
  assert.match(psLine(name), /\sexited \(5\)$/);
  const none = runts(['wait', `${RUN_PREFIX}-nope`]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, new RegExp(`no such container: ${RUN_PREFIX}-nope \\(wait knows the containers of \`runts run IMAGE\`\\)`));
});
