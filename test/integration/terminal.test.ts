/*
 * Terminals: `exec --tty` with --console-socket (the pty master comes from
 * the container's devpts, over the socket), and the foreground terminal of
 * `run` and `exec -t` without a socket, which runts-init proxies between the
 * caller's tty and the container's pty. The caller's tty is a real one:
 * script(1) runs runts on a fresh pty.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withArgs } from '../lib/bundle.ts';
import { listenConsole } from '../lib/console.ts';
import { assertOk, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { describeCommand, runCommand } from '../lib/engine.ts';
import { parseProbe } from '../lib/probe.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';

checkLeaksAfterFile();

const sleeper = withArgs('sleep', '600');

async function runningSleeper(c: Ctx) {
  const ct = await c.create(c.bundle(sleeper));
  await c.start(ct.id);
  await c.waitForOutput(ct, /"sleeping"/);
  return ct;
}

/* A shell command line run by script(1) on a new pty: `sh -c` inside it. */
function onTerminal(command: string, input?: string) {
  const wrapped = input === undefined ? command : `printf '${input}' | (${command})`;
  // script's own stdin is /dev/null: all input comes from the printf, through the pty
  return runCommand('script', ['--quiet', '--return', '--command', wrapped, '/dev/null'], { timeoutMs: 60_000 });
}

const runts = (c: Ctx, args: string) => `${RUNTS_BIN} --root ${c.root} ${args}`;

containerTest('exec --tty --detach --console-socket gives the process a pty of the container', async (c) => {
  const ct = await runningSleeper(c);
  const rx = await listenConsole(join(c.dir, 'exec-tty.sock'));
  c.defer('stop console receiver', () => rx.kill());
  const proc = join(c.dir, 'process.json');
  writeFileSync(proc, JSON.stringify({
    terminal: true, consoleSize: { height: 33, width: 99 }, user: { uid: 0, gid: 0 }, cwd: '/',
    args: ['/bin/sh', '-c', 'stty size; /probe'], env: ['PATH=/bin'],
  }));
  assertOk(await c.runts(['exec', '--detach', '--process', proc, '--console-socket', rx.socketPath, ct.id]));
  const tty = await rx.done;
  assert.equal(tty.fdCount, 1, JSON.stringify(tty));
  assert.match(tty.message ?? '', /^\/dev\/pts\/\d+$/, 'the pty\'s name comes with the master, as runc sends it');
  const [size, report] = (tty.output ?? '').replace(/\r/g, '').trim().split('\n');
  assert.equal(size, '33 99', 'consoleSize is applied');
  const p = parseProbe(report ?? '');
  assert.deepEqual([p.fds?.['0'], p.fds?.['1'], p.fds?.['2']], [tty.message, tty.message, tty.message]);
  assert.equal((await c.state(ct.id)).status, 'running');
}, { needs: ['python3'] });

containerTest('foreground run with a terminal proxies it to the caller\'s tty and restores it', async (c) => {
  const b = c.bundle([withArgs(), (s) => {
    s.process!.terminal = true;
    s.process!.args = ['/bin/sh', '-c', 'tty; stty size; exit 3'];
  }]);
  const id = c.newId();
  c.defer(`delete --force ${id}`, () => c.runts(['delete', '--force', id]));
  const r = await onTerminal(
    `stty rows 41 cols 97; before=$(stty -g); ${runts(c, `run --bundle ${b.dir} ${id}`)}; rc=$?; ` +
    `[ "$(stty -g)" = "$before" ] && echo restored; echo rc=$rc`);
  const out = r.stdout.replace(/\r/g, '');
  // (script may echo its end of input as ^@ first: no anchor at the start)
  assert.match(out, /\/dev\/pts\/\d+$/m, describeCommand(r));
  assert.match(out, /^41 97$/m, 'the caller\'s window size reaches the container');
  assert.match(out, /^rc=3$/m, 'the exit status propagates');
  assert.match(out, /^restored$/m, 'the caller\'s terminal settings are restored');
}, { needs: ['script'] });

containerTest('foreground exec -t carries input to the process and its status back', async (c) => {
  const ct = await runningSleeper(c);
  const r = await onTerminal(`${runts(c, `exec -t ${ct.id} /bin/sh`)}; echo rc=$?`, 'echo typed-$((6*7)); exit 6\\n');
  const out = r.stdout.replace(/\r/g, '');
  assert.match(out, /^typed-42$/m, describeCommand(r));
  assert.match(out, /^rc=6$/m, describeCommand(r));
  assert.equal((await c.state(ct.id)).status, 'running');
}, { needs: ['script'] });

containerTest('a detached terminal without a console socket is refused', async (c) => {
  const ct = await runningSleeper(c);
  const r = await c.runts(['exec', '--tty', '--detach', ct.id, '/probe']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /console-socket/);
  const b = c.bundle([withArgs(), { process: { terminal: true } }]);
  const run = await c.run(b, { flags: ['--detach'] });
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /console-socket/);
});
