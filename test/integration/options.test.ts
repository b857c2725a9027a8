/*
 * create/run flags: --console-socket with a terminal, --preserve-fds,
 * --no-pivot. (--pid-file is in lifecycle.test.ts.)
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withArgs } from '../lib/bundle.ts';
import { listenConsole } from '../lib/console.ts';
import { assertOk, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { mountAt, parseProbe, parseProbeJson, type StatEntry } from '../lib/probe.ts';

checkLeaksAfterFile();

/* A host file opened for the runtime to pass on; closed at cleanup. */
function extraFile(c: Ctx): { fd: number; path: string } {
  const path = join(c.tempDir('fds'), 'passed-file');
  writeFileSync(path, 'passed\n');
  const fd = openSync(path, 'r');
  c.defer(`close fd ${fd}`, () => closeSync(fd));
  return { fd, path };
}

async function runWithTerminal(c: Ctx) {
  const rx = await listenConsole(join(c.dir, 'tty.sock'));
  c.defer('stop console receiver', () => rx.kill());
  const ct = await c.create(c.bundle([withArgs('--'), { process: { terminal: true } }]), { flags: ['--console-socket', rx.socketPath] });
  await c.start(ct.id);
  return rx.done;
}

containerTest('--console-socket receives the pty master', async (c) => {
  const tty = await runWithTerminal(c);
  assert.equal(tty.fdCount, 1, JSON.stringify(tty));
  assert.match(tty.target ?? '', /ptmx/);
}, { needs: ['python3'] });

containerTest('with terminal true the process has the pty slave as stdin, stdout and stderr', async (c) => {
  const tty = await runWithTerminal(c);
  const p = parseProbe(tty.output ?? '');
  assert.deepEqual([p.fds?.['0'], p.fds?.['1'], p.fds?.['2']], ['/dev/pts/0', '/dev/pts/0', '/dev/pts/0']);
}, { needs: ['python3'] });

containerTest('with terminal true /dev/console is the pty', async (c) => {
  const rx = await listenConsole(join(c.dir, 'tty.sock'));
  c.defer('stop console receiver', () => rx.kill());
  const b = c.bundle([withArgs('stat', '/dev/console', '/dev/pts/0'), { process: { terminal: true } }]);
  const ct = await c.create(b, { flags: ['--console-socket', rx.socketPath] });
  await c.start(ct.id);
  const st = parseProbeJson<{ stat: Record<string, StatEntry> }>((await rx.done).output ?? '');
  const con = st.stat['/dev/console'];
  const pts = st.stat['/dev/pts/0'];
  assert.deepEqual([con?.major, con?.minor], [pts?.major, pts?.minor]);
}, { needs: ['python3'] });

containerTest('--preserve-fds 1 passes fd 3 into the container', async (c) => {
  const { fd } = extraFile(c);
  const r = await c.run(c.bundle(withArgs('--')), { flags: ['--preserve-fds', '1'], extraFds: [fd] });
  assertOk(r);
  const fds = parseProbe(r.stdout).fds ?? {};
  assert.deepEqual(Object.keys(fds).sort(), ['0', '1', '2', '3']);
  assert.match(fds['3'] ?? '', /passed-file$/);
});

containerTest('without --preserve-fds an extra fd of the runtime does not reach the container', async (c) => {
  const { fd } = extraFile(c);
  const r = await c.run(c.bundle(withArgs('--')), { extraFds: [fd] });
  assertOk(r);
  assert.deepEqual(Object.keys(parseProbe(r.stdout).fds ?? {}).sort(), ['0', '1', '2']);
});

containerTest('--no-pivot runs the container on its rootfs', async (c) => {
  const r = await c.run(c.bundle(withArgs('--')), { flags: ['--no-pivot'] });
  assertOk(r);
  const p = parseProbe(r.stdout);
  assert.ok(mountAt(p, '/')?.root.endsWith('/rootfs'), `root mount: ${JSON.stringify(mountAt(p, '/'))}`);
  assert.equal(p.pid, 1);
});

containerTest('--no-pivot shows the same mount table as pivot_root', async (c) => {
  const mountPoints = async (flags: string[]) => {
    const r = await c.run(c.bundle(withArgs('--')), { flags });
    assertOk(r);
    return (parseProbe(r.stdout).mounts ?? []).map((m) => m.mountPoint).sort();
  };
  assert.deepEqual(await mountPoints(['--no-pivot']), await mountPoints([]));
});
