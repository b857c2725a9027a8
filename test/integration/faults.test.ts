/*
 * Fault injection: runts killed with SIGKILL at every fault point
 * (src/sys/fault.ts: RUNTS_FAULT=NAME), one run per point. After each:
 * the verb was really killed there, the cleanup a user would try
 * (`delete --force`, `rm -f`) succeeds, nothing is left (no state entry,
 * cgroup, mount, veth, nft element, allocation; the file's leak check
 * looks again at the end), and the id or name is free for a new container.
 * A point without a scenario here fails the first test: a new point is
 * covered or the suite says so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { withArgs } from '../lib/bundle.ts';
import { ensureRunDir, RUN_PREFIX } from '../lib/cleanup.ts';
import { assertOk, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { fileSkip, hasCommand, isRoot, mountsUnder } from '../lib/host.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';
import { FAULT_POINTS, type FaultPoint } from '../../src/sys/fault.ts';
import { BUSYBOX, busyboxLayer, ociLayout } from './image-fixtures.ts';

/* ---- the OCI verbs ---- */

const sleeper = withArgs('sleep', '600');
const cgroupsOf = (id: string) => readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, 'runts', id)).filter((d) => existsSync(d));

/** Run a verb with the fault point armed; it must die of SIGKILL there. */
async function killedAt(c: Ctx, point: FaultPoint, args: string[]): Promise<void> {
  const r = await c.runts(args, { env: { RUNTS_FAULT: point } });
  assert.equal(r.signal, 'SIGKILL', `runts ${args.join(' ')} was to be killed at ${point}: exit ${r.code}\n${r.stderr}`);
}

/** After the kill: delete --force cleans up, nothing of the id is left, and the id takes a new container. */
async function recovers(c: Ctx, id: string, bundle: ReturnType<Ctx['bundle']>): Promise<void> {
  assertOk(await c.runts(['delete', '--force', id]), 'delete --force after the kill');
  assert.deepEqual((await c.list()).map((s) => s.id), [], 'the container is gone from list');
  assert.equal(existsSync(join(c.root, id)), false, 'its state directory is gone');
  assert.deepEqual(cgroupsOf(id), [], 'its cgroups are gone');
  const again = await c.create(bundle, { id });
  await c.start(again.id);
  await c.delete(again.id, '--force');
}

/** create killed at point: delete --force recovers; `check` looks at what the kill left first. */
const killedCreate = (point: FaultPoint, check?: (id: string) => void) => async (c: Ctx) => {
  const b = c.bundle([sleeper, { linux: { resources: { pids: { limit: 50 } } } }]);
  const id = c.newId();
  await killedAt(c, point, ['create', '--bundle', b.dir, id]);
  check?.(id);
  await recovers(c, id, b);
};

const oci: Partial<Record<FaultPoint, (c: Ctx) => Promise<void>>> = {
  'claim.written': killedCreate('claim.written'),
  'create.claimed': killedCreate('create.claimed'),
  'create.cgroup': killedCreate('create.cgroup', (id) => assert.notDeepEqual(cgroupsOf(id), [], 'the cgroups were made before the kill')),
  'create.launched': killedCreate('create.launched'),
  'start.signalled': async (c) => {
    const b = c.bundle(sleeper);
    const ct = await c.create(b);
    await killedAt(c, 'start.signalled', ['start', ct.id]);
    await c.waitForOutput(ct, /"sleeping"/);
    assert.equal((await c.state(ct.id)).status, 'running', 'the program runs: the state says so, though start never removed the fifo');
    assertOk(await c.runts(['kill', ct.id, 'KILL']));
    await c.waitForStatus(ct.id, 'stopped');
    await recovers(c, ct.id, b);
  },
  'delete.killed': async (c) => {
    const b = c.bundle(sleeper);
    const ct = await c.create(b);
    await c.start(ct.id);
    await killedAt(c, 'delete.killed', ['delete', '--force', ct.id]);
    assert.equal((await c.state(ct.id)).status, 'stopped');
    await recovers(c, ct.id, b);
  },
  'delete.uncgrouped': async (c) => {
    const b = c.bundle(sleeper);
    const ct = await c.create(b);
    await killedAt(c, 'delete.uncgrouped', ['delete', '--force', ct.id]);
    assert.deepEqual(cgroupsOf(ct.id), []);
    await recovers(c, ct.id, b);
  },
};

