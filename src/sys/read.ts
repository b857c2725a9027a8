/**
 * Reading what the host publishes (/proc, /sys, cgroup files), where a file
 * or directory that is absent is an answer, not an error: the kernel lacks
 * the feature, the controller is not mounted. The host probe
 * (src/plan/host.ts, src/cgroups/host.ts) reads through these.
 *
 * Design: docs/design/runtime-core.md, "One probe, one pure compiler".
 */
import { readdirSync, readFileSync } from 'node:fs';

/** A file's text, or undefined when it cannot be read. */
export function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A directory's entries, or none when it cannot be listed. */
export function listIfThere(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
