/*
 * Rootless runts: a real unprivileged user, made by this file (test/lib/rootless.ts),
 * runs `runts spec --rootless` bundles through the OCI verbs, with its own id
 * mapped alone and with a /etc/subuid range through newuidmap; what needs a
 * cgroup it cannot have fails with one precise error and leaves nothing.
 * Rootless podman drives runts (--runtime) through run, exec, logs, top, stop
 * and a tty as it drives runc.
 * The cgroup v2 delegation half runs in the lab VM (in-vm/rootless-v2.test.ts).
 *
 * Design: docs/design/rootless.md.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { cgroupLayout } from '../../src/cgroups/layout.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { fileSkip, hasCommand, waitFor } from '../lib/host.ts';
import { createRootlessUser, rootlessPrerequisites, type RootlessUser } from '../lib/rootless.ts';
import { describeResult, type RuntsResult } from '../lib/runtime.ts';
import { RUN_PREFIX } from '../lib/cleanup.ts';
import { runInVm, vmMissing } from '../lib/vm.ts';

const skip = fileSkip('rootless tests', rootlessPrerequisites());

let alice: RootlessUser; // with a subuid/subgid range
let bob: RootlessUser; // without
before(() => {
  if (skip) return;
  alice = createRootlessUser({ subids: true });
  bob = createRootlessUser({ subids: false });
});
after(() => {
  try {
    alice?.remove();
  } finally {
    bob?.remove();
  }
});
checkLeaksAfterFile(); // after the users are gone

const ok = (r: RuntsResult, what: string) => assert.ok(r.code === 0 && !r.timedOut, `${what}: ${describeResult(r)}`);

/** `runts spec --rootless` as the user, with these changes. */
async function rootlessConfig(user: RootlessUser, change: (c: Record<string, any>) => void): Promise<object> {
  const r = await user.runts$(['spec', '--rootless', '--bundle', user.scratch]);
  ok(r, 'spec --rootless');
  const config = JSON.parse(readFileSync(`${user.scratch}/config.json`, 'utf8'));
  await user.run('rm', [`${user.scratch}/config.json`]);
  config.process.terminal = false;
  change(config);
  return config;
}

const args = (...a: string[]) => (c: Record<string, any>) => { c.process.args = a; };
let n = 0;
const newId = () => `${RUN_PREFIX}-rl${n++}`;

/** What the user's state directory holds ($XDG_RUNTIME_DIR/runts; none yet is empty). */
const stateDirs = (user: RootlessUser) => (existsSync(`${user.xdg}/runts`) ? readdirSync(`${user.xdg}/runts`) : []);

/** Directories below dir (a cgroup hierarchy, 6 levels deep) whose name holds id. */
function cgroupsNamed(dir: string, id: string, depth = 6): string[] {
  if (!depth) return [];
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory())
    .flatMap((e) => [...(e.name.includes(id) ? [`${dir}/${e.name}`] : []), ...cgroupsNamed(`${dir}/${e.name}`, id, depth - 1)]);
}

/** Host ids of a process: the Uid and Gid lines of /proc/<pid>/status (real, effective, saved, fs). */
function hostIds(pid: number): { uids: number[]; gids: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = (key: string) => (new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/).map(Number);
  return { uids: line('Uid'), gids: line('Gid') };
}

test('run: the container sees itself as root, its output and exit status come back, nothing stays', { skip }, async () => {
  const b = alice.bundle('run', await rootlessConfig(alice, args('sh', '-c', 'echo "hi from $(id -u):$(id -g)"; exit 7')));
  const id = newId();
  const r = await alice.runts$(['run', '--bundle', b, id]);
  assert.equal(r.code, 7, describeResult(r));
  assert.equal(r.stdout, 'hi from 0:0\n');
  assert.deepEqual(stateDirs(alice), [], 'the state directory is gone after run');
});

