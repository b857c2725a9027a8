/**
 * Fault points: named places where a crash would leave the most behind, for
 * the tests to crash runts at exactly there. With RUNTS_FAULT=NAME in the
 * environment, faultPoint(NAME) kills this process with SIGKILL, as the OOM
 * killer or a `kill -9` would: no finally block, no exit handler runs. Without
 * the variable it costs one property read.
 *
 * Every point is listed in FAULT_POINTS, so a test can cover each one.
 *
 * Design: docs/design/runtime-core.md, "What a crash leaves".
 */

export const FAULT_POINTS = [
  /** files.createDirAtomic: the claim's files are written under the temporary name, not yet renamed. */
  'claim.written',
  /** create: the container's id is claimed (state.json, no INIT yet). */
  'create.claimed',
  /** create: its cgroups are made and limited, INIT not cloned yet. */
  'create.cgroup',
  /** create: INIT waits on the exec fifo; its pid is not in state.json yet. */
  'create.launched',
  /** start: the byte is in the fifo, the fifo not removed yet. */
  'start.signalled',
  /** delete: every process is killed, the cgroups are still there. */
  'delete.killed',
  /** delete: the cgroups are gone, the state directory is not. */
  'delete.uncgrouped',
  /** the front end's run: the name is claimed, nothing mounted. */
  'frontend.claimed',
  /** the front end's run: the snapshot is mounted, the network reserved, config.json written; no container. */
  'frontend.prepared',
  /** bridge.reserve: the allocation is recorded and its ports published, nothing else done. */
  'network.published',
  /** bridge.attach: the veth is in the container's namespace, the allocation still names runts's pid. */
  'network.attached',
  /** archive.ensureLayer (load, import, pull): a layer is unpacked into the store, no image names it yet. */
  'image.unpacked',
  /** commit: the new layer's blob is stored, no image names it yet. */
  'commit.stored',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

export function faultPoint(name: FaultPoint): void {
  if (process.env.RUNTS_FAULT === name) process.kill(process.pid, 'SIGKILL');
}
