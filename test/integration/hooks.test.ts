/*
 * hooks: each kind runs a recorder script that saves the state it got on
 * stdin, its argv, its env and its mount namespace into a hooks dir, and
 * appends its kind to order.log. Runtime-namespace hooks run the host's
 * /bin/sh on the host path; startContainer runs in the container, so the
 * hooks dir is also bind-mounted at /hooks and the container's busybox sh runs.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addMounts, withArgs, type ConfigPatch, type HookKind, type OciHook } from '../lib/bundle.ts';
import { checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { hostNamespace } from '../lib/host.ts';

checkLeaksAfterFile();

const KINDS: HookKind[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];
const IN_CONTAINER: HookKind[] = ['startContainer']; // path resolves in the container

const RECORDER = `
kind="$1"; dir="$2"
cat > "$dir/$kind.json"
exec 3< /proc/self/cmdline  # opened by the shell itself, so "self" is the hook process
tr '\\0' '\\n' <&3 > "$dir/$kind.argv"
exec 3<&-
env > "$dir/$kind.env"
readlink /proc/self/ns/mnt > "$dir/$kind.mntns"
echo "$kind" >> "$dir/order.log"
`;

interface Recorder {
  dir: string;
  patch: ConfigPatch;
  order(): string[];
  state(kind: HookKind): { ociVersion: string; id: string; status: string; pid?: number; bundle: string; annotations?: Record<string, string> };
  argv(kind: HookKind): string[];
  env(kind: HookKind): string[];
  mntns(kind: HookKind): string;
  ran(kind: HookKind): boolean;
}

/*
 * argv[0] is "rtt-hook-sh" to show it is passed verbatim, except in the
 * container, where busybox picks its applet by argv[0] and must see "sh".
 */
function hookArgs(kind: HookKind, hostDir: string): string[] {
  const inside = IN_CONTAINER.includes(kind);
  const d = inside ? '/hooks' : hostDir;
  return [inside ? 'sh' : 'rtt-hook-sh', `${d}/recorder.sh`, kind, d];
}

function hookFor(kind: HookKind, dir: string): OciHook {
  return {
    path: '/bin/sh',
    args: hookArgs(kind, dir),
    env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `RTT_HOOK=${kind}`],
  };
}

/* Every hook kind recording into a fresh dir (or only the kinds given). */
function recorder(c: Ctx, kinds: HookKind[] = KINDS): Recorder {
  const dir = c.tempDir('hooks');
  writeFileSync(join(dir, 'recorder.sh'), RECORDER, { mode: 0o755 });
  const hooks = Object.fromEntries(kinds.map((k) => [k, [hookFor(k, dir)]]));
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    dir,
    patch: [{ hooks }, addMounts({ destination: '/hooks', type: 'bind', source: dir, options: ['rbind', 'rw'] })],
    order: () => (existsSync(join(dir, 'order.log')) ? read('order.log').split('\n').filter(Boolean) : []),
    state: (k) => JSON.parse(read(`${k}.json`)),
    argv: (k) => read(`${k}.argv`).split('\n').filter(Boolean),
    env: (k) => read(`${k}.env`).split('\n').filter(Boolean),
    mntns: (k) => read(`${k}.mntns`).trim(),
    ran: (k) => existsSync(join(dir, `${k}.json`)),
  };
}

/* create, start, wait for the process to exit, delete */
async function fullLifecycle(c: Ctx, rec: Recorder, extra: ConfigPatch = {}) {
  const ct = await c.create(c.bundle([withArgs('exit', '0'), rec.patch, extra]));
  await c.start(ct.id);
  await c.waitForStatus(ct.id, 'stopped');
  await c.delete(ct.id);
  return ct;
}

// runc 1.1.5 differs: it runs poststart during create, so poststart comes before startContainer.
containerTest('hooks run in lifecycle order', async (c) => {
  const rec = recorder(c);
  await fullLifecycle(c, rec);
  assert.deepEqual(rec.order(), KINDS);
});

// runc 1.1.5 differs: create also runs poststart.
containerTest('create runs only prestart, createRuntime and createContainer', async (c) => {
  const rec = recorder(c);
  await c.create(c.bundle([withArgs('sleep', '600'), rec.patch]));
  assert.deepEqual(rec.order(), ['prestart', 'createRuntime', 'createContainer']);
});