test('create, start, state, exec, ps, kill, delete as the user; every process is the user\'s on the host', { skip }, async () => {
  const b = alice.bundle('life', await rootlessConfig(alice, args('sleep', '600')));
  const id = newId();
  ok(await alice.runts$(['create', '--bundle', b, id]), 'create');
  const state = async () => JSON.parse((await alice.runts$(['state', id])).stdout) as { status: string; pid: number };
  const created = await state();
  assert.equal(created.status, 'created');
  assert.ok(existsSync(`${alice.xdg}/runts/${id}/state.json`), 'state under $XDG_RUNTIME_DIR/runts');
  ok(await alice.runts$(['start', id]), 'start');
  assert.equal((await state()).status, 'running');

  const e = await alice.runts$(['exec', id, 'sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; id -u; exit 3']);
  assert.equal(e.code, 3, describeResult(e));
  assert.deepEqual(e.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' ')), [`0 ${alice.uid} 1`, `0 ${alice.gid} 1`, '0']);

  ok(await alice.runts$(['exec', '--detach', id, 'sleep', '600']), 'exec --detach');
  const pids = await waitFor(async () => {
    const p = JSON.parse((await alice.runts$(['ps', '--format', 'json', id])).stdout) as number[];
    return p.length === 2 ? p : undefined;
  }, 'ps to list INIT and the exec\'d sleep');
  assert.ok(pids.includes(created.pid), `ps lists INIT ${created.pid}: ${pids}`);
  const table = await alice.runts$(['ps', id]);
  ok(table, 'ps');
  assert.match(table.stdout, /^UID +PID/);
  assert.equal(table.stdout.trim().split('\n').length, 3, table.stdout);
  for (const pid of pids) assert.deepEqual(hostIds(pid), { uids: Array(4).fill(alice.uid), gids: Array(4).fill(alice.gid) }, `process ${pid} runs as the user, nothing as root`);

  const listed = await alice.runts$(['list']);
  assert.match(listed.stdout, new RegExp(`^${id} +${created.pid} +running +${b} +\\S+ +${alice.name}$`, 'm'));

  // no cgroup of its own here (no delegation): pause says so, and what it would need
  if (cgroupLayout().mode === 1) {
    const p = await alice.runts$(['pause', id]);
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, new RegExp(`cannot pause container ${id}: it has no cgroup of its own .*delegated`));
  }

  ok(await alice.runts$(['kill', id, 'KILL']), 'kill');
  await waitFor(async () => (await state()).status === 'stopped', 'the container to stop');
  ok(await alice.runts$(['delete', id]), 'delete');
  assert.ok(!existsSync(`${alice.xdg}/runts/${id}`), 'delete removed the state directory');
  await waitFor(() => pids.every((pid) => !existsSync(`/proc/${pid}`)) || undefined, 'the exec\'d process to go with the pid namespace');
});

test('a /etc/subuid range through newuidmap: the maps inside, and uid 1000 of the container is a subordinate id on the host', { skip }, async () => {
  const maps = [{ containerID: 0, hostID: alice.uid, size: 1 }, { containerID: 1, hostID: alice.subuid!.start, size: 65536 }];
  const gmaps = [{ containerID: 0, hostID: alice.gid, size: 1 }, { containerID: 1, hostID: alice.subuid!.start, size: 65536 }];
  const config = await rootlessConfig(alice, (c) => {
    c.linux.uidMappings = maps;
    c.linux.gidMappings = gmaps;
    c.process.user = { uid: 1000, gid: 1000, additionalGids: [5] };
    c.process.args = ['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map; id; exec sleep 600'];
  });
  const b = alice.bundle('range', config);
  const id = newId();
  ok(await alice.runts$(['run', '--detach', '--bundle', b, id], { stdoutFile: `${alice.scratch}/range.out` }), 'run --detach');
  const out = await waitFor(() => {
    const text = readFileSync(`${alice.scratch}/range.out`, 'utf8');
    return text.includes('uid=') ? text : undefined;
  }, 'the container\'s output');
  const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(lines.slice(0, 4), [`0 ${alice.uid} 1`, `1 ${alice.subuid!.start} 65536`, `0 ${alice.gid} 1`, `1 ${alice.subuid!.start} 65536`]);
  assert.match(lines[4]!, /^uid=1000 gid=1000 groups=5/);
  const pid = JSON.parse((await alice.runts$(['state', id])).stdout).pid as number;
  const sub = alice.subuid!.start + 999;
  assert.deepEqual(hostIds(pid), { uids: Array(4).fill(sub), gids: Array(4).fill(sub) });
  ok(await alice.runts$(['delete', '--force', id]), 'delete --force');
});

