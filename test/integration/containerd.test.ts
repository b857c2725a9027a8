/*
 * containerd drives runts through its runc shim (io.containerd.runc.v2) with
 * the shim's BinaryName option pointed at runts: the path Kubernetes takes
 * (RuntimeClass -> kubelet -> CRI -> shim -> runtime). Each test starts its
 * own containerd with root, state and sockets under the test's dir, and
 * stops it at the end; runts's state goes there too (--runc-root).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { describeCommand, runCommand, startDaemon, type CommandResult } from '../lib/engine.ts';
import { mountsUnder, waitFor } from '../lib/host.ts';
import { parseProbe, REPO } from '../lib/probe.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';

checkLeaksAfterFile();

const NEEDS = { needs: ['containerd', 'ctr', 'containerd-shim-runc-v2', 'tar'] };
const NS = 'runts-test';

interface Containerd {
  ctr(...args: string[]): Promise<CommandResult>;
  /* ctr's global flags for this daemon */
  ctrGlobal: string[];
  /* `ctr run` flags that choose runts: the shim option BinaryName, and where runts keeps state */
  runtsFlags: string[];
  /* the state root the shim passes to runts (--root): <runc-root>/<namespace> */
  runtsRoot: string;
  config: string;
}

async function startContainerd(c: Ctx, extraConfig = 'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'): Promise<Containerd> {
  const dir = c.tempDir('containerd');
  const address = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  writeFileSync(config, `version = 2\n${extraConfig}\n[debug]\n  address = ""\n[metrics]\n  address = ""\n`);
  const args = ['--config', config, '--root', join(dir, 'root'), '--state', join(dir, 'state'), '--address', address];
  const daemon = startDaemon('containerd', args, join(dir, 'containerd.log'));
  const runtsRoot = join(dir, 'runts', NS);
  const ctrGlobal = ['--address', address, '--namespace', NS];
  const ctr = (...a: string[]) => runCommand('ctr', [...ctrGlobal, ...a], { timeoutMs: 60_000 });
  c.defer('stop containerd', async () => {
    // what a test left running: kill and delete it while the daemon can still do so
    const left = (await ctr('containers', 'list', '--quiet')).stdout.split('\n').filter(Boolean);
    for (const id of left) {
      await ctr('task', 'kill', '--signal', 'KILL', id);
      await ctr('task', 'delete', '--force', id);
      await ctr('containers', 'delete', id);
    }
    await daemon.stop();
    // shims outlive a stopped containerd by design: ours must be gone with their tasks
    await waitFor(() => shimsOf(dir).length === 0, `containerd shims of ${dir} to exit`);
    assert.deepEqual(mountsUnder(dir).map((m) => m.mountPoint), [], 'no snapshot or rootfs mount remains');
    assert.deepEqual(existsSync(runtsRoot) ? readdirSync(runtsRoot) : [], [], 'runts state of every task removed');
  });
  await waitFor(async () => (await ctr('version')).code === 0, () => `containerd to answer on ${address}: ${daemon.log().slice(-2000)}`);
  return { ctr, ctrGlobal, config, runtsRoot, runtsFlags: ['--runc-binary', RUNTS_BIN, '--runc-root', join(dir, 'runts')] };
}

/*
 * Proof that runts, not runc (the shim's default), runs a task: its state
 * under the root the shim passed is runts's own record (src/runtime/store.ts:
 * pidStartTime, cgroupDirs; runc's state.json has init_process_pid and
 * cgroup_paths instead), and names the task's pid. Nothing seen from inside
 * the container would tell the two runtimes apart.
 */
async function assertRuntsRuns(cd: Containerd, id: string): Promise<void> {
  const tasks = ok(await cd.ctr('task', 'list'));
  const pid = Number(new RegExp(`^${id}\\s+(\\d+)\\s+RUNNING`, 'm').exec(tasks)?.[1]);
  assert.ok(pid > 0, `task ${id} is running: ${tasks}`);
  const file = join(cd.runtsRoot, id, 'state.json');
  assert.ok(existsSync(file), `no runts state for ${id} under the shim's --root ${cd.runtsRoot}: ${existsSync(cd.runtsRoot) ? readdirSync(cd.runtsRoot).join(' ') : 'no such dir'}`);
  const state = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.ok('pidStartTime' in state && Array.isArray(state.cgroupDirs) && !('init_process_pid' in state), `not runts's state record: ${Object.keys(state).join(' ')}`);
  assert.equal(state.pid, pid, 'runts\'s record names the task\'s pid');
}

