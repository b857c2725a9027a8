/**
 * runts doctor: can this machine run containers and the book's labs?
 *
 * Each check reads what the kernel publishes (/proc, /sys, the mount table)
 * rather than trying an operation, so the doctor changes nothing and needs
 * no privilege beyond reading. A check says ok, warn (something optional is
 * missing: a later chapter or feature will not work) or missing (runts or
 * the labs cannot work), and for anything not ok, how to fix it on Debian.
 *
 * The book: docs/02-preparing-environment.md, "Checking the kernel".
 */
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { release } from 'node:os';
import { spawnSync } from 'node:child_process';
import { checkRootless } from './rootless.ts';

export type Status = 'ok' | 'warn' | 'missing';

export interface Check {
  name: string;
  status: Status;
  detail: string;
  /** What to do about it, when the status is not ok. */
  fix?: string;
}

/** Everything a check reads from the host, so the checks can be tested on recorded hosts. */
export interface Host {
  read(path: string): string | undefined;
  list(dir: string): string[] | undefined;
  kernelRelease(): string;
  uid(): number;
  which(cmd: string): string | undefined;
  isStaticElf(path: string): boolean | undefined;
  /** Mode and owner of a file, as stat(2) gives them. */
  stat(path: string): { mode: number; uid: number } | undefined;
  /** The file capabilities getcap(8) shows for a file, if any. */
  fileCaps(path: string): string | undefined;
}

