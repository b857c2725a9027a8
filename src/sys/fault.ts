/**
 * Fault points: named places where a crash would leave the most behind, for
 * the tests to crash runts at exactly there. With RUNTS_FAULT=NAME in the
 * environment, faultPoint(NAME) kills this process with SIGKILL, as the OOM
 * killer or a `kill -9` would: no finally block, no exit handler runs. Without
 * the variable it costs one property read.
 *
 * Every point is listed in FAULT_POINTS, so a test can cover each one.
 */

export const FAULT_POINTS = [
  /** files.createDirAtomic: the claim's files are written under the temporary name, not yet renamed. */
  'claim.written',
  /** create: the container's id is claimed (state.json, no INIT yet). */
  'create.claimed',
  /** bridge.reserve: the allocation is recorded and its ports published, nothing else done. */
  'network.published',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

export function faultPoint(name: FaultPoint): void {
  if (process.env.RUNTS_FAULT === name) process.kill(process.pid, 'SIGKILL');
}
