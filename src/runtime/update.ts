/**
 * `runts update`: change the limits of a living container. The new values
 * are validated like config.json's linux.resources, then written to its
 * cgroup; fields not given keep their values.
 *
 * The book: docs/05-cgroups.md, "Changing limits".
 */
import { cgroupDriver } from '../cgroups/driver.ts';
import { RuntsError } from '../errors.ts';
import type { LinuxResources } from '../oci/types.ts';
import type { RuntimeContext } from './create.ts';
import { requireCgroup } from './members.ts';

export async function update(ctx: RuntimeContext, id: string, resources: LinuxResources, field = 'resources'): Promise<void> {
  if (typeof resources !== 'object' || resources === null || Array.isArray(resources)) {
    throw new RuntsError('EINVAL', `${field}: must be a JSON object like linux.resources`);
  }
  const driver = cgroupDriver();
  const writes = driver.resourceWrites(resources, { field, devices: resources.devices !== undefined, warn: ctx.warn });
  await ctx.store.locked(id, async () => {
    const record = ctx.store.read(id);
    const status = ctx.store.status(record);
    if (status === 'stopped' || status === 'creating') throw new RuntsError('ESTATE', `cannot update container ${id}: it is ${status}`);
    requireCgroup(record, 'update');
    driver.apply(record.cgroupDirs, writes);
  });
}