function shimsOf(dir: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.startsWith('/usr/bin/containerd-shim') && cmd.includes(dir)) found.push(Number(name));
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

/*
 * An OCI image layout (oci-layout, index.json, blobs) as one tar, the form
 * `ctr image import` reads: one uncompressed layer with the whole rootfs.
 */
function buildImage(c: Ctx, name: string, cmd: string[]): string {
  const rootfs = c.bundle().rootfs;
  const layout = c.tempDir('image');
  const blobs = join(layout, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (file: string): { digest: string; size: number } => {
    const hex = createHash('sha256').update(readFileSync(file)).digest('hex');
    const size = statSync(file).size;
    renameSync(file, join(blobs, hex));
    return { digest: `sha256:${hex}`, size };
  };
  const json = (value: unknown) => {
    const file = join(layout, 'tmp.json');
    writeFileSync(file, JSON.stringify(value));
    return blob(file);
  };
  const tar = (args: string[]) => {
    const r = spawnSync('tar', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `tar ${args.join(' ')}: ${r.stderr}`);
  };
  tar(['-C', rootfs, '-cf', join(layout, 'layer.tar'), '.']);
  const layer = blob(join(layout, 'layer.tar'));
  const config = json({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
    os: 'linux',
    config: { Cmd: cmd, Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  });
  const manifest = json({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  const archive = join(c.dir, 'image.tar');
  tar(['-C', layout, '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
  return archive;
}

containerTest('ctr run through the runc shim runs runts: from a rootfs and from an imported image', async (c) => {
  const cd = await startContainerd(c);
  const rootfs = c.bundle().rootfs;
  const r = await cd.ctr('run', '--rm', ...cd.runtsFlags, '--env', 'FROM=ctr', '--rootfs', rootfs, 'from-rootfs', '/probe');
  const p = parseProbe(ok(r), describeCommand(r));
  assert.equal(p.pid, 1);
  assert.ok(p.env.includes('FROM=ctr'), p.env.join(' '));
  const failed = await cd.ctr('run', '--rm', ...cd.runtsFlags, '--rootfs', rootfs, 'exit-code', '/probe', 'exit', '3');
  assert.equal(failed.code, 3, describeCommand(failed));

  const image = 'localhost/runts-test/probe:latest';
  ok(await cd.ctr('image', 'import', buildImage(c, image, ['/probe', '--', 'from-image']), '--all-platforms'));
  const fromImage = await cd.ctr('run', '--rm', ...cd.runtsFlags, image, 'from-image');
  const q = parseProbe(ok(fromImage), describeCommand(fromImage));
  assert.deepEqual(q.argv.slice(-1), ['from-image']);

  // the same flags, a task that stays: runts is what runs it
  ok(await cd.ctr('run', '--detach', ...cd.runtsFlags, '--rootfs', rootfs, 'proof', '/probe', 'sleep', '600'));
  await assertRuntsRuns(cd, 'proof');
}, NEEDS);

containerTest('ctr task exec, ps, kill and delete on a runts container', async (c) => {
  const cd = await startContainerd(c);
  ok(await cd.ctr('run', '--detach', ...cd.runtsFlags, '--rootfs', c.bundle().rootfs, 'sleeper', '/probe', 'sleep', '600'));
  const tasks = ok(await cd.ctr('task', 'list'));
  assert.match(tasks, /sleeper\s+\d+\s+RUNNING/);
  const initPid = Number(/sleeper\s+(\d+)/.exec(tasks)![1]);
  await assertRuntsRuns(cd, 'sleeper');

  const exec = await cd.ctr('task', 'exec', '--exec-id', 'probe', 'sleeper', '/probe');
  const p = parseProbe(ok(exec), describeCommand(exec));
  assert.notEqual(p.pid, 1, 'a second process in the container\'s pid namespace');
  const status = await cd.ctr('task', 'exec', '--exec-id', 'status', 'sleeper', '/probe', 'exit', '4');
  assert.equal(status.code, 4, describeCommand(status));
  const missing = await cd.ctr('task', 'exec', '--exec-id', 'missing', 'sleeper', 'no-such-command');
  assert.notEqual(missing.code, 0);
  // runts's wording ('exec "NAME": ...'; runc's is 'exec: "NAME": ...'): the shim read runts's JSON log
  assert.match(missing.stderr, /exec "no-such-command": executable file not found/);

  assert.match(ok(await cd.ctr('task', 'ps', 'sleeper')), new RegExp(`^${initPid}\\b`, 'm'));
  ok(await cd.ctr('task', 'kill', '--signal', 'KILL', 'sleeper'));
  await waitFor(async () => /STOPPED/.test((await cd.ctr('task', 'list')).stdout), 'the task to stop');
  ok(await cd.ctr('task', 'delete', 'sleeper'));
  ok(await cd.ctr('containers', 'delete', 'sleeper'));
  assert.equal(ok(await cd.ctr('containers', 'list', '--quiet')).trim(), '');
}, NEEDS);

containerTest('ctr run -t and ctr task exec -t give the process a real terminal', async (c) => {
  const cd = await startContainerd(c);
  const rootfs = c.bundle().rootfs;
  // ctr wants a terminal of its own for -t: script(1) gives it one
  const onTerminal = (args: string[]) =>
    runCommand('script', ['--quiet', '--return', '--command', ['ctr', ...cd.ctrGlobal, ...args].join(' '), '/dev/null'], { timeoutMs: 60_000 });
  const run = await onTerminal(['run', '--rm', '-t', ...cd.runtsFlags, '--rootfs', rootfs, 'tty-run', '/bin/sh', '-c', "'tty; exit 3'"]);
  assert.match(run.stdout.replace(/\r/g, ''), /\/dev\/pts\/\d+$/m, describeCommand(run));
  assert.equal(run.code, 3, describeCommand(run));

  ok(await cd.ctr('run', '--detach', ...cd.runtsFlags, '--rootfs', rootfs, 'tty-exec', '/probe', 'sleep', '600'));
  await assertRuntsRuns(cd, 'tty-exec');
  const exec = await onTerminal(['task', 'exec', '-t', '--exec-id', 'tty', 'tty-exec', '/bin/sh', '-c', "'tty'"]);
  assert.match(exec.stdout.replace(/\r/g, ''), /\/dev\/pts\/\d+$/m, describeCommand(exec));
}, { needs: [...NEEDS.needs, 'script'] });

containerTest('the RuntimeClass configuration in docs/kubernetes-runtimeclass.md loads into containerd\'s cri plugin', async (c) => {
  const doc = readFileSync(join(REPO, 'docs/kubernetes-runtimeclass.md'), 'utf8');
  const block = /```toml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block?.includes('runtimes.runts'), 'the page has the containerd configuration');
  const runtimeTable = block!.replace(/^version = 2\n/m, '').replace('/usr/local/bin/runts', RUNTS_BIN);
  const cd = await startContainerd(c, runtimeTable);
  const plugins = ok(await cd.ctr('plugins', 'list'));
  assert.match(plugins, /io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/, plugins);
  const dump = spawnSync('containerd', ['--config', cd.config, 'config', 'dump'], { encoding: 'utf8' });
  assert.equal(dump.status, 0, dump.stderr);
  const header = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runts]';
  assert.ok(dump.stdout.includes(header), dump.stdout.slice(0, 2000));
  // the runts table and its .options table, up to the next runtime
  const section = dump.stdout.slice(dump.stdout.indexOf(header)).split(/\n\s*\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.(?!runts)/)[0]!;
  assert.match(section, /runtime_type = "io\.containerd\.runc\.v2"/);
  assert.ok(section.includes(`BinaryName = "${RUNTS_BIN}"`), section.slice(0, 800));
}, NEEDS);
