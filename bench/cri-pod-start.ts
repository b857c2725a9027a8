/*
 * cri-pod-start.ts - a benchmark, not a test: how long Kubernetes waits for a
 * pod with runts as its runtime handler, against runc, on the same node.
 *
 *   node bench/cri-pod-start.ts [rounds=10]
 *
 * The node is test/lib/cri-node.ts: a private containerd with its cri
 * plugin, CNI bridge, a pause image and two handlers, `runc` and `runts`
 * (the runc v2 shim with BinaryName). Playing kubelet over CRI, each round
 * times, for each handler in turn (the order alternates between rounds):
 *   RunPodSandbox    the pause container: CNI, the shim, create + start
 *   CreateContainer  busybox `sleep`: the runtime's create
 *   StartContainer   the runtime's start
 * and their sum, the pod start time; then stops and removes the pod (not
 * timed). Each line gives the median and range over the rounds, and the
 * ratio is the median of each round's runts/runc ratio.
 *
 * Needs root, containerd, runc, the CNI plugins and a build (`npm run build`).
 * The node's directory, bridge and cgroups are its own, and removed.
 *
 * The book: docs/kubernetes-runtimeclass.md.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriNode, HANDLERS, type Handler } from '../test/lib/cri-node.ts';

const rounds = Number(process.argv[2] ?? 10);
const node = new CriNode(mkdtempSync(join(tmpdir(), 'runts-bench-cri-')), 'rtbench', 99);
const STEPS = ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'pod start'] as const;
type Times = Record<(typeof STEPS)[number], number>;
const times: Record<Handler, Times[]> = { runc: [], runts: [] };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function podStart(handler: Handler, round: number): Promise<Times> {
  const cri = node.cri;
  const name = `bench-${handler}-${round}`;
  const pod = { name, uid: `${name}-uid`, namespace: 'bench', hostname: name, logDirectory: join(node.base, 'logs', name), cgroupParent: `${node.cgroupParent}/${handler}` };
  let t = process.hrtime.bigint();
  const podId = await cri.runPodSandbox(pod, handler);
  const run = ms(t);
  t = process.hrtime.bigint();
  const id = await cri.createContainer(podId, { name: 'main', image: node.busyboxImage, command: ['sleep', '3600'], logPath: 'main.log' }, pod);
  const create = ms(t);
  t = process.hrtime.bigint();
  await cri.startContainer(id);
  const start = ms(t);
  await cri.stopPodSandbox(podId);
  await cri.removePodSandbox(podId);
  return { RunPodSandbox: run, CreateContainer: create, StartContainer: start, 'pod start': run + create + start };
}

try {
  await node.start();
  await podStart('runc', -1); // warm up: first pulls from containerd's content store, page cache
  await podStart('runts', -1);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...HANDLERS].reverse() : HANDLERS;
    for (const h of order) times[h].push(await podStart(h, round));
  }
  console.log(`pod start over CRI, ${rounds} rounds (containerd's cri plugin, runc v2 shim; ms: median [min-max])`);
  for (const step of STEPS) {
    const col = (h: Handler) => { const xs = times[h].map((t) => t[step]); return `${median(xs).toFixed(1)} [${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}]`; };
    const ratio = median(times.runts.map((t, i) => t[step] / times.runc[i]![step]));
    console.log(`${step.padEnd(16)} runts ${col('runts').padEnd(24)} runc ${col('runc').padEnd(24)} ratio ${ratio.toFixed(2)}x`);
  }
} finally {
  const errors = await node.stop();
  if (errors.length) {
    console.error(`teardown: ${errors.join('; ')}`);
    process.exitCode = 1;
  }
}