/* ---- the front end (its own store, bridge and subnet) ---- */

// a failure in CI, a reported skip elsewhere
const skip = fileSkip('front-end fault tests', !isRoot() ? 'needs root' : !existsSync(BUSYBOX) ? 'needs `npm run build`' : !hasCommand('nft') ? 'needs nftables' : false);
const base = join(ensureRunDir(), 'faults');
const octet = 100 + (parseInt(RUN_PREFIX.slice(-2), 16) % 100);
const BRIDGE = `${RUN_PREFIX}f`;
const PORT = 40000 + (parseInt(RUN_PREFIX.slice(-4), 16) % 20000);
const env = {
  RUNTS_STORE: join(base, 'store'), RUNTS_NET_STATE: join(base, 'net'), RUNTS_NET_CONFIG: join(base, 'networks'),
  RUNTS_NET_BRIDGE: BRIDGE, RUNTS_NET_SUBNET: `10.233.${octet}.0/24`,
};
function runts(args: string[], fault?: FaultPoint) {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env, ...(fault && { RUNTS_FAULT: fault }) };
  delete e.NODE_TEST_CONTEXT;
  return spawnSync(RUNTS_BIN, ['--root', join(base, 'state'), ...args], { env: e, encoding: 'utf8', timeout: 60_000 });
}
after(() => {
  const containers = join(base, 'store', 'containers');
  for (const n of existsSync(containers) ? readdirSync(containers) : []) runts(['rm', '-f', n]);
  runts(['network', 'prune']);
  rmSync(base, { recursive: true, force: true });
});
checkLeaksAfterFile(); // after the cleanup above, which the leak check must see done

/** `run -d -p` of a named container killed at point; rm -f cleans up; the name, the port and the address are free again. */
function frontEndRecovers(point: FaultPoint): void {
  const name = `${RUN_PREFIX}-${point.replace('.', '-')}`;
  const args = ['run', '-d', '--name', name, '-p', `${PORT}:80`, 'test/bb:1', 'sleep', '600'];
  const killed = runts(args, point);
  assert.equal(killed.signal, 'SIGKILL', `run was to be killed at ${point}: exit ${killed.status}\n${killed.stderr}`);
  // before its process existed the container is dead, not "creating" forever; after, it waits in created
  const listed = JSON.parse(runts(['ps', '-a', '--format', 'json']).stdout) as { name: string; status: string }[];
  assert.equal(listed.find((c) => c.name === name)?.status, point === 'network.attached' ? 'created' : 'dead', JSON.stringify(listed));
  const rm = runts(['rm', '-f', name]);
  assert.equal(rm.status, 0, `rm -f after the kill: ${rm.stderr}`);
  assert.equal(existsSync(join(base, 'store', 'containers', name)), false, 'the container directory is gone');
  assert.deepEqual(mountsUnder(join(base, 'store')).map((m) => m.mountPoint), [], 'no snapshot mount is left');
  const table = JSON.parse(readFileSync(join(base, 'net', `${BRIDGE}.json`), 'utf8')) as { allocations: Record<string, unknown> };
  assert.deepEqual(Object.keys(table.allocations), [], 'no address is allocated');
  const again = runts(args);
  assert.equal(again.status, 0, `the name and the port are free again: ${again.stderr}`);
  assert.equal(runts(['rm', '-f', name]).status, 0);
}

const frontEnd: FaultPoint[] = ['frontend.claimed', 'frontend.prepared', 'network.published', 'network.attached'];
const images: FaultPoint[] = ['image.unpacked', 'commit.stored'];

test('every fault point has a scenario here', () => {
  assert.deepEqual([...Object.keys(oci), ...frontEnd, ...images].sort(), [...FAULT_POINTS].sort());
});

for (const [point, scenario] of Object.entries(oci)) {
  containerTest(`killed at ${point}: delete --force cleans up, nothing is left, the id is free`, scenario);
}

test('front end: a busybox image in a store of the test', { skip }, () => {
  mkdirSync(base, { recursive: true });
  const layout = ociLayout(join(base, 'layout'), 'test/bb:1', [{ tar: busyboxLayer() }]);
  assert.equal(runts(['load', layout.dir]).status, 0);
  // the bridge and its table exist before the first kill, as on a host that has run containers
  assert.equal(runts(['run', '--rm', 'test/bb:1', 'true']).status, 0);
});

