/**
 * config.json "mounts" -> executor steps, in config order.
 *
 * Policy decided here, on the host, before anything runs: whether a target is
 * created as a file or a directory (it follows the bind source), relative bind
 * sources (relative to the bundle), and the two mounts the kernel cannot do as
 * written: sysfs in a user namespace without its own network namespace (a
 * recursive bind of /sys instead, as runc does), and "cgroup", which becomes
 * cgroup2 or a tmpfs of v1 hierarchies depending on the host. An idmapped
 * mount (rootfs/idmap.ts), and a bind whose source a new user namespace
 * cannot reach (rootfs/userns-reach.ts), add a step PARENT runs before clone.
 * A tmpfs with "tmpcopyup" starts with a copy of the directory it covers,
 * and a tmpfs without "mode=" takes that directory's mode (runc's rule): INIT
 * holds the directory open, mounts the tmpfs, copies and/or takes the mode
 * (heldDirSteps).
 * Every step of a mount names it ("mounts[2]") in its errors.
 * What the host has (cgroup hierarchies, bind sources) comes from the host
 * probe, plan/host.ts.
 *
 * The book: docs/03-building-rootfs.md, docs/09-writing-runtime.md.
 */
import { isAbsolute, posix, resolve } from 'node:path';
import type { CgroupLayout, Hierarchy } from '../cgroups/layout.ts';
import { RuntsError } from '../errors.ts';
import type { Mount } from '../oci/types.ts';
import { steps, type Step } from '../protocol/steps.ts';
import { idMapText, mountAttributes, mountIdMaps, type IdMaps } from './idmap.ts';
import { MS, parseMountOptions, type ParsedMountOptions } from './mount-options.ts';
import { reachableInUserns, type DirOwner } from './userns-reach.ts';

/** What stat(2) said about a path the config names (the host probe asks: plan/host.ts). */
export type PathFact =
  | { kind: 'dir' | 'file' | 'other'; realpath?: string }
  | { kind: 'error'; code: string; errno: number; message: string };

export interface MountContext {
  bundle: string;
  newUserns: boolean;
  newNetns: boolean;
  newCgroupns: boolean;
  /** The container's cgroup directory on the host, in a hierarchy. */
  cgroupDir: (h: Hierarchy) => string;
  /** The host's cgroup hierarchies (a "cgroup" mount shows them). */
  layout: CgroupLayout;
  /** What the host probe found at each bind source (plan/host.ts). */
  paths: Record<string, PathFact>;
  /** The maps of the container's new user namespace, if it has one. */
  userMaps?: IdMaps | undefined;
  /** Free executor slots, for trees PARENT cuts from the host's side. */
  slots: number[];
  /** runts is root of the host: PARENT may clone a bind source the new user namespace cannot reach (rootfs/userns-reach.ts). */
  hostPrivileged?: boolean;
  /** Owner and mode of the directories above the mount sources (the host probe's, with a new user namespace). */
  dirOwners?: Record<string, DirOwner>;
}

/** PARENT's steps before clone (idmapped trees), then INIT's, in config order. */
export interface MountSteps {
  parent: Step[];
  init: Step[];
}

export function mountSteps(mounts: Mount[], ctx: MountContext): MountSteps {
  const parent: Step[] = [];
  const free = [...ctx.slots];
  // one slot serves every held directory in turn: each closes it before the next
  const copySlot = mounts.some(holdsCoveredDir) ? free.pop() : undefined;
  const init = mounts.flatMap((m, i) => {
    const where = `mounts[${i}]`;
    return mountStep(m, where, ctx, copySlot, (_, tree) => {
      const slot = free.shift();
      if (slot === undefined) throw new RuntsError('EINVAL_CONFIG', `${where}: more mounts cut from the host's side (idmapped, or out of the user namespace's reach) than runts supports (${ctx.slots.length - (copySlot === undefined ? 0 : 1)})`);
      parent.push({ ...tree(slot), where });
      return slot;
    }).map((s) => ({ ...s, where }));
  });
  return { parent, init };
}

/** PARENT's step that makes a detached tree in the slot it is given; returns the slot. */
type AddTree = (where: string, tree: (slot: number) => Step) => number;

