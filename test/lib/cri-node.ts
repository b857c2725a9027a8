/*
 * cri-node.ts - a Kubernetes node without the kubelet: a private containerd
 * with its cri plugin, CNI, a pause image and two runtime handlers, `runc`
 * and `runts` (the runc v2 shim, its BinaryName bin/runts). The CRI test
 * (test/integration/cri.test.ts) and the pod start benchmark
 * (bench/cri-pod-start.ts) play kubelet against it with test/lib/cri.ts.
 *
 * Everything is the node's own, named after its prefix: root, state, socket,
 * CRI streaming port (0: any free one), runtime state roots, a CNI
 * configuration directory with a bridge and subnet, IPAM leases, a cgroup
 * parent. The sandbox (pause) image is built from a few lines of C; the
 * container image is the project's busybox rootfs. Both are imported into
 * containerd's k8s.io namespace as OCI archives. stop() takes it all down
 * and says what it could not.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxLayer, sha } from '../integration/image-fixtures.ts';
import { cgroupDirsMatching, removeCgroupTree, safeRemove } from './cleanup.ts';
import { CriClient } from './cri.ts';
import { startDaemon, type Daemon } from './engine.ts';
import { mountsUnder, waitFor } from './host.ts';
import { RUNTS_BIN } from './runtime.ts';

export const CNI_PLUGINS = '/usr/lib/cni';
export const K8S_NS = 'k8s.io'; // the containerd namespace of the cri plugin
export const HANDLERS = ['runc', 'runts'] as const;
export type Handler = (typeof HANDLERS)[number];

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

export function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: exit ${r.status} ${r.signal ?? ''}\n${r.stderr}${r.error ?? ''}`);
  return r.stdout;
}

export class CriNode {
  readonly base: string;
  readonly prefix: string;
  readonly socket: string;
  readonly runtimeRoot: Record<Handler, string>;
  readonly subnet: string;
  readonly bridge: string;
  readonly cniNet: string;
  readonly cgroupParent: string;
  readonly pauseImage: string;
  readonly busyboxImage: string;
  /** Network namespaces of the pods, for the check that they are gone. */
  readonly netnsPaths: string[] = [];
  // libcni's cache of results (containerd 1.6 has no setting for it): what of it the node made is removed at the end
  private readonly cniCache = ['/var/lib/cni/results', '/var/lib/cni'].filter((d) => !existsSync(d));
  private daemon?: Daemon;
  private client?: CriClient;

  /** base: the node's directory; prefix: names its bridge, images and cgroups; octet: its subnet 10.234.<octet>.0/24. */
  constructor(base: string, prefix: string, octet: number) {
    this.base = base;
    this.prefix = prefix;
    this.socket = join(base, 'containerd.sock');
    this.runtimeRoot = { runc: join(base, 'runc'), runts: join(base, 'runts') };
    this.subnet = `10.234.${octet}.0/24`;
    this.bridge = `${prefix}k`;
    this.cniNet = `${prefix}-cri`;
    this.cgroupParent = `/${prefix}-cri`;
    this.pauseImage = `localhost/${prefix}/pause:1`;
    this.busyboxImage = `localhost/${prefix}/busybox:1`;
  }

  get cri(): CriClient {
    assert.ok(this.client, 'the CRI node is not started');
    return this.client;
  }

  log(): string {
    return this.daemon?.log() ?? '';
  }

  async start(): Promise<void> {
    mkdirSync(join(this.base, 'net.d'), { recursive: true });
    writeFileSync(join(this.base, 'net.d', '10-cri.conflist'), JSON.stringify({
      cniVersion: '1.0.0', name: this.cniNet,
      plugins: [{ type: 'bridge', bridge: this.bridge, ipam: { type: 'host-local', ranges: [[{ subnet: this.subnet }]], dataDir: join(this.base, 'ipam') } }],
    }));
    writeFileSync(join(this.base, 'config.toml'), this.containerdConfig());
    // the archives are made while containerd starts
    this.daemon = startDaemon('containerd', ['--config', join(this.base, 'config.toml'), '--root', join(this.base, 'root'), '--state', join(this.base, 'state'), '--address', this.socket], join(this.base, 'containerd.log'));
    const pause = this.imageArchive(this.pauseImage, this.pauseLayer(), ['/pause']);
    const busybox = this.imageArchive(this.busyboxImage, busyboxLayer(), ['sh']);
    const cri = this.client = new CriClient(this.socket);
    await waitFor(async () => cri.version().then(() => true, () => false), () => `containerd's CRI to answer on ${this.socket}: ${this.log().slice(-3000)}`, 30_000);
    this.ctr('images', 'import', pause);
    this.ctr('images', 'import', busybox);
    // the cri plugin learns of imported images from containerd's events
    await waitFor(async () => (await cri.imageStatus(this.pauseImage)) && (await cri.imageStatus(this.busyboxImage)), 'the cri plugin to see both images');
  }

  /* Stop and remove every pod, stop containerd, wait for the shims, remove what the node made; returns what went wrong. */
  async stop(): Promise<string[]> {
    const errors: string[] = [];
    if (!this.daemon) return errors;
    const cri = this.client!;
    try {
      for (const id of await cri.listPodSandboxIds().catch(() => [])) {
        await cri.stopPodSandbox(id).catch((e: Error) => errors.push(e.message));
        await cri.removePodSandbox(id).catch((e: Error) => errors.push(e.message));
      }
    } finally {
      cri.close();
      await this.daemon.stop();
    }
    // shims outlive a stopped containerd by design: ours must be gone with their pods
    await waitFor(() => this.shims().length === 0, `the containerd shims of ${this.base} to exit`).catch((e: Error) => {
      errors.push(e.message);
      for (const pid of this.shims()) process.kill(pid, 'SIGKILL');
    });
    spawnSync('ip', ['link', 'delete', this.bridge], { stdio: 'ignore' });
    for (const p of this.netnsPaths) if (existsSync(p)) { errors.push(`netns ${p} left`); spawnSync('umount', [p]); spawnSync('rm', ['-f', p]); }
    for (const cg of cgroupDirsMatching(`${this.prefix}-cri`)) removeCgroupTree(cg);
    const leftMounts = mountsUnder(this.base).map((m) => m.mountPoint);
    if (leftMounts.length) errors.push(`mounts left: ${leftMounts.join(' ')}`);
    safeRemove(this.base);
    for (const dir of this.cniCache) spawnSync('rmdir', [dir], { stdio: 'ignore' }); // only if empty: a result left is a leak for the suite's check
    return errors;
  }

  /* The pids of the shims serving this node's containerd. */
  shims(): number[] {
    const found: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
        if (cmd.startsWith('/usr/bin/containerd-shim') && cmd.includes(this.socket)) found.push(Number(name));
      } catch {
        /* gone */
      }
    }
    return found;
  }

  ctr(...args: string[]): string {
    return run('ctr', ['--address', this.socket, '--namespace', K8S_NS, ...args]);
  }

  /* An OCI archive of one image (one uncompressed layer), named for containerd's importer (io.containerd.image.name). */
  private imageArchive(name: string, layer: Buffer, cmd: string[]): string {
    const dir = join(this.base, `image-${name.split('/').at(-1)!.replace(/[^a-z0-9]/g, '-')}`);
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
  private pauseLayer(): Buffer {
    const dir = join(this.base, 'pause-rootfs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(this.base, 'pause.c'), PAUSE_C);
    run('cc', ['-static', '-O2', '-o', join(dir, 'pause'), join(this.base, 'pause.c')]);
    return execFileSync('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.'], { maxBuffer: 1 << 26 });
  }

  private containerdConfig(): string {
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    return `version = 2
[debug]
  address = ""
[metrics]
  address = ""
[${cri}]
  sandbox_image = "${this.pauseImage}"
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
  Root = "${this.runtimeRoot.runc}"
[${cri}.containerd.runtimes.runts]
  runtime_type = "io.containerd.runc.v2"
[${cri}.containerd.runtimes.runts.options]
  BinaryName = "${RUNTS_BIN}"
  Root = "${this.runtimeRoot.runts}"
  SystemdCgroup = false
[${cri}.cni]
  bin_dir = "${CNI_PLUGINS}"
  conf_dir = "${join(this.base, 'net.d')}"
  max_conf_num = 1
`;
  }
}
