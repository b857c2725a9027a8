/*
 * podman drives runts exactly as it drives runc: through conmon, with
 * `create --bundle --pid-file`, `start`, `exec --process --detach [--tty
 * --console-socket]`, `kill`, `delete --force`. Everything podman keeps
 * lives under the test's dir (--root, --runroot, --tmpdir, and runts's own
 * --root through a wrapper script); the network is `none` (no netavark or
 * CNI plugins are needed).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { cgroupDirsMatching, RUN_PREFIX, safeRemove } from '../lib/cleanup.ts';
import { describeCommand, runCommand, type CommandResult } from '../lib/engine.ts';
import { waitFor } from '../lib/host.ts';
import { parseProbe } from '../lib/probe.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';

checkLeaksAfterFile();

const NEEDS = { needs: ['podman', 'conmon'] };
// These machines' hard limits are below podman's defaults.
const RUN_FLAGS = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

interface Podman {
  (...args: string[]): Promise<CommandResult>;
  rootfs: string;
  /* every runtime command podman (through conmon) gave the wrapper, one line each */
  calls(): string;
}

/* A podman whose every byte of state is under the test dir, and is removed with it. */
function podmanFor(c: Ctx): Podman {
  // podman refuses a runroot longer than 50 characters: a short dir in /tmp
  const run = mkdtempSync(join(tmpdir(), `${RUN_PREFIX}-podman-`));
  c.defer(`remove ${run}`, () => {
    const leaks = safeRemove(run);
    assert.deepEqual(leaks, [], `nothing mounted under ${run}`);
  });
  // runts's state goes under the test dir too. Not with --runtime-flag:
  // podman 4.3 leaves the runtime flags out of `delete`.
  // The wrapper writes down each command, so a test can show podman used it.
  const runtime = join(c.dir, 'runts-for-podman');
  const calls = join(c.dir, 'runtime-calls.log');
  writeFileSync(calls, '');
  writeFileSync(runtime, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${calls}\nexec ${RUNTS_BIN} --root ${c.root} "$@"\n`, { mode: 0o755 });
  const global = [
    '--runtime', runtime,
    '--root', c.tempDir('storage'), '--runroot', run, '--tmpdir', c.tempDir('tmp'),
    '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
  ];
  const podman = ((...args: string[]) => runCommand('podman', [...global, ...args], { timeoutMs: 90_000 })) as Podman;
  podman.rootfs = c.bundle().rootfs;
  podman.calls = () => readFileSync(calls, 'utf8');
  c.defer('podman rm --all --force', async () => {
    const mark = [c.dir, run];
    const ids = (await podman('ps', '--all', '--no-trunc', '--quiet')).stdout.split('\n').filter(Boolean);
    await podman('rm', '--all', '--force', '--time', '0');
    // conmon's exit command (podman container cleanup) may still be running
    await waitFor(() => mark.every((m) => processesMentioning(m).length === 0), `podman and conmon processes of ${c.dir} to exit`);
    for (const id of ids) assert.deepEqual(cgroupDirsMatching(id), [], `cgroups of container ${id} removed`);
    assert.deepEqual(readdirSync(c.root), [], 'runts state of every podman container removed');
  });
  return podman;
}

/*
 * Proof that runts, not podman's default runtime, runs a container: its
 * state under the wrapper's --root is runts's own record (src/runtime/store.ts:
 * pidStartTime, cgroupDirs; runc's state.json has init_process_pid instead)
 * for podman's container id, naming the pid podman reports.
 */
async function assertRuntsRuns(c: Ctx, podman: Podman, name: string): Promise<void> {
  const [id, pid] = ok(await podman('inspect', '--format', '{{.Id}} {{.State.Pid}}', name)).trim().split(' ');
  const file = join(c.root, id!, 'state.json');
  assert.ok(existsSync(file), `no runts state for ${name} (${id}) under ${c.root}: ${readdirSync(c.root).join(' ')}`);
  const state = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.ok('pidStartTime' in state && Array.isArray(state.cgroupDirs) && !('init_process_pid' in state), `not runts's state record: ${Object.keys(state).join(' ')}`);
  assert.equal(state.pid, Number(pid), 'runts\'s record names the pid podman reports');
}

function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text)) found.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return found;
}

