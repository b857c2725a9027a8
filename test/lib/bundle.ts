/*
 * bundle.ts - OCI bundles for tests: a busybox rootfs with the probe at /probe,
 * and a config.json that starts from what `runc spec` writes (terminal off,
 * args ["/probe"]) with a test's patch merged in.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeBinary, REPO } from './probe.ts';

/* ---- the subset of the runtime-spec the tests use ---- */

export interface OciUser { uid: number; gid: number; umask?: number; additionalGids?: number[] }
export interface OciCapabilities { bounding?: string[]; effective?: string[]; inheritable?: string[]; permitted?: string[]; ambient?: string[] }
export interface OciRlimit { type: string; soft: number; hard: number }
export interface OciProcess {
  terminal?: boolean;
  user: OciUser;
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
}
export interface OciMount { destination: string; type?: string; source?: string; options?: string[]; uidMappings?: OciIdMapping[]; gidMappings?: OciIdMapping[] }
export interface OciHook { path: string; args?: string[]; env?: string[]; timeout?: number }
export type HookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';
export interface OciNamespace { type: string; path?: string }
export interface OciIdMapping { containerID: number; hostID: number; size: number }
export interface OciDevice { type: string; path: string; major?: number; minor?: number; fileMode?: number; uid?: number; gid?: number }
export interface OciDeviceRule { allow: boolean; type?: string; major?: number; minor?: number; access?: string }
export interface OciLinux {
  namespaces?: OciNamespace[];
  uidMappings?: OciIdMapping[];
  gidMappings?: OciIdMapping[];
  devices?: OciDevice[];
  resources?: { devices?: OciDeviceRule[]; [k: string]: unknown };
  cgroupsPath?: string;
  sysctl?: Record<string, string>;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
  seccomp?: unknown;
  [k: string]: unknown;
}
export interface OciSpec {
  ociVersion: string;
  process?: OciProcess;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  domainname?: string;
  mounts?: OciMount[];
  hooks?: Partial<Record<HookKind, OciHook[]>>;
  annotations?: Record<string, string>;
  linux?: OciLinux;
  [k: string]: unknown;
}

/* Objects merge key by key; arrays and scalars replace; null deletes the key. */
export type DeepPatch<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPatch<T[K]> | null } : T;
/* A patch object, a function that edits a copy, or a list applied in order. */
export type ConfigPatch = DeepPatch<OciSpec> | ((spec: OciSpec) => void) | ConfigPatch[];

export function deepMerge<T>(base: T, patch: unknown): T {
  if (patch === undefined) return base;
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch) as T;
  const out: Record<string, unknown> =
    base && typeof base === 'object' && !Array.isArray(base) ? { ...(base as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = deepMerge(out[k], v);
  }
  return out as T;
}

export function applyPatch(spec: OciSpec, patch?: ConfigPatch): OciSpec {
  if (!patch) return spec;
  if (Array.isArray(patch)) return patch.reduce<OciSpec>((s, p) => applyPatch(s, p), spec);
  if (typeof patch === 'function') {
    const copy = structuredClone(spec);
    patch(copy);
    return copy;
  }
  return deepMerge(spec, patch);
}

/* `runc spec` (runc 1.1.5) with terminal false and args ["/probe"]. */
export function baseConfig(): OciSpec {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/probe'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps], ambient: [...caps] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runts',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/* Convenience patches that read better in tests than literal objects. */
export function withArgs(...args: string[]): (s: OciSpec) => void {
  return (s) => { s.process!.args = ['/probe', ...args]; };
}
export function addMounts(...mounts: OciMount[]): (s: OciSpec) => void {
  return (s) => { s.mounts = [...(s.mounts ?? []), ...mounts]; };
}
export function setNamespaces(...types: string[]): (s: OciSpec) => void {
  return (s) => { s.linux!.namespaces = types.map((type) => ({ type })); };
}
/* ---- rootfs ---- */

let applets: string[] | undefined;

function busyboxApplets(busybox: string): string[] {
  if (!applets) {
    const r = spawnSync(busybox, ['--list'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${busybox} --list failed: ${r.stderr}`);
    applets = r.stdout.split('\n').map((a) => a.trim()).filter((a) => a && a !== 'busybox');
  }
  return applets;
}

/*
 * A minimal rootfs: static busybox with its applets as symlinks in /bin, the
 * probe at /probe, /etc/passwd and /etc/group. Prefers the host's
 * busybox-static; falls back to the build's dist/images/busybox/rootfs.
 * Everything is world-readable so user-namespaced containers can use it.
 */
export function populateRootfs(rootfs: string): void {
  const distRootfs = join(REPO, 'dist/images/busybox/rootfs');
  if (existsSync('/bin/busybox')) {
    for (const d of ['bin', 'dev', 'etc', 'home', 'mnt', 'proc', 'root', 'run', 'sbin', 'sys', 'tmp', 'usr/bin', 'var']) {
      mkdirSync(join(rootfs, d), { recursive: true, mode: 0o755 });
    }
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    for (const a of busyboxApplets('/bin/busybox')) symlinkSync('busybox', join(rootfs, 'bin', a));
  } else if (existsSync(distRootfs)) {
    cpSync(distRootfs, rootfs, { recursive: true, verbatimSymlinks: true });
  } else {
    throw new Error('no busybox: install busybox-static or run `npm run build` (dist/images/busybox/rootfs)');
  }
  writeFileSync(join(rootfs, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:tester:/home/tester:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\ntty:x:5:\ntester:x:1000:\nnogroup:x:65534:\n');
  copyFileSync(probeBinary(), join(rootfs, 'probe'));
  chmodSync(join(rootfs, 'probe'), 0o755);
}

export interface Bundle {
  dir: string;
  rootfs: string;
  configPath: string;
  config: OciSpec;
}

export interface BundleOptions {
  /* change the rootfs before the config is written, e.g. plant a symlink */
  prepareRootfs?: (rootfs: string) => void;
}

/* dir must not exist yet. */
export function makeBundle(dir: string, patch?: ConfigPatch, opts: BundleOptions = {}): Bundle {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs, { mode: 0o755 });
  populateRootfs(rootfs);
  opts.prepareRootfs?.(rootfs);
  const config = applyPatch(baseConfig(), patch);
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return { dir, rootfs, configPath, config };
}

/* Rewrite config.json after a test changed bundle.config in place. */
export function saveConfig(bundle: Bundle): void {
  writeFileSync(bundle.configPath, JSON.stringify(bundle.config, null, 2));
}