containerTest('poststop runs on delete, not when the process exits', async (c) => {
  const rec = recorder(c, ['poststop']);
  const ct = await c.create(c.bundle([withArgs('exit', '0'), rec.patch]));
  await c.start(ct.id);
  await c.waitForStatus(ct.id, 'stopped');
  assert.equal(rec.ran('poststop'), false, 'poststop ran before delete');
  await c.delete(ct.id);
  assert.equal(rec.ran('poststop'), true);
});

containerTest('every hook gets the container state with its id, bundle and annotations on stdin', async (c) => {
  const rec = recorder(c);
  const ct = await fullLifecycle(c, rec, { annotations: { 'org.runts.test': 'hooks' } });
  for (const k of KINDS) {
    const st = rec.state(k);
    assert.deepEqual([st.id, st.bundle, st.annotations], [ct.id, ct.bundle.dir, { 'org.runts.test': 'hooks' }], k);
    assert.match(st.ociVersion, /^\d+\.\d+\.\d+/, k);
  }
});

// runc 1.1.5 differs: poststart (run during create) gets "created".
containerTest('the state on stdin has the status of the lifecycle point', async (c) => {
  const rec = recorder(c);
  await fullLifecycle(c, rec);
  const status = Object.fromEntries(KINDS.map((k) => [k, rec.state(k).status]));
  assert.deepEqual(status, {
    prestart: 'creating', createRuntime: 'creating', createContainer: 'creating',
    startContainer: 'created', poststart: 'running', poststop: 'stopped',
  });
});

// runc 1.1.5 differs: createContainer and startContainer get pid 1, the pid inside the container.
containerTest('hooks before poststop get the container pid, as the host sees it, in the state', async (c) => {
  const rec = recorder(c);
  const ct = await fullLifecycle(c, rec);
  for (const k of KINDS.filter((x) => x !== 'poststop')) assert.equal(rec.state(k).pid, ct.pid, k);
});

containerTest('hooks get their args exactly, argv[0] included', async (c) => {
  const rec = recorder(c);
  await fullLifecycle(c, rec);
  for (const k of KINDS) assert.deepEqual(rec.argv(k), hookArgs(k, rec.dir), k);
});

containerTest('hooks get their configured env', async (c) => {
  const rec = recorder(c);
  await fullLifecycle(c, rec);
  for (const k of KINDS) {
    const env = rec.env(k);
    for (const want of ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `RTT_HOOK=${k}`]) assert.ok(env.includes(want), `${k} lacks ${want}: ${env}`);
  }
});

containerTest('hooks do not inherit the runtime environment', async (c) => {
  const rec = recorder(c);
  await fullLifecycle(c, rec);
  for (const k of KINDS) assert.ok(!rec.env(k).some((e) => e.startsWith('RUNTS_TEST_RUN=')), `${k} saw the runtime's env`);
});

containerTest('createContainer and startContainer run in the container mount namespace, the others in the host\'s', async (c) => {
  const rec = recorder(c);
  await fullLifecycle(c, rec);
  const host = hostNamespace('mnt');
  const where = Object.fromEntries(KINDS.map((k) => [k, rec.mntns(k) === host ? 'host' : 'container']));
  assert.deepEqual(where, {
    prestart: 'host', createRuntime: 'host', createContainer: 'container',
    startContainer: 'container', poststart: 'host', poststop: 'host',
  });
});

for (const kind of ['prestart', 'createRuntime', 'createContainer'] as const) {
  containerTest(`a failing ${kind} hook makes create fail and leaves nothing behind`, async (c) => {
    const failing = { hooks: { [kind]: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] } };
    const { result } = await c.tryCreate(c.bundle([withArgs('sleep', '600'), failing]));
    assert.notEqual(result.code, 0, 'create succeeded');
    await c.assertNothingLeft();
  });
}

containerTest('a failing poststop hook does not stop delete', async (c) => {
  const failing = { hooks: { poststop: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] } };
  const ct = await c.create(c.bundle([withArgs('exit', '0'), failing]));
  await c.start(ct.id);
  await c.waitForStatus(ct.id, 'stopped');
  await c.runts(['delete', ct.id]);
  await c.assertNothingLeft();
});
