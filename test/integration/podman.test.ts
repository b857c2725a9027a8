/*
 * podman drives runts exactly as it drives runc: through conmon, with
 * `create --bundle --pid-file`, `start`, `exec --process --detach [--tty
 * --console-socket]`, `kill`, `delete --force`. Everything podman keeps
 * lives under the test's dir (--root, --runroot, --tmpdir, and runts's own
 * --root through a wrapper script); the network is `none` (no netavark or
 * CNI plugins are needed).
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkLeaksAfterFile, containerTest } from '../lib/context.ts';
import { describeCommand } from '../lib/engine.ts';
import { waitFor } from '../lib/host.ts';
import { assertRuntsRuns, ok, podmanFor, RUN_FLAGS } from '../lib/podman.ts';
import { parseProbe } from '../lib/probe.ts';

checkLeaksAfterFile();

const NEEDS = { needs: ['podman', 'conmon'] };

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


// podman asks for "tmpcopyup" on every --tmpfs: the tmpfs starts with what
// the image has there (runc and crun copy it too).
containerTest('podman run --tmpfs /etc:rw: the tmpfs holds the image\'s /etc', async (c) => {
  const podman = podmanFor(c);
  writeFileSync(join(podman.rootfs, 'etc', 'cu-image-file'), 'from the image\n');
  const r = ok(await podman('run', '--rm', ...RUN_FLAGS, '--tmpfs', '/etc:rw', '--rootfs', podman.rootfs,
    '/bin/sh', '-c', 'ls /etc; cat /etc/cu-image-file; grep " /etc " /proc/self/mountinfo'));
  for (const name of ['passwd', 'group', 'cu-image-file']) assert.match(r, new RegExp(`^${name}$`, 'm'));
  assert.match(r, /^from the image$/m);
  assert.match(r, /^\S+ \S+ \S+ \S+ \/etc .* - tmpfs /m, 'a tmpfs on /etc');
  assert.match(podman.calls(), /^create /m);
}, NEEDS);

// --read-only: the root refuses writes; podman puts a tmpfs (with tmpcopyup) on /tmp, /var/tmp and /run, which take them.
containerTest('podman run --read-only: / is read-only, /tmp, /var/tmp and /run are writable tmpfs mounts', async (c) => {
  const podman = podmanFor(c);
  const r = ok(await podman('run', '--rm', ...RUN_FLAGS, '--read-only', '--rootfs', podman.rootfs,
    '/bin/sh', '-c', 'touch /cu-root 2>&1; echo root=$?; touch /tmp/cu-tmp && echo tmp=$?; grep -E " /(tmp|var/tmp|run) " /proc/self/mountinfo'));
  assert.match(r, /Read-only file system/);
  assert.match(r, /^root=1$/m);
  assert.match(r, /^tmp=0$/m);
  for (const dir of ['/tmp', '/var/tmp', '/run']) assert.match(r, new RegExp(`^\\S+ \\S+ \\S+ \\S+ ${dir} .* - tmpfs `, 'm'), `a tmpfs on ${dir}`);
  assert.ok(!existsSync(join(podman.rootfs, 'tmp', 'cu-tmp')), 'the write stayed in the tmpfs');
}, NEEDS);
