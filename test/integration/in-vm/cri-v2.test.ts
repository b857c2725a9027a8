/*
 * The CRI path on a cgroup v2 node, for real: the same node as
 * test/integration/cri.test.ts (test/lib/cri-node.ts: a private containerd
 * with its cri plugin, CNI, a pause image, the `runc` and `runts` handlers),
 * inside the lab VM, whose kernel has cgroup v2 alone; this host's cgroups
 * are hybrid, and most Kubernetes nodes today are v2. cri.test.ts boots the
 * VM with test/vm/run-in-vm.sh and runs this file there.
 *
 * For each handler: a pod, a container with a memory limit and a CPU quota,
 * seen from inside as cgroup v2 files, in a cgroup namespace of its own
 * (containerd asks for one on v2), the container's cgroup under the pod's
 * parent in the one hierarchy; then the pod stopped and removed, and the
 * node taken down with nothing left. The VM is software-emulated: a few
 * scenarios, generous waits.
 *
 * The book: docs/10-real-world-oci.md (Kubernetes), docs/05-cgroups.md (v2).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureRunDir, RUN_PREFIX } from '../../lib/cleanup.ts';
import { checkLeaksAfterFile } from '../../lib/context.ts';
import { ContainerState, SandboxState, type PodConfig } from '../../lib/cri.ts';
import { CriNode, HANDLERS } from '../../lib/cri-node.ts';

const ROOT = '/sys/fs/cgroup';
const node = new CriNode(join(ensureRunDir(), 'cri'), RUN_PREFIX, 200);

before(async () => {
  assert.ok(existsSync(join(ROOT, 'cgroup.controllers')) && !existsSync(join(ROOT, 'memory')), 'this file runs on cgroup v2 alone (in the VM: test/integration/cri.test.ts)');
  // node:test reports a failed before hook as 'test failed' alone: say why, for the host's log of the VM run
  await node.start().catch((err: unknown) => {
    console.error('starting the CRI node failed:', err);
    throw err;
  });
});
after(async () => {
  assert.deepEqual(await node.stop(), [], 'teardown');
});
checkLeaksAfterFile();

for (const handler of HANDLERS) {
  test(`${handler} on cgroup v2: a pod and a limited container, its cgroup namespace and v2 files from inside, stop and remove`, { timeout: 240_000 }, async () => {
    const pod: PodConfig = {
      name: `${RUN_PREFIX}-${handler}`, uid: `${RUN_PREFIX}-uid-${handler}`, namespace: 'default', hostname: `pod-${handler}`,
      logDirectory: join(node.base, 'logs', handler), cgroupParent: `${node.cgroupParent}/${handler}`, labels: { test: RUN_PREFIX },
    };
    const podId = await node.cri.runPodSandbox(pod, handler);
    const st = await node.cri.podSandboxStatus(podId);
    assert.equal(st.state, SandboxState.READY);
    assert.equal(st.runtimeHandler, handler);
    const netns = (JSON.parse(st.info.info ?? '{}') as { runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } } })
      .runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
    if (netns) node.netnsPaths.push(netns);

    const limit = 64 * 1024 * 1024;
    const id = await node.cri.createContainer(podId, {
      name: 'limited', image: node.busyboxImage, command: ['sleep', '3600'], logPath: 'limited.log',
      memoryLimitBytes: limit, cpuPeriod: 100_000, cpuQuota: 50_000,
    }, pod);
    await node.cri.startContainer(id);
    const status = await node.cri.containerStatus(id);
    assert.equal(status.state, ContainerState.RUNNING);
    const pid = (JSON.parse(status.info.info ?? '{}') as { pid?: number }).pid;
    assert.ok(pid, `containerd's info names the container's pid: ${status.info.info}`);

    const inside = await node.cri.execSync(id, ['sh', '-c', 'cat /proc/self/cgroup; grep " /sys/fs/cgroup " /proc/self/mounts | cut -d" " -f3; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max'], 60);
    assert.equal(inside.exitCode, 0, JSON.stringify(inside));
    assert.equal(inside.stdout, `0::/\ncgroup2\n${limit}\n50000 100000\n`, 'a cgroup namespace rooted at the container, v2 files with its limits');

    // from the node: the container's first process sits under the pod's parent, in the one hierarchy
    const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim();
    assert.match(cgroup, new RegExp(`^0::${pod.cgroupParent}/`), `${handler}'s container cgroup`);
    assert.equal(readFileSync(join(ROOT, cgroup.slice(3), 'memory.max'), 'utf8').trim(), String(limit));

    await node.cri.stopPodSandbox(podId);
    await node.cri.removePodSandbox(podId);
    assert.equal(existsSync(`/proc/${pid}`), false, 'the container is gone with its pod');
  });
}
