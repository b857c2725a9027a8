/*
 * cri.test.ts - the Kubernetes path, end to end but for the kubelet: a CRI
 * client (test/lib/cri.ts, gRPC over containerd's socket) calls containerd's
 * cri plugin, which runs the runc shim, which runs the OCI runtime that the
 * pod's runtime handler names. Two handlers are configured, `runc` and
 * `runts` (the shim's BinaryName is bin/runts), and every scenario runs on
 * both: what fails only with runts is the runtime's fault, not the harness's.
 *
 * The containerd is the file's own: root, state, socket, CRI streaming port
 * (0: any free one), runtime state roots, a CNI configuration directory with
 * a bridge and subnet of its own, IPAM leases in a dir of its own, and a
 * cgroup parent named after the run. The sandbox (pause) image is built here
 * from a few lines of C; the container image is the project's busybox rootfs.
 * Both are imported into containerd's k8s.io namespace as OCI archives.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureRunDir, removeCgroupTree, RUN_PREFIX, safeRemove, cgroupDirsMatching } from '../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { ContainerState, CriClient, SandboxState, type PodConfig } from '../lib/cri.ts';
import { startDaemon, type Daemon } from '../lib/engine.ts';
import { fileSkip, hasCommand, isRoot, mountsUnder, waitFor } from '../lib/host.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';
import { BUSYBOX, busyboxLayer, sha } from './image-fixtures.ts';

const CNI_PLUGINS = '/usr/lib/cni';
// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const skip = fileSkip('CRI tests', !isRoot() ? 'needs root'
  : !existsSync(BUSYBOX) ? 'needs `npm run build` (dist/images/busybox)'
    : !existsSync(join(CNI_PLUGINS, 'bridge')) ? 'needs the CNI plugins (apt-get install containernetworking-plugins)'
      : !existsSync(RUNTS_BIN) ? `needs ${RUNTS_BIN}`
        : ['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'cc', 'tar', 'ip'].filter((c) => !hasCommand(c)).map((c) => `needs ${c}`).join(', ') || false);

const base = join(ensureRunDir(), 'cri');
const socket = join(base, 'containerd.sock');
const runtimeRoot = { runc: join(base, 'runc'), runts: join(base, 'runts') } as const;
type Handler = keyof typeof runtimeRoot;
const HANDLERS: Handler[] = ['runc', 'runts'];
const octet = 100 + (parseInt(RUN_PREFIX.slice(-2), 16) % 100);
const SUBNET = `10.234.${octet}.0/24`;
const BRIDGE = `${RUN_PREFIX}k`;
const CNI_NET = `${RUN_PREFIX}-cri`;
const CGROUP_PARENT = `/${RUN_PREFIX}-cri`;
const PAUSE_IMAGE = `localhost/${RUN_PREFIX}/pause:1`;
const BUSYBOX_IMAGE = `localhost/${RUN_PREFIX}/busybox:1`;
const K8S_NS = 'k8s.io'; // the containerd namespace of the cri plugin

// libcni's cache of results (containerd 1.6 has no setting for it): what of it this file made is removed at the end
const CNI_CACHE = ['/var/lib/cni/results', '/var/lib/cni'].filter((d) => !existsSync(d));

let daemon: Daemon | undefined;
let cri: CriClient | undefined;
const pods: string[] = [];
const netnsPaths: string[] = [];

/* The pause program of a pod's sandbox: sleep until told to stop, reap whatever is reparented to it. */
const PAUSE_C = `#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
static void quit(int sig) { (void)sig; _exit(0); }
int main(void) {
  signal(SIGCHLD, reap);
  signal(SIGTERM, quit);
  signal(SIGINT, quit);
  for (;;) pause();
}
`;

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: exit ${r.status} ${r.signal ?? ''}\n${r.stderr}${r.error ?? ''}`);
  return r.stdout;
}

const ctr = (...args: string[]) => run('ctr', ['--address', socket, '--namespace', K8S_NS, ...args]);

/* An OCI archive of one image (one uncompressed layer), named for containerd's importer (io.containerd.image.name). */
function imageArchive(name: string, layer: Buffer, cmd: string[]): string {
  const dir = join(base, `image-${name.split('/').at(-1)!.replace(/[^a-z0-9]/g, '-')}`);
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer) => { const d = sha(b); writeFileSync(join(dir, 'blobs/sha256', d), b); return { digest: `sha256:${d}`, size: b.length }; };
  const json = (v: unknown) => put(Buffer.from(JSON.stringify(v)));
  const layerDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(layer) };
  const config = json({
    architecture: process.arch === 'x64' ? 'amd64' : process.arch, os: 'linux',
    config: { Cmd: cmd, Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [layerDesc.digest] },
  });
  const manifest = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [layerDesc] });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').at(-1) } }] }));
  const archive = `${dir}.tar`;
  run('tar', ['-C', dir, '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
  return archive;
}

/* A layer tar with the static pause binary at /pause */
function pauseLayer(): Buffer {
  const dir = join(base, 'pause-rootfs');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(base, 'pause.c'), PAUSE_C);
  run('cc', ['-static', '-O2', '-o', join(dir, 'pause'), join(base, 'pause.c')]);
  return execFileSync('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.'], { maxBuffer: 1 << 26 });
}

function containerdConfig(): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
[debug]
  address = ""
[metrics]
  address = ""
[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  # the cri plugin makes a sandbox's oom_score_adj -998; these machines refuse lowering it
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[${cri}.containerd]
  default_runtime_name = "runc"
[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[${cri}.containerd.runtimes.runc.options]
  Root = "${runtimeRoot.runc}"
[${cri}.containerd.runtimes.runts]
  runtime_type = "io.containerd.runc.v2"
[${cri}.containerd.runtimes.runts.options]
  BinaryName = "${RUNTS_BIN}"
  Root = "${runtimeRoot.runts}"
  SystemdCgroup = false
[${cri}.cni]
  bin_dir = "${CNI_PLUGINS}"
  conf_dir = "${join(base, 'net.d')}"
  max_conf_num = 1
`;
}

