/**
 * seeds.ts - the seed corpora of the fuzz targets, made fresh on every run
 * from the real producers, so they always speak the current formats:
 *
 *   plan-decoder/  plans runts would send to runts-init: compilePlan() and
 *              compileExecPlan() of a few configs, encoded by encodePlan();
 *              and plans at the edges of the wire format, written by hand
 *   config/    config.json documents: `runts spec`, its rootless form, one
 *              with most sections of the runtime-spec in use
 *   tar/       archives written by GNU tar (gnu, ustar, pax, v7 formats,
 *              long names, links, a PAX xattr) and by runts's own TarWriter
 *   manifest/  registry answers: OCI and Docker manifests and indexes
 *
 *   node test/fuzz/seeds.ts DIR     writes DIR/<target>/<name> files
 *
 * run.ts calls makeSeeds(); the committed inputs that once broke a target
 * live in regressions/<target>/ and are added to its seeds.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { MEDIA } from '../../src/image/archive.ts';
import { TarWriter } from '../../src/image/tar.ts';
import { defaultSpec, toRootless } from '../../src/oci/spec.ts';
import { validateSpec } from '../../src/oci/validate.ts';
import { compileExecPlan } from '../../src/plan/compile-exec.ts';
import type { Spec } from '../../src/oci/types.ts';
import { compile, type PlanContext } from '../../src/plan/compile.ts';
import { probePaths } from '../../src/plan/host.ts';
import { fakeHost } from '../lib/fake-host.ts';
import { encodePlan } from '../../src/protocol/encode.ts';
import { RUNTS_PLAN_MAGIC, RUNTS_PROTOCOL_VERSION, STEP, VAL } from '../../src/protocol/protocol.ts';
import { defaultSeccompProfile } from '../../src/security/seccomp/default-profile.ts';

export const TARGETS = ['plan-decoder', 'config', 'tar', 'manifest'] as const;
export type Target = (typeof TARGETS)[number];

/** A config as an engine writes one, with most sections of the runtime-spec in use. */
export function fullConfig(): Record<string, unknown> {
  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SYS_CHROOT'];
  const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
  return {
    ociVersion: '1.2.0',
    process: {
      terminal: false, consoleSize: { height: 24, width: 80 },
      user: { uid: 1000, gid: 1000, umask: 18, additionalGids: [1000, 10] },
      args: ['/usr/sbin/httpd', '-f', '-p', '8080'], env: ['PATH=/usr/bin:/bin', 'HOME=/root', 'EMPTY='], cwd: '/srv',
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: ['CAP_NET_BIND_SERVICE'] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 1024 }, { type: 'RLIMIT_CORE', hard: 0, soft: 0 }],
      noNewPrivileges: true, apparmorProfile: 'runts-default', oomScoreAdj: 100,
      scheduler: { policy: 'SCHED_OTHER', nice: 5 }, ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 4 },
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'web', domainname: 'example.org',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/etc/hosts', type: 'bind', source: '/etc/hosts', options: ['rbind', 'ro'] },
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'idmap'], uidMappings: map, gidMappings: map },
    ],
    hooks: {
      prestart: [{ path: '/usr/bin/netns-hook', args: ['netns-hook', 'up'], env: ['A=1'], timeout: 10 }],
      createRuntime: [{ path: '/usr/libexec/hook' }], poststop: [{ path: '/usr/bin/cleanup' }],
    },
    annotations: { 'org.opencontainers.image.ref.name': 'web' },
    linux: {
      uidMappings: map, gidMappings: map,
      sysctl: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' },
      resources: {
        devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }],
        memory: { limit: 536870912, reservation: 268435456, swap: -1, swappiness: 0 },
        cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
        pids: { limit: 4096 },
        blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 600 }] },
        hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
        unified: { 'memory.high': '500000000' },
      },
      cgroupsPath: '/runts/web',
      namespaces: [{ type: 'pid' }, { type: 'network', path: '/run/netns/web' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }, { type: 'user' }],
      devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 }],
      seccomp: {
        defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
        flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
        syscalls: [
          { names: ['read', 'write', 'exit_group'], action: 'SCMP_ACT_ALLOW' },
          { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
          { names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
        ],
      },
      rootfsPropagation: 'rslave',
      maskedPaths: ['/proc/kcore', '/sys/firmware'], readonlyPaths: ['/proc/sys'],
      personality: { domain: 'LINUX' },
    },
  };
}

