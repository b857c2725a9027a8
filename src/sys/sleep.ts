/**
 * A pause that blocks the thread, for the few places that wait in
 * synchronous code (a lock's retry, a cgroup the kernel still holds, a
 * process group on its way out): Atomics.wait on a value nobody changes.
 *
 * Design: docs/design/runtime-core.md.
 */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