function mountStep(m: Mount, where: string, ctx: MountContext, copySlot: number | undefined, addTree: AddTree): Step[] {
  const opts = parseMountOptions(m.options ?? [], where);
  const idmap = mountIdMaps(m, opts, where, ctx.userMaps);
  const isBind = m.type === 'bind' || (opts.flags & MS.BIND) !== 0;
  const target = posix.normalize(m.destination);
  if (opts.copyUp !== undefined) {
    // crun's rules: runc ignores the option on other types, which hides a typo
    const at = `${where}.options[${opts.copyUp}]`;
    if (m.type !== 'tmpfs' || isBind) throw new RuntsError('EINVAL_CONFIG', `${at}: "tmpcopyup" applies only to a tmpfs mount, and this one is ${isBind ? 'a bind mount' : `of type "${m.type ?? ''}"`}`, { path: at });
    if (target === '/') throw new RuntsError('EINVAL_CONFIG', `${at}: "tmpcopyup" cannot copy up the root: a tmpfs on "/" would cover the root it copies`, { path: at });
    if (copySlot === undefined) throw new RuntsError('EINTERNAL', `${where}: no executor slot for tmpcopyup`);
  }
  if (m.type === 'cgroup') return cgroupMountSteps(target, opts.flags, ctx);
  if (m.type === 'sysfs' && ctx.newUserns && !ctx.newNetns) {
    return [steps.mount({ source: '/sys', target, fstype: '', flags: (opts.flags | MS.BIND | MS.REC) & ~MS.REMOUNT, flagNames: opts.flagNames, data: '', create: 1, bind: true })];
  }
  // A read-only /dev is mounted writable, for the mounts, nodes and console
  // that go into it, and made read-only after them (devReadonlyStep), as runc.
  if (target === '/dev' && opts.flags & MS.RDONLY) {
    opts.flags &= ~MS.RDONLY;
    opts.flagNames = opts.flagNames.filter((n) => n !== 'ro');
  }
  let source = m.source ?? m.type ?? 'none';
  let create: 1 | 2 = 1;
  if (isBind) {
    source = isAbsolute(source) ? source : resolve(ctx.bundle, source);
    create = bindSourceIsDir(source, where, ctx.paths[source]) ? 1 : 2;
  }
  if (idmap) {
    if (!isBind) throw new RuntsError('EINVAL_CONFIG', `${where}: only a bind mount can be idmapped (type "${m.type ?? ''}" without "bind" or "rbind")`);
    const recursive = (opts.flags & MS.REC ? 1 : 0) | (opts.idmap === 'ridmap' ? 2 : 0);
    const slot = addTree(where, (slot) => steps.idmapTree({ slot, source, recursive, uidMap: idMapText(idmap.uid), gidMap: idMapText(idmap.gid), ...mountAttributes(opts.flags) }));
    return [steps.mountTree(slot, target, create), ...afterMountSteps(target, opts)];
  }
  if (isBind && ctx.userMaps && ctx.hostPrivileged && ctx.dirOwners && !reachableInUserns(source, ctx.userMaps, ctx.dirOwners)) {
    const slot = addTree(where, (slot) => steps.cloneTree({ slot, source, recursive: (opts.flags & MS.REC) !== 0, ...mountAttributes(opts.flags) }));
    return [steps.mountTree(slot, target, create), ...afterMountSteps(target, opts)];
  }
  if (holdsCoveredDir(m) && copySlot !== undefined) return [...heldDirSteps(target, opts, copySlot, source), ...afterMountSteps(target, opts)];
  const out = [
    steps.mount({
      source,
      target,
      fstype: isBind ? '' : (m.type ?? ''),
      flags: isBind ? opts.flags | MS.BIND : opts.flags & ~MS.BIND,
      flagNames: opts.flagNames,
      data: opts.data,
      // as runc: proc and sysfs only on an ordinary directory, never through a symlink
      create: !isBind && (m.type === 'proc' || m.type === 'sysfs') ? 3 : create,
      bind: isBind,
    }),
  ];
  return [...out, ...afterMountSteps(target, opts)];
}

/**
 * Whether INIT holds the directory a mount covers (native/steps_copyup.c):
 * to copy it ("tmpcopyup"), or to give a tmpfs without "mode=" its mode, as
 * runc gives every such tmpfs the mode of the directory it covers (a tmpfs on
 * /etc is not left the kernel's 1777).
 */
function holdsCoveredDir(m: Mount): boolean {
  const options = m.options ?? [];
  if (options.includes('tmpcopyup')) return true;
  return m.type === 'tmpfs' && !options.some((o) => o === 'bind' || o === 'rbind' || o.startsWith('mode='));
}

/**
 * The directory is held open before the tmpfs is mounted; after it, copied
 * into the tmpfs ("tmpcopyup") and/or its mode given to the tmpfs's root
 * (no mode= of the config's). A read-only tmpfs is mounted writable for
 * that and made read-only after, as runc does.
 */
function heldDirSteps(target: string, opts: ParsedMountOptions, slot: number, source: string): Step[] {
  const readonly = (opts.flags & MS.RDONLY) !== 0;
  const flags = opts.flags & ~MS.BIND & ~(readonly ? MS.RDONLY : 0);
  const flagNames = opts.flagNames.filter((n) => !readonly || n !== 'ro');
  const copy = opts.copyUp !== undefined;
  const out = [
    steps.holdDir(slot, target, copy),
    steps.mount({ source, target, fstype: 'tmpfs', flags, flagNames, data: opts.data, create: 1, bind: false }),
    steps.copyUp(slot, target, copy, !/(^|,)mode=/.test(opts.data)),
  ];
  if (readonly) {
    const ro = (opts.flags & ~(MS.REC | MS.BIND)) | MS.REMOUNT | MS.BIND;
    out.push(steps.mount({ source: '', target, fstype: '', flags: ro, flagNames: ['remount', ...opts.flagNames], data: '', create: 0, bind: false }));
  }
  return out;
}