function configSeeds(): Record<string, string> {
  const spec = defaultSpec();
  return {
    'runts-spec.json': JSON.stringify(spec, null, 2),
    'rootless.json': JSON.stringify(toRootless(spec, { uid: 1000, gid: 1000 })),
    'full.json': JSON.stringify(fullConfig()),
    'minimal.json': '{"ociVersion":"1.2.0","root":{"path":"rootfs"}}',
    // an int64 past 2^53 and RLIM_INFINITY: the reviver's exact path
    'int64.json': JSON.stringify(spec).replace('"rlimits":[', '"rlimits":[{"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":18446744073709551615},')
      .replace('"resources":{', '"resources":{"memory":{"limit":9223372036854775807},'),
  };
}

function planSeeds(): Record<string, Buffer> {
  const bundle = mkdtempSync(join(tmpdir(), 'runts-fuzz-bundle-'));
  mkdirSync(join(bundle, 'rootfs'));
  try {
    const ctx: PlanContext = {
      id: 'fuzz', bundle, stateDir: '/run/runts/fuzz', fifoPath: '/run/runts/fuzz/exec.fifo', warn: () => {},
    };
    // a made-up cgroup v2 host with AppArmor; the bundle's paths are real.
    // The limits are runts's own writes, not executor steps: left out, so
    // v1-only values of the full config do not stop its plan.
    const compilePlan = (s: Spec, c: PlanContext) => {
      const noLimits = { ...s, linux: { ...s.linux, resources: { devices: s.linux?.resources?.devices } } };
      return compile(noLimits, fakeHost('v2', { lsms: { apparmor: true, selinux: false }, paths: probePaths(s, bundle) }), c).steps;
    };
    const tty = defaultSpec();
    const spec = { ...tty, process: { ...tty.process!, terminal: false } };
    const seccomp = { ...spec, linux: { ...spec.linux, seccomp: defaultSeccompProfile(['CAP_KILL']) } };
    const full = validateSpec({ ...fullConfig(), root: { path: 'rootfs' } });
    const out: Record<string, Buffer> = {
      'create.plan': encodePlan(compilePlan(spec, ctx)),
      'rootless.plan': encodePlan(compilePlan(toRootless(spec, { uid: 1000, gid: 1000 }), ctx)),
      'run-terminal.plan': encodePlan(compilePlan(tty, { ...ctx, supervise: true, exitFile: '/run/runts/fuzz/exit' })),
      'console-socket.plan': encodePlan(compilePlan(tty, { ...ctx, consoleSocket: '/tmp/console.sock', noPivot: true })),
      'seccomp.plan': encodePlan(compilePlan(seccomp, ctx)),
      'exec.plan': encodePlan(compileExecPlan({ ...spec.process!, terminal: false }, { join: ['user', 'net', 'pid', 'cgroup', 'mnt'], capabilities: 0xffn, arch: 'SCMP_ARCH_X86_64' }, { id: 'fuzz', pid: 4242, cgroupProcs: ['/sys/fs/cgroup/runts/fuzz/cgroup.procs'], supervise: true, pidfdSocket: '/run/fuzz/pidfd.sock', warn: () => {} })),
    };
    // the idmapped mount's source must exist: the bundle stands in for it
    out['full.plan'] = encodePlan(compilePlan({ ...full, mounts: full.mounts!.map((m) => (m.options?.includes('idmap') ? { ...m, source: bundle } : m)) }, ctx));
    return out;
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
}

/**
 * Plans at the edges of the wire format, written byte by byte: counts that
 * promise more than the message holds, a NUL inside a text string (allowed
 * in a raw one), a slot out of range, a payload longer than its values,
 * bytes after the last step. The decoder must refuse each, whole.
 */
function planEdges(): Record<string, Buffer> {
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
  const int = (n: bigint) => { const b = Buffer.alloc(9); b[0] = VAL.VAL_INT; b.writeBigUInt64LE(n, 1); return b; };
  const str = (s: string | Buffer, len?: number) => { const b = Buffer.from(s); return Buffer.concat([Buffer.of(VAL.VAL_STR), u32(len ?? b.length), b]); };
  const step = (op: number, ...values: Buffer[]) => { const p = Buffer.concat(values); return Buffer.concat([u32(op), u32(p.length), p]); };
  const plan = (steps: Buffer[], count = steps.length) => Buffer.concat([u32(RUNTS_PLAN_MAGIC), u32(RUNTS_PROTOCOL_VERSION), u32(count), u32(0), ...steps]);
  const clone = step(STEP.STEP_CLONE, int(0x20000000n));
  return {
    'edge-minimal.plan': plan([clone]),
    'edge-count.plan': plan([clone], 0xffffffff),
    'edge-strs-count.plan': plan([clone, step(STEP.STEP_PREPARE_EXEC, Buffer.concat([Buffer.of(VAL.VAL_STRS), u32(0x7fffffff), u32(2), Buffer.from('sh')]))]),
    'edge-ints-count.plan': plan([clone, step(STEP.STEP_SET_USER, int(0n), int(0n), Buffer.concat([Buffer.of(VAL.VAL_INTS), u32(0x20000000), Buffer.alloc(8)]))]),
    'edge-str-length.plan': plan([clone, step(STEP.STEP_SET_HOSTNAME, str('box', 0xffffffff))]),
    'edge-nul-text.plan': plan([clone, step(STEP.STEP_SET_HOSTNAME, str('b\0x'))]),
    'edge-nul-raw.plan': plan([clone, step(STEP.STEP_SECCOMP, str(Buffer.from([0, 1, 0, 2])), int(0n))]),
    'edge-slot.plan': plan([clone, step(STEP.STEP_WAIT_START, int(8n))]),
    'edge-payload.plan': plan([clone, step(STEP.STEP_SETSID, int(1n))]),
    'edge-trailing.plan': Buffer.concat([plan([clone]), Buffer.from('x')]),
    'edge-order.plan': plan([step(STEP.STEP_EXEC), clone]),
    'edge-clone-flags.plan': plan([step(STEP.STEP_CLONE, int(0x100n))]),
  };
}

const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

function manifestSeeds(): Record<string, string> {
  const layer = (n: string, media = MEDIA.ociLayerGzip) => ({ mediaType: media, digest: digestOf(n), size: 1024 + n.length });
  const image = (media: string, config: string, layers: unknown[]) => JSON.stringify({ schemaVersion: 2, mediaType: media, config: { mediaType: config, digest: digestOf('config'), size: 1469 }, layers });
  const index = (media: string | undefined, entryMedia: string) => JSON.stringify({
    schemaVersion: 2, ...(media ? { mediaType: media } : {}),
    manifests: [
      { mediaType: entryMedia, digest: digestOf('amd64'), size: 528, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: entryMedia, digest: digestOf('arm64'), size: 528, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      { mediaType: entryMedia, digest: digestOf('windows'), size: 528, platform: { architecture: 'amd64', os: 'windows', 'os.version': '10.0.17763.1' } },
    ],
    annotations: { 'org.opencontainers.image.ref.name': 'latest' },
  });
  return {
    'oci-manifest.json': image(MEDIA.ociManifest, MEDIA.ociConfig, [layer('a'), layer('b')]),
    'docker-manifest.json': image(MEDIA.dockerManifest, 'application/vnd.docker.container.image.v1+json', [layer('a', 'application/vnd.docker.image.rootfs.diff.tar.gzip')]),
    'no-media-type.json': JSON.stringify({ schemaVersion: 2, config: { digest: digestOf('config'), size: 2 }, layers: [] }),
    'oci-index.json': index(MEDIA.ociIndex, MEDIA.ociManifest),
    'docker-list.json': index(MEDIA.dockerList, MEDIA.dockerManifest),
    'bare-index.json': index(undefined, MEDIA.ociManifest),
    'attestation-index.json': JSON.stringify({
      schemaVersion: 2, mediaType: MEDIA.ociIndex,
      manifests: [
        { mediaType: MEDIA.ociManifest, digest: digestOf('amd64'), size: 528, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: MEDIA.ociManifest, digest: digestOf('att'), size: 840, platform: { architecture: 'unknown', os: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
      ],
    }),
    'single-index.json': JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [{ mediaType: MEDIA.ociManifest, digest: digestOf('only'), size: 400 }] }),
    'schema1.json': JSON.stringify({ schemaVersion: 1, name: 'library/busybox', tag: 'latest', architecture: 'amd64', fsLayers: [{ blobSum: digestOf('a') }] }),
  };
}

/** Archives written by GNU tar in each of its formats, and by runts's TarWriter. */
async function tarSeeds(): Promise<Record<string, Buffer>> {
  const dir = mkdtempSync(join(tmpdir(), 'runts-fuzz-tar-'));
  try {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc/motd'), 'hello from a layer\n');
    writeFileSync(join(tree, 'etc/empty'), '');
    writeFileSync(join(tree, 'etc/.wh.gone'), '');
    mkdirSync(join(tree, 'opq'));
    writeFileSync(join(tree, 'opq/.wh..wh..opq'), '');
    linkSync(join(tree, 'etc/motd'), join(tree, 'etc/motd.hard'));
    symlinkSync('../etc/motd', join(tree, 'opq/link'));
    const deep = join(tree, 'a'.repeat(60), 'b'.repeat(60));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'c'.repeat(40)), 'deep\n');
    chmodSync(join(tree, 'etc/motd'), 0o640);
    const out: Record<string, Buffer> = {};
    const tar = (name: string, ...args: string[]) => {
      // -b 1: 512-byte records, so an archive is as small as its entries
      const r = spawnSync('tar', ['-C', tree, '-b', '1', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@1700000000', '--sort=name', ...args, '-cf', '-', '.']);
      if (r.status === 0) out[name] = r.stdout;
    };
    tar('gnu.tar', '--format=gnu');
    tar('pax.tar', '--format=pax', '--pax-option=SCHILY.xattr.user.runts=fuzz,LIBARCHIVE.xattr.user.b64=eA==,comment=seed');
    tar('ustar.tar', '--format=ustar', '--exclude', './a*');
    tar('v7.tar', '--format=v7', '--exclude', './a*');
    tar('posix-global.tar', '--format=posix', '--pax-option=globexthdr.name=g,uname:=runts,mtime:=1700000000.5');
    const sink = new PassThrough();
    const collected = buffer(sink);
    const w = new TarWriter(sink);
    const base = { mode: 0o644, uid: 0, gid: 0, mtime: new Date(1700000000000), uname: 'root', gname: 'root', devmajor: 0, devminor: 0, linkname: '', xattrs: new Map<string, Buffer>() };
    await w.add({ ...base, name: 'dir/', type: 'directory', mode: 0o755, size: 0 });
    await w.add({ ...base, name: 'dir/file', type: 'file', size: 5 }, Buffer.from('body\n'));
    await w.add({ ...base, name: 'dev/null', type: 'char', size: 0, devmajor: 1, devminor: 3 });
    await w.add({ ...base, name: 'x'.repeat(150), type: 'symlink', size: 0, linkname: 'y'.repeat(120), uid: 3000000, xattrs: new Map([['user.k', Buffer.from([0, 1, 2])]]) });
    await w.finish();
    out['runts-writer.tar'] = await collected;
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the seeds of every target under dir/<target>/; returns how many each has. */
export async function makeSeeds(dir: string): Promise<Record<Target, number>> {
  const all: Record<Target, Record<string, string | Buffer>> = {
    'plan-decoder': { ...planSeeds(), ...planEdges() }, config: configSeeds(), tar: await tarSeeds(), manifest: manifestSeeds(),
  };
  const counts = {} as Record<Target, number>;
  for (const target of TARGETS) {
    mkdirSync(join(dir, target), { recursive: true });
    for (const [name, data] of Object.entries(all[target])) writeFileSync(join(dir, target, name), data);
    counts[target] = Object.keys(all[target]).length;
  }
  return counts;
}

if (import.meta.main) {
  const dir = process.argv[2];
  if (!dir) { console.error('usage: node test/fuzz/seeds.ts DIR'); process.exit(2); }
  console.log(JSON.stringify(await makeSeeds(dir)));
}