test('memory limits where the user can have no cgroup: one precise error, no state, no cgroup', { skip }, async () => {
  const config = await rootlessConfig(alice, (c) => {
    c.process.args = ['true'];
    c.linux.resources = { memory: { limit: 64 << 20 } };
  });
  const b = alice.bundle('limits', config);
  const id = newId();
  const r = await alice.runts$(['run', '--bundle', b, id]);
  assert.notEqual(r.code, 0, describeResult(r));
  const why = cgroupLayout().mode === 1
    ? new RegExp(`^runts: linux.resources.memory.limit: needs a cgroup of the container's own, and uid ${alice.uid} \\(rootless\\) cannot have one on this host: its controllers are cgroup v1 .*no delegation to an unprivileged user; run on a cgroup v2 host with a subtree delegated to the user \\(systemd: Delegate=yes\\), run as root, or drop linux.resources\\n$`)
    : new RegExp(`^runts: linux.resources.memory.limit: needs a cgroup of the container's own, \\S+runts-${id}, and uid ${alice.uid} \\(rootless\\) may not write \\S+: that cgroup v2 subtree is not delegated to the user`);
  assert.match(r.stderr, why);
  assert.deepEqual(stateDirs(alice), [], 'no state directory');
  for (const h of cgroupLayout().hierarchies) {
    assert.deepEqual(cgroupsNamed(h.mountPoint, id), [], `no cgroup in ${h.mountPoint}`);
  }
});

test('a user without subordinate ids asking for a range: one precise error naming the field and the fix', { skip }, async () => {
  const config = await rootlessConfig(bob, (c) => {
    c.linux.uidMappings = [{ containerID: 0, hostID: bob.uid, size: 1 }, { containerID: 1, hostID: 300000, size: 1000 }];
  });
  const b = bob.bundle('nosub', config);
  const r = await bob.runts$(['run', '--bundle', b, newId()]);
  assert.notEqual(r.code, 0, describeResult(r));
  assert.equal(r.stderr, `runts: linux.uidMappings: maps host uids 300000-300999, which uid ${bob.uid} (${bob.name}) may not map: an unprivileged user maps its own uid alone, or ranges /etc/subuid gives it (it gives none); add one (usermod --add-subuids START-END ${bob.name}) or change the mapping\n`);
  assert.deepEqual(stateDirs(bob), [], 'no state directory');
});

test('no XDG_RUNTIME_DIR and no --root: an error naming both; a config without a user namespace: refused', { skip }, async () => {
  const r = await bob.run('env', ['-u', 'XDG_RUNTIME_DIR', bob.runts, 'list']);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr, `runts: runts runs rootless (uid ${bob.uid}) and keeps its state in $XDG_RUNTIME_DIR/runts, but XDG_RUNTIME_DIR is not set: set it (a directory only you can write, e.g. /run/user/${bob.uid}) or pass --root DIR\n`);

  const config = await rootlessConfig(bob, (c) => {
    c.linux.namespaces = c.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'user');
    delete c.linux.uidMappings;
    delete c.linux.gidMappings;
  });
  const u = await bob.runts$(['run', '--bundle', bob.bundle('nouserns', config), newId()]);
  assert.notEqual(u.code, 0);
  assert.match(u.stderr, /^runts: linux.namespaces: runts runs as an unprivileged user, and without a user namespace it could mount nothing/);
  assert.deepEqual(stateDirs(bob), []);
});