before(async () => {
  if (skip) return;
  mkdirSync(join(base, 'net.d'), { recursive: true });
  writeFileSync(join(base, 'net.d', '10-cri.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: CNI_NET,
    plugins: [{ type: 'bridge', bridge: BRIDGE, ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], dataDir: join(base, 'ipam') } }],
  }));
  writeFileSync(join(base, 'config.toml'), containerdConfig());
  // the archives are made while containerd starts
  daemon = startDaemon('containerd', ['--config', join(base, 'config.toml'), '--root', join(base, 'root'), '--state', join(base, 'state'), '--address', socket], join(base, 'containerd.log'));
  const pause = imageArchive(PAUSE_IMAGE, pauseLayer(), ['/pause']);
  const busybox = imageArchive(BUSYBOX_IMAGE, busyboxLayer(), ['sh']);
  cri = new CriClient(socket);
  await waitFor(async () => cri!.version().then(() => true, () => false), () => `containerd's CRI to answer on ${socket}: ${daemon!.log().slice(-3000)}`, 30_000);
  ctr('images', 'import', pause);
  ctr('images', 'import', busybox);
  // the cri plugin learns of imported images from containerd's events
  await waitFor(async () => (await cri!.imageStatus(PAUSE_IMAGE)) && (await cri!.imageStatus(BUSYBOX_IMAGE)), 'the cri plugin to see both images');
});

after(async () => {
  if (!daemon) return;
  const errors: string[] = [];
  try {
    for (const id of (await cri!.listPodSandboxIds().catch(() => pods))) {
      await cri!.stopPodSandbox(id).catch((e: Error) => errors.push(e.message));
      await cri!.removePodSandbox(id).catch((e: Error) => errors.push(e.message));
    }
  } finally {
    cri!.close();
    await daemon.stop();
  }
  // shims outlive a stopped containerd by design: ours must be gone with their pods
  await waitFor(() => shims().length === 0, `the containerd shims of ${base} to exit`).catch((e: Error) => {
    errors.push(e.message);
    for (const pid of shims()) process.kill(pid, 'SIGKILL');
  });
  spawnSync('ip', ['link', 'delete', BRIDGE], { stdio: 'ignore' });
  for (const p of netnsPaths) if (existsSync(p)) { errors.push(`netns ${p} left`); spawnSync('umount', [p]); spawnSync('rm', ['-f', p]); }
  for (const cg of cgroupDirsMatching(`${RUN_PREFIX}-cri`)) removeCgroupTree(cg);
  const leftMounts = mountsUnder(base).map((m) => m.mountPoint);
  if (leftMounts.length) errors.push(`mounts left: ${leftMounts.join(' ')}`);
  safeRemove(base);
  for (const dir of CNI_CACHE) spawnSync('rmdir', [dir], { stdio: 'ignore' }); // only if empty: a result left is a leak for the suite's check
  assert.deepEqual(errors, [], 'teardown');
});
checkLeaksAfterFile();

