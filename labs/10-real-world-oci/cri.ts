/*
 * cri.ts - the calls the kubelet makes to run a pod, one at a time, by hand:
 * a small command line over the project's CRI client (test/lib/cri.ts, gRPC
 * to containerd's CRI plugin on the unix socket CRI_SOCKET names).
 *
 *   cri version                       the runtime's name and CRI version
 *   cri runp NAME HANDLER             RunPodSandbox: prints the pod's id
 *   cri inspectp POD                  state, IP, handler, the pause pid
 *   cri create POD NAME IMAGE CMD...  CreateContainer in the pod: prints its id
 *   cri start ID                      StartContainer
 *   cri inspect ID                    state, pid, exit code
 *   cri exec ID CMD...                ExecSync: the output, and its status
 *   cri stop ID | cri rm ID           StopContainer (10 s) | RemoveContainer
 *   cri stopp POD | cri rmp POD       StopPodSandbox | RemovePodSandbox
 *
 * A pod NAME becomes the pod's metadata (name NAME, uid NAME, namespace
 * lab), its hostname, and its cgroup parent /lab10/pod-NAME, as the kubelet
 * gives each pod a cgroup (/kubepods/<class>/pod<uid>) of its own.
 * Like crictl, which is what a reader of the Kubernetes documentation
 * would use; this one is short enough to read (chapter 10).
 */
import { ContainerState, CriClient, SandboxState, type PodConfig } from '../../test/lib/cri.ts';

const socket = process.env.CRI_SOCKET;
if (!socket) fail('set CRI_SOCKET to containerd\'s socket');
const [verb, ...args] = process.argv.slice(2);

function fail(message: string): never {
  process.stderr.write(`cri: ${message}\n`);
  process.exit(1);
}

function need(n: number, usage: string): string[] {
  if (args.length < n) fail(`usage: cri ${verb} ${usage}`);
  return args;
}

const podConfig = (name: string): PodConfig => ({ name, uid: name, namespace: 'lab', hostname: name, cgroupParent: `/lab10/pod-${name}` });

/* containerd's verbose answer: a JSON document under "info" */
const infoOf = (info: Record<string, string>) => JSON.parse(info.info ?? '{}') as { pid?: number; config?: { metadata?: { name?: string } } };

const stateName = (names: Record<string, number>, n: number) => Object.keys(names).find((k) => names[k] === n) ?? String(n);

const cri = new CriClient(socket);
try {
  switch (verb) {
    case 'version': {
      const v = await cri.version();
      console.log(`${v.runtimeName} ${v.runtimeVersion}, CRI ${v.runtimeApiVersion}`);
      break;
    }
    case 'runp': {
      const [name, handler] = need(2, 'NAME HANDLER');
      console.log(await cri.runPodSandbox(podConfig(name!), handler!));
      break;
    }
    case 'inspectp': {
      const [id] = need(1, 'POD');
      const s = await cri.podSandboxStatus(id!);
      console.log(`state ${stateName(SandboxState, s.state)} ip ${s.ip || '-'} handler ${s.runtimeHandler} pause pid ${infoOf(s.info).pid ?? '-'}`);
      break;
    }
    case 'create': {
      const [pod, name, image, ...command] = need(4, 'POD NAME IMAGE CMD...');
      // the kubelet sends the pod's config again with each container
      const podName = infoOf((await cri.podSandboxStatus(pod!)).info).config?.metadata?.name;
      if (!podName) fail(`pod ${pod} has no name in containerd's answer`);
      console.log(await cri.createContainer(pod!, { name: name!, image: image!, command }, podConfig(podName)));
      break;
    }
    case 'start':
      await cri.startContainer(need(1, 'ID')[0]!);
      break;
    case 'inspect': {
      const [id] = need(1, 'ID');
      const s = await cri.containerStatus(id!);
      const exit = s.state === ContainerState.EXITED ? ` exit code ${s.exitCode}` : '';
      console.log(`${s.name}: state ${stateName(ContainerState, s.state)} pid ${infoOf(s.info).pid ?? '-'}${exit}`);
      break;
    }
    case 'exec': {
      const [id, ...cmd] = need(2, 'ID CMD...');
      const r = await cri.execSync(id!, cmd);
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.exitCode;
      break;
    }
    case 'stop':
      await cri.stopContainer(need(1, 'ID')[0]!, 10);
      break;
    case 'rm':
      await cri.removeContainer(need(1, 'ID')[0]!);
      break;
    case 'stopp':
      await cri.stopPodSandbox(need(1, 'POD')[0]!);
      break;
    case 'rmp':
      await cri.removePodSandbox(need(1, 'POD')[0]!);
      break;
    default:
      fail(`unknown verb ${verb ?? '(none)'}: version, runp, inspectp, create, start, inspect, exec, stop, rm, stopp, rmp`);
  }
} catch (e) {
  fail((e as Error).message);
} finally {
  cri.close();
}