/** What a mount takes once it is in place: propagation, then the recursive "r" options over its whole tree. */
function afterMountSteps(target: string, opts: ReturnType<typeof parseMountOptions>): Step[] {
  const out = opts.propagation.map((p) => steps.mountPropagation(target, p.flags, [p.name]));
  if (opts.recursive.names.length) out.push(steps.mountSetattr(target, opts.recursive.set, opts.recursive.clear, opts.recursive.names));
  return out;
}

/** The remount that makes a read-only /dev mount read-only, once everything is in it (see mountStep). */
export function devReadonlyStep(mounts: Mount[]): Step | undefined {
  const dev = mounts.find((m) => posix.normalize(m.destination) === '/dev');
  if (!dev) return undefined;
  const opts = parseMountOptions(dev.options ?? [], 'mounts[/dev]');
  if (!(opts.flags & MS.RDONLY)) return undefined;
  const flags = (opts.flags & ~MS.REC) | MS.REMOUNT | MS.BIND;
  return steps.mount({ source: '', target: '/dev', fstype: '', flags, flagNames: ['remount', ...opts.flagNames], data: '', create: 0, bind: false });
}

function bindSourceIsDir(source: string, where: string, fact: PathFact | undefined): boolean {
  if (!fact) throw new RuntsError('EINTERNAL', `${where}.source: ${source}: not probed (plan/host.ts)`);
  if (fact.kind === 'error') throw new RuntsError('EINVAL_CONFIG', `${where}.source: ${source}: ${fact.code === 'ENOENT' ? 'no such file or directory' : fact.message}`, { path: source, errno: fact.errno });
  return fact.kind === 'dir';
}

/**
 * With a cgroup namespace the kernel shows the container its own cgroup as
 * the root of a fresh cgroup mount; without one, or in a user namespace, the
 * container's cgroup directory is bind-mounted from the host so it still
 * sees only itself.
 */
function cgroupMountSteps(target: string, flags: number, ctx: MountContext): Step[] {
  const base = flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
  const names = flagNames(base);
  const { layout } = ctx;
  // From a user namespace, bound, never mounted: a v1 hierarchy cannot be
  // mounted there, and cgroup2 would land on the host's own mount when /sys
  // is the host's, bound (EBUSY). runc binds them too.
  const fresh = ctx.newCgroupns && !ctx.newUserns;
  if (layout.mode === 2) {
    const h = layout.hierarchies[0]!;
    return [fresh
      ? steps.mount({ source: 'cgroup2', target, fstype: 'cgroup2', flags: base, flagNames: names, data: '', create: 1, bind: false })
      : steps.mount({ source: ctx.cgroupDir(h), target, fstype: '', flags: base | MS.BIND, flagNames: names, data: '', create: 1, bind: true })];
  }
  // v1: a tmpfs holding one directory per hierarchy, made read-only at the end.
  const out: Step[] = [steps.mount({ source: 'tmpfs', target, fstype: 'tmpfs', flags: base & ~MS.RDONLY, flagNames: names.filter((n) => n !== 'ro'), data: 'mode=755', create: 1, bind: false })];
  for (const h of layout.hierarchies) {
    const name = h.version === 2 ? 'unified' : h.controllers.map((c) => c.replace(/^name=/, '')).join(',');
    const dir = posix.join(target, name);
    if (fresh) {
      const fstype = h.version === 2 ? 'cgroup2' : 'cgroup';
      const data = h.version === 2 ? '' : h.controllers.join(',');
      out.push(steps.mount({ source: 'cgroup', target: dir, fstype, flags: base, flagNames: names, data, create: 1, bind: false }));
    } else {
      out.push(steps.mount({ source: ctx.cgroupDir(h), target: dir, fstype: '', flags: base | MS.BIND, flagNames: names, data: '', create: 1, bind: true }));
    }
    // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct", as on the host.
    if (h.version === 1 && h.controllers.length > 1) {
      for (const c of h.controllers) if (!c.startsWith('name=')) out.push(steps.symlink(name, posix.join(target, c)));
    }
  }
  if (base & MS.RDONLY) out.push(steps.mount({ source: 'tmpfs', target, fstype: '', flags: MS.REMOUNT | MS.BIND | base, flagNames: ['remount', ...names], data: '', create: 0, bind: false }));
  return out;
}

function flagNames(flags: number): string[] {
  const names: [number, string][] = [[MS.RDONLY, 'ro'], [MS.NOSUID, 'nosuid'], [MS.NODEV, 'nodev'], [MS.NOEXEC, 'noexec'], [MS.RELATIME, 'relatime']];
  return names.filter(([bit]) => flags & bit).map(([, n]) => n);
}
