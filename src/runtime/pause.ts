/**
 * `runts pause` / `runts resume`: freeze and thaw every process of a
 * container through its cgroup (v1 freezer.state, v2 cgroup.freeze). The
 * state then shows "paused", read back from the same files.
 *
 * The book: docs/05-cgroups.md, "Freezing".
 */
import { cgroupDriver } from '../cgroups/driver.ts';
import { RuntsError } from '../errors.ts';
import type { RuntimeContext } from './create.ts';
import { requireCgroup } from './members.ts';

export async function pause(ctx: RuntimeContext, id: string): Promise<void> {
  await ctx.store.locked(id, async () => {
    const record = ctx.store.read(id);
    const status = ctx.store.status(record);
    if (status !== 'running') throw new RuntsError('ESTATE', `cannot pause container ${id}: it is ${status}, not running`);
    requireCgroup(record, 'pause');
    await cgroupDriver().freeze(record.cgroupDirs, true);
  });
}

export async function resume(ctx: RuntimeContext, id: string): Promise<void> {
  await ctx.store.locked(id, async () => {
    const record = ctx.store.read(id);
    const status = ctx.store.status(record);
    if (status !== 'paused') throw new RuntsError('ESTATE', `cannot resume container ${id}: it is ${status}, not paused`);
    await cgroupDriver().freeze(record.cgroupDirs, false);
  });
}
