/*
 * cri.test.ts - the Kubernetes path, end to end but for the kubelet: a CRI
 * client (test/lib/cri.ts, gRPC over containerd's socket) calls containerd's
 * cri plugin, which runs the runc shim, which runs the OCI runtime that the
 * pod's runtime handler names. The node (test/lib/cri-node.ts) has two
 * handlers, `runc` and `runts`, and every scenario runs on both: what fails
 * only with runts is the runtime's fault, not the harness's. The last test runs the
 * cgroup v2 half (in-vm/cri-v2.test.ts) in the lab VM.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cgroupDirsMatching, ensureRunDir, RUN_PREFIX } from '../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../lib/context.ts';
import { ContainerState, SandboxState, type PodConfig } from '../lib/cri.ts';
import { CNI_PLUGINS, CriNode, HANDLERS, K8S_NS, type Handler } from '../lib/cri-node.ts';
import { fileSkip, hasCommand, isRoot, mountsUnder, waitFor } from '../lib/host.ts';
import { RUNTS_BIN } from '../lib/runtime.ts';
import { runInVm, vmMissing } from '../lib/vm.ts';
import { BUSYBOX } from './image-fixtures.ts';

// a failure in CI, a reported skip elsewhere (host.ts, fileSkip)
const skip = fileSkip('CRI tests', !isRoot() ? 'needs root'
  : !existsSync(BUSYBOX) ? 'needs `npm run build` (dist/images/busybox)'
    : !existsSync(join(CNI_PLUGINS, 'bridge')) ? 'needs the CNI plugins (apt-get install containernetworking-plugins)'
      : !existsSync(RUNTS_BIN) ? `needs ${RUNTS_BIN}`
        : ['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'cc', 'tar', 'ip'].filter((c) => !hasCommand(c)).map((c) => `needs ${c}`).join(', ') || false);

const octet = 100 + (parseInt(RUN_PREFIX.slice(-2), 16) % 100);
const node = new CriNode(join(ensureRunDir(), 'cri'), RUN_PREFIX, octet);
const { base, runtimeRoot, bridge: BRIDGE, cniNet: CNI_NET, busyboxImage: BUSYBOX_IMAGE } = node;
let started = false;

before(async () => {
  if (skip) return;
  started = true;
  await node.start();
});

after(async () => {
  if (started) assert.deepEqual(await node.stop(), [], 'teardown');
});
checkLeaksAfterFile();

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
  return node.cri.execSync(id, cmd, 20);
}

test('containerd answers CRI v1, and its cri plugin reports the runtime and the test\'s CNI network ready', { skip }, async () => {
  const v = await node.cri.version();
  assert.equal(v.runtimeName, 'containerd');
  assert.equal(v.runtimeApiVersion, 'v1');
  // the CNI configuration is loaded by a watcher: eventually consistent
  let last: unknown;
  const conditions = await waitFor(async () => {
    const c = await node.cri.status();
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
    logDirectory: logDir, cgroupParent: `${node.cgroupParent}/${handler}`, labels: { test: RUN_PREFIX },
  };
  let podId = '';
  let mainId = '';
  let secureId = '';

  test(`${handler}: RunPodSandbox runs the pause container with the pod's runtime handler, on the test's CNI network`, { skip }, async () => {
    mkdirSync(logDir, { recursive: true });
    podId = await node.cri.runPodSandbox(pod, handler);
        const st = await node.cri.podSandboxStatus(podId);
    assert.equal(st.state, SandboxState.READY);
    assert.equal(st.runtimeHandler, handler);
    const info = JSON.parse(st.info.info ?? '{}') as { runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } }; pid?: number };
    const netns = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
    assert.ok(netns && existsSync(netns), `the sandbox's network namespace: ${netns}`);
    node.netnsPaths.push(netns);
    assert.match(st.ip, new RegExp(`^10\\.234\\.${octet}\\.\\d+$`), `pod IP from ${node.subnet}`);
    assert.ok(readdirSync(`/sys/class/net/${BRIDGE}/brif`).length >= 1, 'the pod\'s veth is on the test\'s bridge');
    assertRanBy(handler, podId);
    // the sandbox's pid 1 is the pause program
    assert.equal(readFileSync(`/proc/${info.pid}/cmdline`, 'utf8'), '/pause\0');
  });

  test(`${handler}: CreateContainer, StartContainer, ContainerStatus and the container's log in the CRI format`, { skip }, async () => {
    mainId = await node.cri.createContainer(podId, {
      name: 'main', image: BUSYBOX_IMAGE, command: ['sh', '-c'], args: ['echo hello from $HANDLER; echo to stderr >&2; hostname; exec sleep 3600'],
      env: { HANDLER: handler }, logPath: 'main.log',
    }, pod);
    assert.equal((await node.cri.containerStatus(mainId)).state, ContainerState.CREATED);
    await node.cri.startContainer(mainId);
    const st = await node.cri.containerStatus(mainId);
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
    const podIp = (await node.cri.podSandboxStatus(podId)).ip;
    assert.match(addr!, new RegExp(`\\binet ${podIp.replace(/\./g, '\\.')}/24\\b`), inside.stdout);
  });

  test(`${handler}: Exec through the streaming server: output, exit status, stdin, and a terminal`, { skip }, async () => {
    assert.deepEqual(await node.cri.exec(mainId, ['sh', '-c', 'echo out; echo err >&2; exit 3']), { stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    assert.deepEqual(await node.cri.exec(mainId, ['head', '-n1'], { stdin: 'from stdin\n' }), { stdout: 'from stdin\n', stderr: '', exitCode: 0 });
    // with a terminal, and stdin as kubectl exec -it asks (without stdin containerd 1.6 streamed no output here)
    // the runtime gets a console socket from the shim; stdout and stderr are the one pty
    const tty = await node.cri.exec(mainId, ['sh', '-c', 'tty; echo to-err >&2'], { tty: true, stdin: '' });
    assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\nto-err\r\n$/, JSON.stringify(tty));
    assert.equal(tty.exitCode, 0);
  });

  test(`${handler}: PortForward reaches a server in the pod's network namespace`, { skip }, async () => {
    const id = await node.cri.createContainer(podId, { name: 'server', image: BUSYBOX_IMAGE, command: ['nc', '-ll', '-p', '8080', '-e', 'sh', '-c', 'read line; echo "pod got: $line"'], logPath: 'server.log' }, pod);
    await node.cri.startContainer(id);
    assertRanBy(handler, id);
    // the server listens once its process runs: retry until it answers
    const reply = await waitFor(async () => node.cri.portForward(podId, 8080, 'hello\n').then((r) => r || undefined, () => undefined), 'the pod\'s port 8080 to answer');
    assert.equal(reply, 'pod got: hello\n');
  });

  test(`${handler}: a container that exits on its own: ContainerStatus reports its exit code, RemoveContainer removes it`, { skip }, async () => {
    const id = await node.cri.createContainer(podId, { name: 'exits', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo bye; exit 3'], logPath: 'exits.log' }, pod);
    await node.cri.startContainer(id);
    assertRanBy(handler, id);
    // the exit reaches the cri plugin as an event from the shim: eventually consistent
    const st = await waitFor(async () => { const s = await node.cri.containerStatus(id); return s.state === ContainerState.EXITED ? s : undefined; }, `${id} to exit`);
    assert.equal(st.exitCode, 3);
    assert.equal(st.reason, 'Error');
    // both set; not ordered: startedAt is when the runtime's `start` returned to containerd, and a process this
    // short may be gone by then (runts's start returns as soon as it released the process, as runc's does, but
    // the shim's round trip comes after)
    assert.ok(st.startedAt > 0 && st.finishedAt > 0, JSON.stringify(st));
    assert.deepEqual(criLog(st.logPath).map((l) => [l.stream, l.text]), [['stdout', 'bye']]);
    await node.cri.removeContainer(id);
    await assert.rejects(node.cri.containerStatus(id), /NOT_FOUND/);
    assert.equal(runtimeState(handler, id), undefined, `${handler} state of ${id} removed`);
  });

  test(`${handler}: a security context (uid 1000, read-only rootfs, every capability dropped) and a memory limit, seen from inside`, { skip }, async () => {
    const limit = 48 * 1024 * 1024;
    secureId = await node.cri.createContainer(podId, {
      name: 'secure', image: BUSYBOX_IMAGE, command: ['sh', '-c'],
      args: ['id -u; grep -E "^Cap(Eff|Bnd|Prm):" /proc/self/status; touch /x 2>&1 || echo touch failed; exec sleep 3600'],
      logPath: 'secure.log', runAsUser: 1000, readonlyRootfs: true, dropCapabilities: ['ALL'], noNewPrivs: true, memoryLimitBytes: limit,
    }, pod);
    await node.cri.startContainer(secureId);
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

  test(`${handler}: seccomp (a Localhost profile, RuntimeDefault), masked and read-only paths, a CPU quota and an added capability, seen from inside`, { skip }, async () => {
    const profile = join(base, `deny-mkdir-${handler}.json`);
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
    const confined = await node.cri.createContainer(podId, {
      name: 'confined', image: BUSYBOX_IMAGE, command: ['sleep', '3600'], logPath: 'confined.log',
      seccomp: { localhost: profile }, maskedPaths: ['/proc/cpuinfo'], readonlyPaths: ['/proc/sys'],
      cpuPeriod: 100_000, cpuQuota: 25_000, addCapabilities: ['NET_ADMIN'],
    }, pod);
    await node.cri.startContainer(confined);
    assertRanBy(handler, confined);
    assert.equal((await exec(confined, 'grep', '^Seccomp:', '/proc/self/status')).stdout, 'Seccomp:\t2\n');
    const mkdir = await exec(confined, 'mkdir', '/tmp/denied');
    assert.notEqual(mkdir.exitCode, 0);
    assert.match(mkdir.stderr, /Operation not permitted/);
    assert.equal((await exec(confined, 'sh', '-c', 'wc -c < /proc/cpuinfo')).stdout.trim(), '0', 'the masked path reads empty');
    const sysctl = await exec(confined, 'sh', '-c', 'echo 1 > /proc/sys/vm/overcommit_memory');
    assert.match(sysctl.stderr, /Read-only file system/);
    const quota = await exec(confined, 'sh', '-c', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max');
    assert.equal(quota.stdout.trim(), '25000');
    const capEff = BigInt('0x' + (await exec(confined, 'sh', '-c', 'grep ^CapEff: /proc/self/status | cut -f2')).stdout.trim());
    assert.ok(capEff & (1n << 12n), `CAP_NET_ADMIN in CapEff ${capEff.toString(16)}`);

    const defaulted = await node.cri.createContainer(podId, { name: 'defaulted', image: BUSYBOX_IMAGE, command: ['sleep', '3600'], logPath: 'defaulted.log', seccomp: 'RuntimeDefault' }, pod);
    await node.cri.startContainer(defaulted);
    assertRanBy(handler, defaulted);
    assert.equal((await exec(defaulted, 'grep', '^Seccomp:', '/proc/self/status')).stdout, 'Seccomp:\t2\n');
    // the default profile lets mkdir through; it stops what needs CAP_SYS_ADMIN, such as unshare of a mount namespace
    assert.equal((await exec(defaulted, 'mkdir', '/tmp/allowed')).exitCode, 0);
    assert.match((await exec(defaulted, 'unshare', '-m', 'true')).stderr, /Operation not permitted/);
  });

  test(`${handler}: a privileged container in a privileged pod: every capability, no seccomp filter, /proc/sys not read-only`, { skip }, async () => {
    const privPod: PodConfig = { ...pod, name: `${podName}-priv`, uid: `${pod.uid}-priv`, hostname: `priv-${handler}`, privileged: true };
    const privPodId = await node.cri.runPodSandbox(privPod, handler);
    const netns = JSON.parse((await node.cri.podSandboxStatus(privPodId)).info.info ?? '{}')?.runtimeSpec?.linux?.namespaces?.find((n: { type: string }) => n.type === 'network')?.path as string | undefined;
    if (netns) node.netnsPaths.push(netns);
    const id = await node.cri.createContainer(privPodId, { name: 'priv', image: BUSYBOX_IMAGE, command: ['sleep', '3600'], logPath: 'priv.log', privileged: true }, privPod);
    await node.cri.startContainer(id);
    assertRanBy(handler, id);
    const status = (await exec(id, 'grep', '-E', '^(CapEff|CapBnd|Seccomp):', '/proc/self/status')).stdout;
    const [capEff, capBnd, seccomp] = status.trim().split('\n').map((l) => l.split('\t')[1]);
    assert.equal(capEff, capBnd, status);
    assert.ok(BigInt('0x' + capEff) & (1n << 21n), `CAP_SYS_ADMIN in ${status}`);
    assert.equal(seccomp, '0', status);
    assert.equal((await exec(id, 'sh', '-c', 'grep -c " /proc/sys " /proc/self/mountinfo || true')).stdout.trim(), '0', '/proc/sys is not bound read-only');
    await node.cri.stopPodSandbox(privPodId);
    await node.cri.removePodSandbox(privPodId);
  });

  test(`${handler}: StopPodSandbox stops every container, RemovePodSandbox leaves no netns, veth, mount, cgroup, state or shim`, { skip }, async () => {
    const netns = node.netnsPaths.at(-1)!;
    await node.cri.stopPodSandbox(podId);
    for (const id of [mainId, secureId]) {
      const st = await node.cri.containerStatus(id);
      assert.equal(st.state, ContainerState.EXITED, `${id}: ${JSON.stringify(st)}`);
    }
    assert.equal((await node.cri.podSandboxStatus(podId)).state, SandboxState.NOTREADY);
    await node.cri.removePodSandbox(podId);
    assert.ok(!(await node.cri.listPodSandboxIds()).includes(podId));
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
    await waitFor(() => node.shims().length === 0, 'the pod\'s shim to exit');
  });
}

// cgroup v2 nodes: this host's cgroups are hybrid, the lab VM's are v2 alone (in-vm/cri-v2.test.ts)
const vmWhy = fileSkip('CRI on cgroup v2', skip || vmMissing());
test('on a cgroup v2 node (the lab VM): a pod and a limited container with each handler, seen from inside and from the node', { skip: vmWhy, timeout: 12 * 60_000 }, async () => {
  const { code, out, summary } = await runInVm(660, [process.execPath, '--test', '--test-concurrency=1', 'test/integration/in-vm/cri-v2.test.ts']);
  assert.equal(code, 0, `in the VM:\n${code === 0 ? summary : out}`);
  assert.match(out, /^ℹ fail 0$/m, summary);
  assert.match(out, /^ℹ pass 2$/m, summary);
});
