/**
 * The combinators config.json is checked with (validate.ts,
 * validate-linux.ts): each takes the JSON path of a value and the value,
 * and returns it typed or throws a RuntsError EINVAL_CONFIG whose message
 * starts with that path. Small functions rather than a schema library, so
 * each rule of the spec reads as one line.
 *
 * The book: docs/09-writing-runtime.md, "Checking config.json";
 * docs/design/runtime-core.md.
 */
import { RuntsError } from '../errors.ts';
import type { Int64 } from './types.ts';

// The names the spec allows, each list checked complete against its type in
// ./types.ts by the compiler (a Record needs every key, and no other).
export const namesOf = <T extends string>(table: Record<T, unknown>): readonly T[] => Object.keys(table) as T[];

export type Json = Record<string, unknown>;
/** checks `value`, found at JSON `path`; returns it typed or throws */
export type Check<T> = (path: string, value: unknown) => T;

export function invalid(path: string, reason: string): never {
  throw new RuntsError('EINVAL_CONFIG', `${path}: ${reason}`, { path });
}

/** `process` + `args` -> `process.args`; keys that are not identifiers are quoted: `linux.sysctl["net.ipv4.ip_forward"]` */
export function member(path: string, key: string): string {
  if (!/^[A-Za-z_$][\w$]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function expectObject(path: string, value: unknown): Json {
  return isObject(value) ? value : invalid(path, 'must be an object');
}

export function expectString(path: string, value: unknown): string {
  return typeof value === 'string' ? value : invalid(path, 'must be a string');
}

export function expectNonEmptyString(path: string, value: unknown): string {
  return typeof value === 'string' && value !== '' ? value : invalid(path, 'must be a non-empty string');
}

export function expectBoolean(path: string, value: unknown): boolean {
  return typeof value === 'boolean' ? value : invalid(path, 'must be a boolean');
}

export function expectAbsolutePath(path: string, value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') ? value : invalid(path, 'must be an absolute path');
}

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/** An int64: exact beyond 2^53 (a bigint there, from exactInt64). */
export function expectInt64(path: string, value: unknown): Int64 {
  if (typeof value === 'bigint') return value >= INT64_MIN && value <= INT64_MAX ? value : invalid(path, `must be a 64-bit integer, not ${value}`);
  return expectInteger(path, value);
}

/** A field that is not an exact int64 takes a large integer as JSON.parse alone would have: rounded. */
export const fromBigint = (value: unknown) => (typeof value === 'bigint' ? Number(value) : value);

export function expectInteger(path: string, raw: unknown): number {
  const value = fromBigint(raw);
  return Number.isInteger(value) ? (value as number) : invalid(path, 'must be an integer');
}

/** uint64 in the spec; values past 2^53 arrive rounded, which is fine for limits */
export function expectUint(path: string, raw: unknown): number {
  const value = fromBigint(raw);
  return Number.isInteger(value) && (value as number) >= 0 ? (value as number) : invalid(path, 'must be a non-negative integer');
}

export function expectPositiveInteger(path: string, raw: unknown): number {
  const value = fromBigint(raw);
  return Number.isInteger(value) && (value as number) > 0 ? (value as number) : invalid(path, 'must be a positive integer');
}

export function uintUpTo(max: number): Check<number> {
  return (path, value) => {
    const n = expectUint(path, value);
    return n <= max ? n : invalid(path, `must be at most ${max}`);
  };
}

export function integerBetween(min: number, max: number): Check<number> {
  return (path, raw) => {
    const value = fromBigint(raw);
    const n = Number.isInteger(value) ? (value as number) : NaN;
    return n >= min && n <= max ? n : invalid(path, `must be an integer from ${min} to ${max}`);
  };
}

export const expectUint32 = uintUpTo(0xffff_ffff);
export const expectUint16 = uintUpTo(0xffff);

/** a name from a fixed list: `unknown namespace "foo" (expected one of pid, ...)` */
export function nameOf<T extends string>(names: readonly T[], noun: string, listChoices = true): Check<T> {
  return (path, value) => {
    const name = expectString(path, value);
    if ((names as readonly string[]).includes(name)) return name as T;
    return invalid(path, `unknown ${noun} ${JSON.stringify(name)}` + (listChoices ? ` (expected one of ${names.join(', ')})` : ''));
  };
}

/** one of a few short codes: `must be one of c, b, u, p` */
export function oneOf<T extends string>(...codes: T[]): Check<T> {
  return (path, value) =>
    (codes as unknown[]).includes(value) ? (value as T) : invalid(path, `must be one of ${codes.join(', ')}`);
}

export function arrayOf<T>(item: Check<T>): Check<T[]> {
  return (path, value) => {
    if (!Array.isArray(value)) invalid(path, 'must be an array');
    return value.map((v, i) => item(`${path}[${i}]`, v));
  };
}

export function nonEmptyStrings(path: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) invalid(path, 'must be a non-empty array of strings');
  return arrayOf(expectString)(path, value);
}

/** a JSON object used as a map: every value checked, keys free */
export function mapOf<T>(item: Check<T>): Check<Record<string, T>> {
  return (path, value) => {
    const o = expectObject(path, value);
    for (const [key, v] of Object.entries(o)) item(member(path, key), v);
    return o as Record<string, T>;
  };
}

/** An optional member: absent or null gives undefined (and null is removed). */
export function optional<T>(o: Json, path: string, key: string, check: Check<T>): T | undefined {
  if (o[key] === undefined || o[key] === null) {
    delete o[key];
    return undefined;
  }
  return check(member(path, key), o[key]);
}

export function required<T>(o: Json, path: string, key: string, check: Check<T>): T {
  if (o[key] === undefined) invalid(member(path, key), 'required');
  return check(member(path, key), o[key]);
}

/** An object with known members, checked in order; a key ending in "?" is optional. */
export function shape<T>(members: Record<string, Check<unknown>>): Check<T> {
  return (path, value) => {
    const o = expectObject(path, value);
    for (const [key, check] of Object.entries(members)) {
      const name = key.endsWith('?') ? key.slice(0, -1) : key;
      // the checked value replaces the raw one (a large integer read as its field's type: see exactInt64)
      const checked = key.endsWith('?') ? optional(o, path, name, check) : required(o, path, name, check);
      if (checked !== undefined) o[name] = checked;
    }
    return o as T;
  };
}
