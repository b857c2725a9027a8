/**
 * The limits of a container as a list of cgroup file writes, decided before
 * anything is created (so bad values fail early) and applied in order after
 * the cgroup directories exist.
 *
 * Each write remembers the config field it comes from: a value the kernel
 * refuses is reported against that field, never silently dropped.
 *
 * The book: docs/05-cgroups.md, "What runts does" and "Changing limits".
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import type { Int64 } from '../oci/types.ts';

export interface CgroupWrite {
  /** The v1 controller whose hierarchy holds the file; '' on cgroup v2. */
  controller: string;
  file: string;
  value: string;
  /** The config.json field, e.g. linux.resources.memory.limit. */
  field: string;
  /**
   * Refused (EINVAL)? Then write the next value first and retry: for pairs
   * whose valid order depends on current values (v1 memory limit and
   * memory+swap, where memsw must stay above the limit at every step; v1
   * cpu period and quota under a parent's quota).
   */
  orNextFirst?: boolean;
}

export function invalidResource(field: string, why: string): never {
  throw new RuntsError('EINVAL_CONFIG', `${field}: ${why}`, { path: field });
}

export function unsupportedResource(field: string, why: string): never {
  throw new RuntsError('ENOTSUP', `${field}: ${why}`, { path: field });
}

/** -1 means unlimited; anything else must be a count (exact, up to 2^63-1: see Int64). */
export function limitValue(field: string, v: Int64, unlimited = 'max'): string {
  if (typeof v === 'number' ? !Number.isSafeInteger(v) || v < -1 : v < -1n) invalidResource(field, `must be -1 (unlimited) or a non-negative integer, not ${v}`);
  return v === -1 ? unlimited : String(v);
}

export function nonNegative(field: string, v: number): string {
  if (!Number.isSafeInteger(v) || v < 0) invalidResource(field, `must be a non-negative integer, not ${v}`);
  return String(v);
}

/** Write each value; a refusal names the field, the file and the kernel's reason. */
export function applyWrites(writes: CgroupWrite[], dirFor: (controller: string) => string | undefined): void {
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    const next = writes[i + 1];
    if (w.orNextFirst && next) {
      try {
        writeOne(w, dirFor);
      } catch (err) {
        if (!(err instanceof RuntsError) || Math.abs(err.errno ?? 0) !== 22) throw err; // EINVAL
        writeOne(next, dirFor);
        writeOne(w, dirFor);
        i++;
        continue;
      }
      writeOne(next, dirFor);
      i++;
      continue;
    }
    writeOne(w, dirFor);
  }
}

function writeOne(w: CgroupWrite, dirFor: (controller: string) => string | undefined): void {
  {
    const dir = dirFor(w.controller);
    if (!dir) unsupportedResource(w.field, `the host has no ${w.controller || 'cgroup v2'} hierarchy`);
    const path = join(dir, w.file);
    try {
      writeFileSync(path, w.value);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'not supported by this kernel' : e.code === 'EINVAL' ? 'invalid value for this kernel' : e.code === 'ENODEV' ? 'no such device on this host' : e.code === 'ENOTSUP' || e.code === 'EOPNOTSUPP' ? 'not supported here (for a device: does its I/O scheduler support it?)' : e.message;
      throw new RuntsError('ECGROUP', `${w.field}: write ${JSON.stringify(w.value)} to ${path}: ${why} (${e.code})`, { errno: e.errno, path: w.field, cause: err });
    }
  }
}

/** A cpu or memory-node list ("0-3,5") as numbers. */
export function parseList(field: string, list: string): number[] {
  const out: number[] = [];
  if (list.trim() === '') return out;
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) invalidResource(field, `${JSON.stringify(list)} is not a list like "0-3,5"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) invalidResource(field, `range ${part} is backwards`);
    for (let i = lo; i <= hi; i++) out.push(i);
  }
  return out;
}

/** Refuse cpus or memory nodes the host does not have (online: the host's list, as /sys shows it). */
export function checkList(field: string, list: string, online: string): void {
  const wanted = parseList(field, list);
  const host = new Set(parseList(field, online));
  const missing = wanted.filter((n) => !host.has(n));
  if (missing.length) invalidResource(field, `${missing.join(',')} not on this host (it has ${[...host].join(',')})`);
}