function ok(r: CommandResult): string {
  assert.ok(r.code === 0 && !r.timedOut, describeCommand(r));
  return r.stdout;
}

containerTest('podman run: output, exit code, -e and --user', async (c) => {
  const podman = podmanFor(c);
  const r = await podman('run', '--rm', ...RUN_FLAGS, '-e', 'GREETING=hello', '--user', '1000:1000', '--rootfs', podman.rootfs, '/probe');
  const p = parseProbe(ok(r), describeCommand(r));
  assert.ok(p.env.includes('GREETING=hello'), p.env.join(' '));
  assert.deepEqual([p.uid, p.gid], [1000, 1000]);
  assert.equal(p.pid, 1);

  const failed = await podman('run', '--rm', ...RUN_FLAGS, '--rootfs', podman.rootfs, '/probe', 'exit', '3');
  assert.equal(failed.code, 3, describeCommand(failed));

  const missing = await podman('run', '--rm', ...RUN_FLAGS, '--rootfs', podman.rootfs, '/no/such/command');
  assert.equal(missing.code, 127, describeCommand(missing));
  assert.match(missing.stderr, /no such file/);
  // through the wrapper, which execs runts: three containers created, started and deleted
  for (const verb of ['create', 'start', 'delete']) {
    assert.ok(podman.calls().split('\n').filter((l) => l.split(' ').includes(verb)).length >= (verb === 'start' ? 2 : 3), `podman ran runts ${verb}:\n${podman.calls()}`);
  }
}, NEEDS);

containerTest('podman run -d, exec, logs, top, stop, rm', async (c) => {
  const podman = podmanFor(c);
  const id = ok(await podman('run', '-d', ...RUN_FLAGS, '--name', 'sleeper', '--rootfs', podman.rootfs, '/probe', 'sleep', '600')).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  await waitFor(async () => (await podman('logs', 'sleeper')).stdout.includes('sleeping'), 'the container to log {"sleeping":600}');
  await assertRuntsRuns(c, podman, 'sleeper');

  const exec = await podman('exec', '-e', 'IN_EXEC=1', 'sleeper', '/probe');
  const p = parseProbe(ok(exec), describeCommand(exec));
  assert.ok(p.env.includes('IN_EXEC=1'));
  assert.notEqual(p.pid, 1, 'exec is a second process in the container\'s pid namespace');
  assert.equal((await podman('exec', 'sleeper', '/probe', 'exit', '5')).code, 5);
  const notFound = await podman('exec', 'sleeper', 'no-such-command');
  assert.equal(notFound.code, 127, describeCommand(notFound));

  const top = ok(await podman('top', 'sleeper'));
  assert.match(top, /probe sleep 600/);

  // the probe exits 0 on SIGTERM: podman stop does not need to escalate
  ok(await podman('stop', '--time', '20', 'sleeper'));
  const inspect = ok(await podman('inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', 'sleeper'));
  assert.equal(inspect.trim(), 'exited 0');
  ok(await podman('rm', 'sleeper'));
  assert.equal(ok(await podman('ps', '--all', '--quiet')).trim(), '');
}, NEEDS);

containerTest('podman run -t and exec -t give the process a real terminal', async (c) => {
  const podman = podmanFor(c);
  const run = ok(await podman('run', '--rm', '-t', ...RUN_FLAGS, '--rootfs', podman.rootfs, '/bin/sh', '-c', 'tty; stty size'));
  assert.match(run, /^\/dev\/pts\/\d+\r?$/m);

  ok(await podman('run', '-d', ...RUN_FLAGS, '--name', 'ttyd', '--rootfs', podman.rootfs, '/probe', 'sleep', '600'));
  await assertRuntsRuns(c, podman, 'ttyd');
  const exec = ok(await podman('exec', '-t', 'ttyd', '/bin/sh', '-c', 'tty'));
  assert.match(exec, /^\/dev\/pts\/\d+\r?$/m);
  const plain = await podman('exec', 'ttyd', '/bin/sh', '-c', 'tty');
  assert.match(plain.stdout, /not a tty/);
}, NEEDS);