function shims(): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.startsWith('/usr/bin/containerd-shim') && cmd.includes(socket)) found.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return found;
}

/* What the runtime keeps for a container under the root the shim passes it (--root <Root>/k8s.io). */
function runtimeState(handler: Handler, id: string): Record<string, unknown> | undefined {
  const file = join(runtimeRoot[handler], K8S_NS, id, 'state.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> : undefined;
}

/*
 * The proof of which runtime ran a container: runts's record (src/runtime/store.ts:
 * pidStartTime, cgroupDirs) or runc's (init_process_pid), under the handler's own root,
 * and nothing of it under the other handler's root.
 */
function assertRanBy(handler: Handler, id: string): void {
  const other: Handler = handler === 'runts' ? 'runc' : 'runts';
  const state = runtimeState(handler, id);
  assert.ok(state, `no ${handler} state for ${id} under ${runtimeRoot[handler]}/${K8S_NS}`);
  if (handler === 'runts') assert.ok('pidStartTime' in state && Array.isArray(state.cgroupDirs) && !('init_process_pid' in state), `not runts's state record: ${Object.keys(state).join(' ')}`);
  else assert.ok('init_process_pid' in state && !('pidStartTime' in state), `not runc's state record: ${Object.keys(state).join(' ')}`);
  assert.equal(runtimeState(other, id), undefined, `${id} has state under ${other}'s root too`);
}

/* The CRI log format: "<RFC3339Nano time> <stdout|stderr> <F|P> <text>" per line */
function criLog(path: string): { stream: string; tag: string; text: string }[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([FP]) (.*)$/.exec(line);
    assert.ok(m, `not a CRI log line: ${JSON.stringify(line)}`);
    return { stream: m[2]!, tag: m[3]!, text: m[4]! };
  });
}

async function exec(id: string, ...cmd: string[]) {
  return cri!.execSync(id, cmd, 20);
}

test('containerd answers CRI v1, and its cri plugin reports the runtime and the test\'s CNI network ready', { skip }, async () => {
  const v = await cri!.version();
  assert.equal(v.runtimeName, 'containerd');
  assert.equal(v.runtimeApiVersion, 'v1');
  // the CNI configuration is loaded by a watcher: eventually consistent
  let last: unknown;
  const conditions = await waitFor(async () => {
    const c = await cri!.status();
    last = c;
    return c.length >= 2 && c.every((x) => x.status) ? c : undefined;
  }, () => `RuntimeReady and NetworkReady: ${JSON.stringify(last)}`);
  assert.deepEqual(conditions.map((c) => c.type).sort(), ['NetworkReady', 'RuntimeReady']);
});

