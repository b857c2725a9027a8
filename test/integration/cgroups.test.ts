/*
 * linux.cgroupsPath and resources, on this machine's hybrid layout: v1
 * controllers under /sys/fs/cgroup/<controller>, cgroup2 at
 * /sys/fs/cgroup/unified. The host hierarchies are never remounted.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setNamespaces, withArgs } from '../lib/bundle.ts';
import { RUN_PREFIX, cgroupDirsMatching } from '../lib/cleanup.ts';
import { checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';
import { parseCgroupFile } from '../lib/probe.ts';

checkLeaksAfterFile();

const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'];

/*
 * A cgroupsPath under a parent of our own. The runtime removes the leaf on
 * delete; the parent is ours to remove, and only if empty, so a leaf the
 * runtime left behind still shows up in the leak check.
 */
function cgroupsPathFor(c: Ctx, id: string): string {
  const parent = `${RUN_PREFIX}-cg`;
  c.defer(`rmdir ${parent}`, () => {
    for (const h of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(join('/sys/fs/cgroup', h, parent));
      } catch {
        /* absent, or not empty: the leak check reports it */
      }
    }
  });
  return `/${parent}/${id}`;
}

function controllerPaths(cgroupFile: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of parseCgroupFile(cgroupFile)) for (const ctl of line.controllers) out[ctl] = line.path;
  return out;
}

containerTest('the process is in cgroupsPath in every v1 controller', async (c) => {
  const id = c.newId();
  const path = cgroupsPathFor(c, id);
  const p = await c.probe([setNamespaces('pid', 'mount', 'network', 'ipc', 'uts'), { linux: { cgroupsPath: path } }], { id });
  const paths = controllerPaths(p.cgroup);
  for (const ctl of V1_CONTROLLERS) assert.equal(paths[ctl], path, `${ctl} cgroup`);
});

containerTest('the host sees the container process in its cgroup', async (c) => {
  const id = c.newId();
  const path = cgroupsPathFor(c, id);
  const ct = await c.create(c.bundle([withArgs('sleep', '600'), { linux: { cgroupsPath: path } }]), { id });
  const procs = readFileSync(join('/sys/fs/cgroup/pids', path, 'cgroup.procs'), 'utf8').split('\n');
  assert.ok(procs.includes(String(ct.pid)), `pid ${ct.pid} not in ${procs}`);
});

containerTest('with a cgroup namespace the process sees itself at the root', async (c) => {
  const p = await c.probe(setNamespaces('pid', 'mount', 'network', 'ipc', 'uts', 'cgroup'));
  const paths = controllerPaths(p.cgroup);
  for (const ctl of V1_CONTROLLERS) assert.equal(paths[ctl], '/', `${ctl} cgroup`);
});

containerTest('delete removes the container cgroups', async (c) => {
  const id = c.newId();
  const ct = await c.create(c.bundle([withArgs('sleep', '600'), { linux: { cgroupsPath: cgroupsPathFor(c, id) } }]), { id });
  assert.notDeepEqual(cgroupDirsMatching(id), [], 'no cgroup was created');
  await c.delete(ct.id, '--force');
  assert.deepEqual(cgroupDirsMatching(id), []);
});

containerTest('without cgroupsPath the container still gets cgroups, and delete removes them', async (c) => {
  const ct = await c.create(c.bundle(withArgs('sleep', '600')));
  const memory = parseCgroupFile(readFileSync(`/proc/${ct.pid}/cgroup`, 'utf8')).find((l) => l.controllers.includes('memory'));
  assert.ok(memory && memory.path !== '/' && existsSync(join('/sys/fs/cgroup/memory', memory.path)), `memory cgroup ${memory?.path}`);
  await c.delete(ct.id, '--force');
  assert.equal(existsSync(join('/sys/fs/cgroup/memory', memory.path)), false);
});

containerTest('a memory limit is written to the memory controller', async (c) => {
  const id = c.newId();
  const path = cgroupsPathFor(c, id);
  await c.create(c.bundle([withArgs('sleep', '600'), { linux: { cgroupsPath: path, resources: { memory: { limit: 64 * 1024 * 1024 } } } }]), { id });
  assert.equal(readFileSync(join('/sys/fs/cgroup/memory', path, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 * 1024 * 1024));
});

containerTest('a pids limit is written to the pids controller', async (c) => {
  const id = c.newId();
  const path = cgroupsPathFor(c, id);
  await c.create(c.bundle([withArgs('sleep', '600'), { linux: { cgroupsPath: path, resources: { pids: { limit: 42 } } } }]), { id });
  assert.equal(readFileSync(join('/sys/fs/cgroup/pids', path, 'pids.max'), 'utf8').trim(), '42');
});
