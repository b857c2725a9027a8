/**
 * The container's cgroups, as part of the plan: where they go (one
 * directory per hierarchy, or a delegated one when rootless), the limits as
 * file writes, the controllers to enable on cgroup v2, and the device rules:
 * on v1 written to devices.deny and devices.allow, on v2 compiled to an
 * eBPF program that the executor attaches first of all its steps (loading
 * one is a system call Node cannot make).
 *
 * runts itself makes the directories and writes the limits, before the
 * executor starts (runtime/create.ts); the executor moves INIT in.
 *
 * The book: docs/05-cgroups.md, "What runts does". Design:
 * docs/design/runtime-core.md, "One probe, one pure compiler".
 */
import { join } from 'node:path';
import type { Spec } from '../oci/types.ts';
import { deviceFilterStep } from '../cgroups/device-bpf.ts';
import { deviceRules, type DeviceRule } from '../cgroups/device-rules.ts';
import { cgroupDriver, writeDir } from '../cgroups/driver.ts';
import type { Hierarchy } from '../cgroups/layout.ts';
import { cgroupPlacement } from '../cgroups/placement.ts';
import { unsupportedResource, type CgroupWrite } from '../cgroups/writes.ts';
import type { HostFacts } from './host.ts';
import type { Step } from '../protocol/steps.ts';

export interface CgroupPlan {
  version: 1 | 2;
  /** The directories runts makes (none: the container stays in the caller's cgroup, as `note` says). */
  dirs: string[];
  /** The cgroup INIT ends up in, per hierarchy. */
  dirOf: (h: Hierarchy) => string;
  /** cgroup v2: enabled in cgroup.subtree_control from `top` (the hierarchy's root, or the delegated directory) down. */
  top?: string;
  controllers: string[];
  /** The limits, in order, each with the file it goes to. */
  writes: (CgroupWrite & { path: string })[];
  /** cgroup v2: the rules of the device program (on v1 they are among the writes). */
  deviceRules?: DeviceRule[];
  /** The executor's steps for the cgroup, first in its plan: v2's device program. */
  steps: Step[];
  /** Why the container has no cgroup of its own, when it has none. */
  note?: string;
}

export function compileCgroup(spec: Spec, host: HostFacts, ctx: { id: string; warn: (msg: string) => void }): CgroupPlan {
  const { layout } = host.cgroup;
  const resources = spec.linux?.resources;
  const driver = cgroupDriver(layout);
  const placement = cgroupPlacement({
    layout,
    id: ctx.id,
    cgroupsPath: spec.linux?.cgroupsPath,
    writes: driver.resourceWrites(resources, { field: 'linux.resources', devices: true, warn: ctx.warn }, host.cgroup),
    rootless: host.rootless,
    uid: host.hostUid,
    writable: (p) => host.cgroupAccess?.writable[p] ?? false,
    read: (p) => host.cgroupAccess?.files[p] ?? '',
  });
  const { dirs } = placement;
  const writes = placement.writes.map((w) => {
    const dir = writeDir(layout, dirs, w.controller);
    if (!dir) unsupportedResource(w.field, `the host has no ${w.controller || 'cgroup v2'} hierarchy`);
    return { ...w, path: join(dir, w.file) };
  });
  const plan: CgroupPlan = {
    version: driver.version,
    dirs,
    dirOf: placement.dirOf,
    top: placement.top,
    controllers: placement.controllers ?? (layout.mode === 2 ? host.cgroup.controllers : []),
    writes,
    steps: [],
  };
  if (host.rootless && !dirs.length) plan.note = `rootless: no cgroup of its own for ${ctx.id} (no delegated cgroup v2 subtree); it stays in the caller's`;
  // First, before any setns: the cgroup paths are the host's. Rootless, no
  // device program: loading one needs privilege over the host.
  const v2dir = layout.mode === 2 ? writeDir(layout, dirs, '') : undefined;
  if (v2dir && !host.rootless) {
    plan.deviceRules = deviceRules(resources?.devices);
    plan.steps.push(deviceFilterStep(v2dir, plan.deviceRules));
  }
  return plan;
}