for (const handler of HANDLERS) {
  const podName = `${RUN_PREFIX}-${handler}`;
  const logDir = join(base, 'logs', handler);
  const pod: PodConfig = {
    name: podName, uid: `${RUN_PREFIX}-uid-${handler}`, namespace: 'default', hostname: `pod-${handler}`,
    logDirectory: logDir, cgroupParent: `${CGROUP_PARENT}/${handler}`, labels: { test: RUN_PREFIX },
  };
  let podId = '';
  let mainId = '';
  let secureId = '';

  test(`${handler}: RunPodSandbox runs the pause container with the pod's runtime handler, on the test's CNI network`, { skip }, async () => {
    mkdirSync(logDir, { recursive: true });
    podId = await cri!.runPodSandbox(pod, handler);
    pods.push(podId);
    const st = await cri!.podSandboxStatus(podId);
    assert.equal(st.state, SandboxState.READY);
    assert.equal(st.runtimeHandler, handler);
    const info = JSON.parse(st.info.info ?? '{}') as { runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } }; pid?: number };
    const netns = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
    assert.ok(netns && existsSync(netns), `the sandbox's network namespace: ${netns}`);
    netnsPaths.push(netns);
    assert.match(st.ip, new RegExp(`^10\\.234\\.${octet}\\.\\d+$`), `pod IP from ${SUBNET}`);
    assert.ok(readdirSync(`/sys/class/net/${BRIDGE}/brif`).length >= 1, 'the pod\'s veth is on the test\'s bridge');
    assertRanBy(handler, podId);
    // the sandbox's pid 1 is the pause program
    assert.equal(readFileSync(`/proc/${info.pid}/cmdline`, 'utf8'), '/pause\0');
  });

  test(`${handler}: CreateContainer, StartContainer, ContainerStatus and the container's log in the CRI format`, { skip }, async () => {
    mainId = await cri!.createContainer(podId, {
      name: 'main', image: BUSYBOX_IMAGE, command: ['sh', '-c'], args: ['echo hello from $HANDLER; echo to stderr >&2; hostname; exec sleep 3600'],
      env: { HANDLER: handler }, logPath: 'main.log',
    }, pod);
    assert.equal((await cri!.containerStatus(mainId)).state, ContainerState.CREATED);
    await cri!.startContainer(mainId);
    const st = await cri!.containerStatus(mainId);
    assert.equal(st.state, ContainerState.RUNNING, JSON.stringify(st));
    assert.ok(st.startedAt > 0);
    assert.equal(st.logPath, join(logDir, 'main.log'));
    assertRanBy(handler, mainId);
    const lines = await waitFor(() => { const l = criLog(st.logPath); return l.length >= 3 ? l : undefined; }, () => `3 lines in ${st.logPath}: ${existsSync(st.logPath) ? readFileSync(st.logPath, 'utf8') : 'none'}`);
    assert.deepEqual(lines.map((l) => [l.stream, l.tag, l.text]).sort(), [
      ['stderr', 'F', 'to stderr'], ['stdout', 'F', `hello from ${handler}`], ['stdout', 'F', `pod-${handler}`],
    ].sort());
  });

  test(`${handler}: ExecSync runs in the container and returns output and exit status`, { skip }, async () => {
    const echo = await exec(mainId, 'echo', 'exec', 'works');
    assert.deepEqual(echo, { stdout: 'exec works\n', stderr: '', exitCode: 0 });
    const failing = await exec(mainId, 'sh', '-c', 'echo oops >&2; exit 7');
    assert.deepEqual(failing, { stdout: '', stderr: 'oops\n', exitCode: 7 });
    // the exec joins the container's namespaces: the pod's pid namespace (pid 1 is the sandbox's pause, the
    // CRI default for an unset NamespaceOption), the pod's hostname and the pod's network (its IP on eth0)
    const inside = await exec(mainId, 'sh', '-c', 'cat /proc/1/comm; pidof sleep >/dev/null && echo sleep seen; hostname; ip -o -4 addr show dev eth0');
    const [pid1, sleepSeen, hostname, addr] = inside.stdout.split('\n');
    assert.deepEqual([pid1, sleepSeen, hostname], ['pause', 'sleep seen', `pod-${handler}`], inside.stdout);
    const podIp = (await cri!.podSandboxStatus(podId)).ip;
    assert.match(addr!, new RegExp(`\\binet ${podIp.replace(/\./g, '\\.')}/24\\b`), inside.stdout);
  });

  test(`${handler}: a container that exits on its own: ContainerStatus reports its exit code, RemoveContainer removes it`, { skip }, async () => {
    const id = await cri!.createContainer(podId, { name: 'exits', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo bye; exit 3'], logPath: 'exits.log' }, pod);
    await cri!.startContainer(id);
    assertRanBy(handler, id);
    // the exit reaches the cri plugin as an event from the shim: eventually consistent
    const st = await waitFor(async () => { const s = await cri!.containerStatus(id); return s.state === ContainerState.EXITED ? s : undefined; }, `${id} to exit`);
    assert.equal(st.exitCode, 3);
    assert.equal(st.reason, 'Error');
    // both set; not ordered: startedAt is when the runtime's `start` returned to containerd, and a process this
    // short may be gone by then (runts's start returns as soon as it released the process, as runc's does, but
    // the shim's round trip comes after)
    assert.ok(st.startedAt > 0 && st.finishedAt > 0, JSON.stringify(st));
    assert.deepEqual(criLog(st.logPath).map((l) => [l.stream, l.text]), [['stdout', 'bye']]);
    await cri!.removeContainer(id);
    await assert.rejects(cri!.containerStatus(id), /NOT_FOUND/);
    assert.equal(runtimeState(handler, id), undefined, `${handler} state of ${id} removed`);
  });

  test(`${handler}: a security context (uid 1000, read-only rootfs, every capability dropped) and a memory limit, seen from inside`, { skip }, async () => {
    const limit = 48 * 1024 * 1024;
    secureId = await cri!.createContainer(podId, {
      name: 'secure', image: BUSYBOX_IMAGE, command: ['sh', '-c'],
      args: ['id -u; grep -E "^Cap(Eff|Bnd|Prm):" /proc/self/status; touch /x 2>&1 || echo touch failed; exec sleep 3600'],
      logPath: 'secure.log', runAsUser: 1000, readonlyRootfs: true, dropCapabilities: ['ALL'], noNewPrivs: true, memoryLimitBytes: limit,
    }, pod);
    await cri!.startContainer(secureId);
    assertRanBy(handler, secureId);
    const log = join(logDir, 'secure.log');
    const lines = await waitFor(() => { const l = criLog(log); return l.some((x) => x.text === 'touch failed') ? l : undefined; }, () => `the secure container's log: ${existsSync(log) ? readFileSync(log, 'utf8') : 'none'}`);
    const text = lines.map((l) => l.text);
    assert.equal(text[0], '1000');
    for (const cap of ['CapPrm', 'CapEff', 'CapBnd']) assert.ok(text.includes(`${cap}:\t0000000000000000`), `${cap} is empty: ${text.join(' | ')}`);
    assert.ok(text.some((t) => /Read-only file system/.test(t)), text.join(' | '));

    const id = await exec(secureId, 'id');
    assert.match(id.stdout, /^uid=1000 gid=0/, JSON.stringify(id));
    const write = await exec(secureId, 'sh', '-c', 'echo x > /etc/x');
    assert.notEqual(write.exitCode, 0);
    assert.match(write.stderr, /Read-only file system/);
    // /tmp of the read-only rootfs is read-only too; /dev/shm is the pod's
    const nnp = await exec(secureId, 'grep', '-E', '^(NoNewPrivs|CapEff):', '/proc/self/status');
    assert.equal(nnp.stdout, 'CapEff:\t0000000000000000\nNoNewPrivs:\t1\n');
    // cgroup v1 (memory.limit_in_bytes) or v2 (memory.max) as mounted in the container
    const mem = await exec(secureId, 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max');
    assert.equal(mem.stdout.trim(), String(limit), JSON.stringify(mem));
  });

  test(`${handler}: StopPodSandbox stops every container, RemovePodSandbox leaves no netns, veth, mount, cgroup, state or shim`, { skip }, async () => {
    const netns = netnsPaths.at(-1)!;
    await cri!.stopPodSandbox(podId);
    for (const id of [mainId, secureId]) {
      const st = await cri!.containerStatus(id);
      assert.equal(st.state, ContainerState.EXITED, `${id}: ${JSON.stringify(st)}`);
    }
    assert.equal((await cri!.podSandboxStatus(podId)).state, SandboxState.NOTREADY);
    await cri!.removePodSandbox(podId);
    pods.splice(pods.indexOf(podId), 1);
    assert.ok(!(await cri!.listPodSandboxIds()).includes(podId));
    assert.ok(!existsSync(netns), `the pod's netns ${netns} is gone`);
    assert.deepEqual(readdirSync(`/sys/class/net/${BRIDGE}/brif`), [], 'no veth left on the bridge');
    // CNI DEL ran: the pod's address lease and libcni's cached result are gone
    const leases = join(base, 'ipam', CNI_NET);
    assert.deepEqual(readdirSync(leases).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)), [], `no lease left in ${leases}`);
    const cached = existsSync('/var/lib/cni/results') ? readdirSync('/var/lib/cni/results').filter((f) => f.includes(podId)) : [];
    assert.deepEqual(cached, [], 'no cached CNI result of the pod');
    const root = join(runtimeRoot[handler], K8S_NS);
    assert.deepEqual(existsSync(root) ? readdirSync(root) : [], [], `${handler} state of every container removed`);
    assert.deepEqual(mountsUnder(base).filter((m) => m.mountPoint.includes(podId)).map((m) => m.mountPoint), [], 'no mount of the pod remains');
    // what the runtime made below the pod's cgroup parent is gone (the parent itself is the kubelet's to remove)
    const isDir = (p: string) => { try { return statSync(p).isDirectory(); } catch { return false; } };
    const cgroups = cgroupDirsMatching(`${RUN_PREFIX}-cri`).map((dir) => join(dir, handler)).filter(isDir)
      .flatMap((dir) => readdirSync(dir).map((n) => join(dir, n)).filter(isDir));
    assert.deepEqual(cgroups, [], 'no container cgroup remains');
    await waitFor(() => shims().length === 0, 'the pod\'s shim to exit');
  });
}