for (const point of frontEnd) {
  test(`front end killed at ${point}: rm -f cleans up, the name, port and address are free`, { skip }, () => frontEndRecovers(point));
}

/* The image store after a kill: what the dead run stored is either named by an image or freed by prune; tmp/ holds nothing of it. */
const storeFiles = (sub: string) => (existsSync(join(base, 'store', sub)) ? readdirSync(join(base, 'store', sub)).sort() : []);

test('load killed once a layer is unpacked: a new load completes, prune leaves exactly the image\'s files', { skip }, () => {
  const blobs = storeFiles('blobs/sha256');
  assert.equal(runts(['rmi', 'test/bb:1']).status, 0);
  assert.equal(runts(['prune']).status, 0);
  const killed = runts(['load', join(base, 'layout')], 'image.unpacked');
  assert.equal(killed.signal, 'SIGKILL', `load was to be killed at image.unpacked: ${killed.stderr}`);
  const again = runts(['load', join(base, 'layout')]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(runts(['prune']).status, 0);
  assert.deepEqual(storeFiles('blobs/sha256'), blobs, 'the image\'s blobs, no more, no fewer');
  assert.deepEqual(storeFiles('tmp'), [], 'no work directory of the dead load is left');
});

test('commit killed once its layer is stored: prune frees the layer no image names; a new commit works', { skip }, () => {
  const name = `${RUN_PREFIX}-commit`;
  assert.equal(runts(['run', '--name', name, '--network', 'none', 'test/bb:1', 'sh', '-c', 'echo changed > /file']).status, 0);
  const blobs = storeFiles('blobs/sha256');
  const killed = runts(['commit', name, 'test/committed:1'], 'commit.stored');
  assert.equal(killed.signal, 'SIGKILL', `commit was to be killed at commit.stored: ${killed.stderr}`);
  assert.equal(runts(['prune']).status, 0);
  assert.deepEqual(storeFiles('blobs/sha256'), blobs, 'the dead commit\'s layer is freed');
  const again = runts(['commit', name, 'test/committed:1']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(runts(['rm', '-f', name]).status, 0);
  assert.equal(runts(['rmi', 'test/committed:1']).status, 0);
});

/* ---- a full disk ---- */

/*
 * The front end's store and state root on a small tmpfs, filled to the
 * last block: `run` fails with the reason, and once space is freed `rm -f`
 * clears whatever it left and the name takes a new container: nothing cut
 * short (a 0-byte network.json, container.json) blocks it.
 */
test('front end on a full disk: run fails saying so; after freeing space, rm -f and the name work again', { skip }, () => {
  const fs = join(base, 'full');
  mkdirSync(fs, { recursive: true });
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'runts-full', fs]).status, 0);
  const full = { ...env, RUNTS_STORE: join(fs, 'store'), RUNTS_NET_STATE: join(fs, 'net') };
  const onFull = (args: string[]) => {
    const e: NodeJS.ProcessEnv = { ...process.env, ...full };
    delete e.NODE_TEST_CONTEXT;
    return spawnSync(RUNTS_BIN, ['--root', join(fs, 'state'), ...args], { env: e, encoding: 'utf8', timeout: 60_000 });
  };
  const name = `${RUN_PREFIX}-full`;
  try {
    assert.equal(onFull(['load', join(base, 'layout')]).status, 0, 'the image fits');
    spawnSync('dd', ['if=/dev/zero', `of=${join(fs, 'filler')}`, 'bs=64k'], { stdio: 'ignore' }); // until ENOSPC
    const r = onFull(['run', '-d', '--name', name, '-p', `${PORT + 1}:80`, 'test/bb:1', 'sleep', '600']);
    assert.notEqual(r.status, 0, 'run on a full disk fails');
    assert.match(r.stderr, /ENOSPC|no space left/i, 'and says why');
    rmSync(join(fs, 'filler'));
    const rm = onFull(['rm', '-f', name]);
    assert.ok(rm.status === 0 || /no such container/.test(rm.stderr), `rm -f after freeing space: ${rm.stderr}`);
    const again = onFull(['run', '-d', '--name', name, '-p', `${PORT + 1}:80`, 'test/bb:1', 'sleep', '600']);
    assert.equal(again.status, 0, `the name is free again: ${again.stderr}`);
    assert.equal(onFull(['rm', '-f', name]).status, 0);
  } finally {
    onFull(['rm', '-f', name]);
    spawnSync('umount', ['-l', fs]);
  }
});