// rootless podman runs its runtime as root of a user namespace of its own (the user's subordinate range)
const podmanWhy = skip || fileSkip('rootless podman', !hasCommand('podman') && 'needs podman');
/** podman as the user, with runts as its runtime. */
const podman = (user: RootlessUser) => (args: string[]) => user.run('podman', ['--runtime', user.runts, ...args], { env: { HOME: user.scratch }, timeoutMs: 120_000 });
/** podman run with the flags these machines need (their default limits are above what a user may set). */
const podmanRun = ['run', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

test('podman --runtime runts as the user: --rootfs, its id range, the exit status; runts kept its state in $XDG_RUNTIME_DIR', { skip: podmanWhy }, async () => {
  // a user of its own: rootless podman leaves a pause process holding its user namespace, removed with the user
  const carol = createRootlessUser({ subids: true });
  try {
    const rootfs = carol.bundle('podman', {}) + '/rootfs';
    const r = await podman(carol)([...podmanRun, '--rm', '--rootfs', rootfs, 'sh', '-c', 'id; cat /proc/self/uid_map; exit 3']);
    assert.equal(r.code, 3, describeResult(r));
    const lines = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    assert.deepEqual(lines, ['uid=0(root) gid=0(root)', `0 ${carol.uid} 1`, `1 ${carol.subuid!.start} 65536`]);
    assert.deepEqual(stateDirs(carol), [], 'runts kept its state in $XDG_RUNTIME_DIR/runts, and --rm deleted it');
    assert.ok(existsSync(`${carol.xdg}/runts`), 'runts, not another runtime, ran the container');
  } finally {
    carol.remove();
  }
});

test('podman --runtime runts as the user: env, --user, a tty; detached with exec, logs, top, stop, rm (as runc does)', { skip: podmanWhy }, async () => {
  const dave = createRootlessUser({ subids: true });
  try {
    const rootfs = dave.bundle('podman', {}) + '/rootfs';
    const $ = podman(dave);
    // each foreground run takes 20 s here, with runc as with runts: podman 4.3 logs "Exceeded conmon timeout waiting for container to exit"

    const e = await $([...podmanRun, '--rm', '-e', 'PR_GREETING=hello there', '--user', '1000:1000', '--rootfs', rootfs, 'sh', '-c', 'echo "$PR_GREETING"; id -u; id -g']);
    ok(e, 'run -e --user');
    assert.equal(e.stdout, 'hello there\n1000\n1000\n');
    // podman -t wants a terminal: script(1) gives it one; inside, stdin and stdout are the container's pty
    const t = await dave.run('script', ['-qec', `podman --runtime ${dave.runts} ${podmanRun.join(' ')} --rm -t --rootfs ${rootfs} sh -c 'tty; test -t 0 && test -t 1 && echo both-ttys'`, '/dev/null'],
      { env: { HOME: dave.scratch }, timeoutMs: 120_000 });
    ok(t, 'run -t under script');
    assert.match(t.stdout, /^\/dev\/pts\/\d+\r?\nboth-ttys\r?\n/);

    const name = `${RUN_PREFIX}-prd`;
    const d = await $([...podmanRun, '-d', '--name', name, '--rootfs', rootfs, 'sh', '-c', 'trap "exit 0" TERM; echo started; while :; do sleep 1; done']);
    ok(d, 'run -d');
    assert.equal(stateDirs(dave).length, 1, 'runts keeps the running container in $XDG_RUNTIME_DIR/runts');
    const x = await $(['exec', name, 'sh', '-c', 'echo exec-ran; exit 4']);
    assert.equal(x.code, 4, describeResult(x));
    assert.equal(x.stdout, 'exec-ran\n');
    const l = await $(['logs', name]);
    ok(l, 'logs');
    assert.equal(l.stdout, 'started\n');
    const top = await $(['top', name, 'pid', 'args']);
    ok(top, 'top');
    assert.match(top.stdout, /^\s*1\s+sh -c trap/m, top.stdout);
    const s = await $(['stop', '-t', '10', name]);
    ok(s, 'stop');
    const st = await $(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name]);
    ok(st, 'inspect');
    assert.equal(st.stdout.trim(), 'exited 0', 'the TERM trap ran: stop did not need SIGKILL');
    ok(await $(['rm', name]), 'rm');
    assert.deepEqual(stateDirs(dave), [], 'nothing left in $XDG_RUNTIME_DIR/runts');
  } finally {
    dave.remove();
  }
});

test('nothing of the users is left running', { skip }, () => {
  assert.deepEqual(alice.processes(), []);
  assert.deepEqual(bob.processes(), []);
});

// cgroup v2 with a delegated subtree: this host's cgroups are hybrid, the lab VM's are v2 alone
const vmWhy = fileSkip('rootless on cgroup v2', vmMissing() ?? rootlessPrerequisites());
test('on cgroup v2 with a delegated subtree: limits hold, a fork bomb stops at pids.max, pause works (in the lab VM)', { skip: vmWhy, timeout: 10 * 60_000 }, async () => {
  const { code, out, summary } = await runInVm(540, [process.execPath, '--test', '--test-concurrency=1', 'test/integration/in-vm/rootless-v2.test.ts']);
  assert.equal(code, 0, `in the VM:\n${code === 0 ? summary : out}`);
  assert.match(out, /^ℹ fail 0$/m, summary);
  assert.match(out, /^ℹ pass 3$/m, summary);
});