export const realHost: Host = {
  read: (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
  list: (d) => {
    try {
      return readdirSync(d);
    } catch {
      return undefined;
    }
  },
  kernelRelease: () => release(),
  stat: (p) => {
    try {
      const st = statSync(p);
      return { mode: st.mode, uid: st.uid };
    } catch {
      return undefined;
    }
  },
  fileCaps: (p) => {
    const r = spawnSync('getcap', [p], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim().split(/\s+/).slice(1).join(' ') || undefined : undefined;
  },
  uid: () => process.getuid?.() ?? -1,
  which: (cmd) => {
    const dirs = (process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter);
    for (const d of [...dirs, '/usr/sbin', '/sbin']) {
      const p = join(d, cmd);
      try {
        if (statSync(p).isFile()) return p;
      } catch {
        /* next */
      }
    }
    return undefined;
  },
  isStaticElf: (p) => {
    // A dynamically linked ELF has a PT_INTERP program header naming its loader.
    let fd: number | undefined;
    try {
      fd = openSync(p, 'r');
      const head = Buffer.alloc(4096);
      readSync(fd, head, 0, 4096, 0);
      if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return undefined; // 64-bit ELF only
      const phoff = Number(head.readBigUInt64LE(0x20));
      const phentsize = head.readUInt16LE(0x36);
      const phnum = head.readUInt16LE(0x38);
      const ph = Buffer.alloc(phentsize * phnum);
      readSync(fd, ph, 0, ph.length, phoff);
      for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
      return true;
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  },
};

const NAMESPACES = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'];

export function checkKernel(h: Host): Check {
  const rel = h.kernelRelease();
  const [maj = 0, min = 0] = rel.split(/[.-]/).map(Number);
  // 5.10: openat2 (5.6), pidfd_open and clone3 (5.3), close_range (5.9), time namespaces (5.6)
  const ok = maj > 5 || (maj === 5 && min >= 10);
  return ok
    ? { name: 'kernel', status: 'ok', detail: `${rel} (5.10 or newer)` }
    : { name: 'kernel', status: 'missing', detail: `${rel}: older than 5.10`, fix: 'boot a newer kernel (Debian 12 ships 6.1: apt-get install linux-image-amd64)' };
}

export function checkRoot(h: Host): Check {
  return h.uid() === 0
    ? { name: 'root', status: 'ok', detail: 'running as root' }
    : { name: 'root', status: 'warn', detail: `running as uid ${h.uid()}: the labs and runts need root`, fix: 'run as root in the lab machine (sudo -i)' };
}

export function checkNamespaces(h: Host): Check {
  const have = new Set(h.list('/proc/self/ns') ?? []);
  const missing = NAMESPACES.filter((n) => !have.has(n));
  if (!missing.length) return { name: 'namespaces', status: 'ok', detail: NAMESPACES.join(' ') };
  const onlyTime = missing.length === 1 && missing[0] === 'time';
  return {
    name: 'namespaces',
    status: onlyTime ? 'warn' : 'missing',
    detail: `missing: ${missing.join(' ')}`,
    fix: 'a kernel built with CONFIG_NAMESPACES and every CONFIG_*_NS (Debian kernels have them all)',
  };
}

export function checkUserNamespaces(h: Host): Check {
  const max = Number(h.read('/proc/sys/user/max_user_namespaces')?.trim() ?? '0');
  if (!(max > 0)) {
    return { name: 'user namespaces', status: 'missing', detail: 'user.max_user_namespaces is 0', fix: 'sysctl -w user.max_user_namespaces=15000' };
  }
  const unpriv = h.read('/proc/sys/kernel/unprivileged_userns_clone')?.trim();
  if (unpriv === '0') {
    return {
      name: 'user namespaces',
      status: 'warn',
      detail: `up to ${max}, but only root may create them (kernel.unprivileged_userns_clone=0)`,
      fix: 'for rootless containers and labs: sysctl -w kernel.unprivileged_userns_clone=1',
    };
  }
  if (h.read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')?.trim() === '1') {
    return {
      name: 'user namespaces',
      status: 'warn',
      detail: `up to ${max}, but AppArmor keeps unprivileged users from using them (kernel.apparmor_restrict_unprivileged_userns=1)`,
      fix: 'for rootless containers: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile that allows userns for runts-init',
    };
  }
  return { name: 'user namespaces', status: 'ok', detail: `up to ${max} (user.max_user_namespaces)` };
}

interface CgroupMount {
  point: string;
  fs: string;
  options: string;
}

function cgroupMounts(h: Host): CgroupMount[] {
  return (h.read('/proc/self/mountinfo') ?? '')
    .split('\n')
    .map((l) => l.split(' '))
    .map((f) => ({ f, dash: f.indexOf('-', 6) }))
    .filter(({ dash }) => dash > 0)
    .map(({ f, dash }) => ({ point: f[4]!, fs: f[dash + 1]!, options: f[dash + 3] ?? '' }))
    .filter((m) => m.fs === 'cgroup' || m.fs === 'cgroup2');
}

/** cgroup v2 only, v1 only, or hybrid (v1 controllers plus an empty cgroup2 tree). */
export function checkCgroups(h: Host): Check[] {
  const mounts = cgroupMounts(h);
  const v2 = mounts.find((m) => m.fs === 'cgroup2');
  const v1 = mounts.filter((m) => m.fs === 'cgroup');
  if (v2 && !v1.length) {
    const ctrls = (h.read(join(v2.point, 'cgroup.controllers')) ?? '').trim();
    return [{ name: 'cgroups', status: 'ok', detail: `v2 (unified) at ${v2.point}; controllers: ${ctrls || 'none'}` }];
  }
  if (!v1.length) {
    return [{ name: 'cgroups', status: 'missing', detail: 'no cgroup filesystem is mounted', fix: 'mount -t cgroup2 none /sys/fs/cgroup' }];
  }
  const ctrls = v1
    .flatMap((m) => m.options.split(','))
    .filter((o) => /^(cpu|cpuacct|cpuset|memory|devices|freezer|blkio|pids|net_cls|net_prio|perf_event|hugetlb|rdma|misc)$/.test(o));
  const uniq = [...new Set(ctrls)].sort();
  const out: Check[] = [];
  if (v2) {
    const v2ctrls = (h.read(join(v2.point, 'cgroup.controllers')) ?? '').trim();
    out.push({
      name: 'cgroups',
      status: 'ok',
      detail: `hybrid: v1 controllers ${uniq.join(' ')}; cgroup2 at ${v2.point} with ${v2ctrls ? 'controllers ' + v2ctrls : 'no controllers'}`,
    });
    out.push({
      name: 'cgroup v2',
      status: 'warn',
      detail: 'a hybrid host: runts uses the v1 controllers here, as runc does; chapter 5 boots the lab VM for v2',
      fix: 'for v2 on this host: boot with systemd.unified_cgroup_hierarchy=1',
    });
  } else {
    out.push({ name: 'cgroups', status: 'ok', detail: `v1 only: controllers ${uniq.join(' ')}` });
  }
  for (const need of ['cpu', 'memory', 'pids']) {
    if (!uniq.includes(need)) out.push({ name: `cgroup ${need}`, status: 'warn', detail: `the ${need} controller is not mounted`, fix: `mount the ${need} hierarchy` });
  }
  return out;
}

export function checkOverlay(h: Host): Check {
  const fss = h.read('/proc/filesystems') ?? '';
  if (/\toverlay$/m.test(fss)) return { name: 'overlayfs', status: 'ok', detail: 'overlay in /proc/filesystems' };
  const mod = h.list(`/lib/modules/${h.kernelRelease()}/kernel/fs/overlayfs`);
  if (mod?.length) return { name: 'overlayfs', status: 'ok', detail: 'a module, loaded on first mount' };
  return { name: 'overlayfs', status: 'missing', detail: 'the kernel has no overlay filesystem', fix: 'modprobe overlay, or a kernel with CONFIG_OVERLAY_FS' };
}

export function checkSeccomp(h: Host): Check {
  const status = h.read('/proc/self/status') ?? '';
  if (!/^Seccomp:/m.test(status)) return { name: 'seccomp', status: 'missing', detail: 'the kernel has no seccomp', fix: 'a kernel with CONFIG_SECCOMP_FILTER' };
  const actions = (h.read('/proc/sys/kernel/seccomp/actions_avail') ?? '').trim();
  return { name: 'seccomp', status: 'ok', detail: `filters available; actions: ${actions || 'unknown'}` };
}

export function checkLsm(h: Host): Check {
  const lsm = h.read('/sys/kernel/security/lsm')?.trim();
  if (lsm === undefined) {
    return {
      name: 'lsm',
      status: 'warn',
      detail: 'no /sys/kernel/security/lsm: securityfs is not mounted or no LSM is active',
      fix: 'mount -t securityfs securityfs /sys/kernel/security; chapter 8 uses AppArmor (the lab VM has it)',
    };
  }
  const list = lsm.split(',').filter(Boolean);
  const mac = list.filter((l) => l === 'apparmor' || l === 'selinux' || l === 'smack');
  return mac.length
    ? { name: 'lsm', status: 'ok', detail: list.join(' ') }
    : { name: 'lsm', status: 'warn', detail: `${list.join(' ') || 'none'}: no AppArmor or SELinux`, fix: 'boot with apparmor=1 security=apparmor (chapter 8)' };
}

interface Tool {
  cmd: string;
  pkg: string;
  why: string;
  required: boolean;
}

/** The commands the book uses, with the Debian package that has each. */
export const TOOLS: Tool[] = [
  { cmd: 'unshare', pkg: 'util-linux', why: 'namespaces by hand (chapter 4)', required: true },
  { cmd: 'nsenter', pkg: 'util-linux', why: 'joining namespaces (chapter 4)', required: true },
  { cmd: 'ip', pkg: 'iproute2', why: 'network namespaces, veth (chapters 4, 7)', required: true },
  { cmd: 'cc', pkg: 'gcc', why: 'the C labs and runts-init', required: true },
  { cmd: 'make', pkg: 'make', why: 'building the labs', required: true },
  { cmd: 'busybox', pkg: 'busybox-static', why: 'the minimal root filesystem (chapter 3)', required: true },
  { cmd: 'debootstrap', pkg: 'debootstrap', why: 'a Debian root filesystem (chapter 3)', required: false },
  { cmd: 'qemu-system-x86_64', pkg: 'qemu-system-x86', why: 'the lab VM (chapters 2, 5)', required: false },
  { cmd: 'nft', pkg: 'nftables', why: 'NAT and port publishing (chapter 7)', required: false },
  { cmd: 'runc', pkg: 'runc', why: 'comparing runts with runc (chapter 9)', required: false },
];

export function checkTools(h: Host): Check[] {
  return TOOLS.map((t) => {
    const path = h.which(t.cmd);
    if (!path) {
      return { name: t.cmd, status: t.required ? 'missing' : 'warn', detail: `not found: ${t.why}`, fix: `apt-get install ${t.pkg}` };
    }
    if (t.cmd === 'busybox' && h.isStaticElf(path) === false) {
      return { name: t.cmd, status: 'warn', detail: `${path} is dynamically linked: it cannot run alone in a root filesystem`, fix: 'apt-get install busybox-static' };
    }
    return { name: t.cmd, status: 'ok', detail: path };
  });
}

export function checkLabVm(h: Host): Check {
  const kernels = (h.list('/boot') ?? []).filter((f) => f.startsWith('vmlinuz-'));
  return kernels.length
    ? { name: 'lab vm kernel', status: 'ok', detail: `/boot/${kernels.sort().at(-1)}` }
    : { name: 'lab vm kernel', status: 'warn', detail: 'no kernel in /boot for the lab VM', fix: 'apt-get install linux-image-amd64' };
}

/** `user`: whose rootless needs to check (default: the caller's). */
export function runChecks(h: Host = realHost, opts: { user?: string | undefined } = {}): Check[] {
  return [
    checkKernel(h),
    checkRoot(h),
    checkNamespaces(h),
    checkUserNamespaces(h),
    ...checkCgroups(h),
    checkOverlay(h),
    checkSeccomp(h),
    checkLsm(h),
    ...checkTools(h),
    checkLabVm(h),
    ...checkRootless(h, opts.user),
  ];
}

/** The report as text: one line per check, the fix indented below it. */
export function formatChecks(checks: Check[]): string {
  const label = { ok: 'ok', warn: 'warn', missing: 'MISSING' } as const;
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.flatMap((c) => {
    const line = `${label[c.status].padEnd(8)}${c.name.padEnd(width + 2)}${c.detail}`;
    return c.fix ? [line, `${' '.repeat(8 + width + 2)}fix: ${c.fix}`] : [line];
  });
  const missing = checks.filter((c) => c.status === 'missing').length;
  const warn = checks.filter((c) => c.status === 'warn').length;
  lines.push('', missing ? `${missing} missing, ${warn} warnings: fix the missing ones first` : `ready (${warn} warnings)`);
  return lines.join('\n');
}

