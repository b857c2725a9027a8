// Checking a config.json against the OCI runtime spec, before anything runs.
//
// validateSpec() walks the parsed JSON once and either returns it typed as a
// Spec (./types.ts) or throws a RuntsError EINVAL_CONFIG whose message starts
// with the JSON path of the first bad field and says why:
//
//   linux.namespaces[2].type: unknown namespace "foo" (expected one of pid, ...)
//
// The checks are a handful of small combinators (expectString, arrayOf,
// shape, ...) rather than a schema library, so each rule reads as one line.
// Rules that relate two fields (a hostname needs a uts namespace, mappings
// need a user namespace) run after the field checks, in checkRelations().
//
// Two liberties, both as the spec and runc allow: unknown properties are
// ignored (kept, never checked), and an optional field that is JSON null
// counts as absent and is removed -- Go's encoding/json, which writes most
// configs, reads null that way. validateSpec never changes its argument; it
// returns a checked copy. The names it accepts come from the kernel-number
// tables in ./kernel-numbers.ts.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RuntsError, wrap } from '../errors.ts';
import type {
  Int64,
  IOPriorityClass,
  Linux,
  LinuxNamespace,
  LinuxNetDevice,
  LinuxSeccomp,
  POSIXRlimit,
  Process,
  RootfsPropagation,
  SchedulerFlag,
  SchedulerPolicy,
  SeccompAction,
  SeccompArch,
  SeccompFlag,
  SeccompOperator,
  Spec,
  TimeOffsetClock,
} from './types.ts';
import { CAPABILITY_NAMES, NAMESPACE_FLAGS, RLIMIT_NUMBERS } from './kernel-numbers.ts';

// The names the spec allows, each list checked complete against its type in
// ./types.ts by the compiler (a Record needs every key, and no other).
const namesOf = <T extends string>(table: Record<T, unknown>): readonly T[] => Object.keys(table) as T[];

const NAMESPACE_TYPES = namesOf(NAMESPACE_FLAGS);
const CAPABILITIES = namesOf(CAPABILITY_NAMES);
const RLIMITS = namesOf(RLIMIT_NUMBERS);
const SECCOMP_ACTIONS = namesOf<SeccompAction>({
  SCMP_ACT_KILL: 1, SCMP_ACT_KILL_PROCESS: 1, SCMP_ACT_KILL_THREAD: 1, SCMP_ACT_TRAP: 1, SCMP_ACT_ERRNO: 1,
  SCMP_ACT_TRACE: 1, SCMP_ACT_ALLOW: 1, SCMP_ACT_LOG: 1, SCMP_ACT_NOTIFY: 1,
});
const SECCOMP_ARCHES = namesOf<SeccompArch>({
  SCMP_ARCH_X86: 1, SCMP_ARCH_X86_64: 1, SCMP_ARCH_X32: 1, SCMP_ARCH_ARM: 1, SCMP_ARCH_AARCH64: 1,
  SCMP_ARCH_MIPS: 1, SCMP_ARCH_MIPS64: 1, SCMP_ARCH_MIPS64N32: 1, SCMP_ARCH_MIPSEL: 1, SCMP_ARCH_MIPSEL64: 1,
  SCMP_ARCH_MIPSEL64N32: 1, SCMP_ARCH_PPC: 1, SCMP_ARCH_PPC64: 1, SCMP_ARCH_PPC64LE: 1, SCMP_ARCH_S390: 1,
  SCMP_ARCH_S390X: 1, SCMP_ARCH_PARISC: 1, SCMP_ARCH_PARISC64: 1, SCMP_ARCH_RISCV64: 1,
});
const SECCOMP_FLAGS = namesOf<SeccompFlag>({
  SECCOMP_FILTER_FLAG_TSYNC: 1, SECCOMP_FILTER_FLAG_LOG: 1, SECCOMP_FILTER_FLAG_SPEC_ALLOW: 1,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 1,
});
const SECCOMP_OPERATORS = namesOf<SeccompOperator>({
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 1, SCMP_CMP_LE: 1, SCMP_CMP_EQ: 1, SCMP_CMP_GE: 1, SCMP_CMP_GT: 1,
  SCMP_CMP_MASKED_EQ: 1,
});
const PROPAGATIONS = namesOf<RootfsPropagation>({
  shared: 1, slave: 1, private: 1, unbindable: 1, rshared: 1, rslave: 1, rprivate: 1, runbindable: 1,
});
const SCHEDULER_POLICIES = namesOf<SchedulerPolicy>({
  SCHED_OTHER: 1, SCHED_FIFO: 1, SCHED_RR: 1, SCHED_BATCH: 1, SCHED_ISO: 1, SCHED_IDLE: 1, SCHED_DEADLINE: 1,
});
const SCHEDULER_FLAGS = namesOf<SchedulerFlag>({
  SCHED_FLAG_RESET_ON_FORK: 1, SCHED_FLAG_RECLAIM: 1, SCHED_FLAG_DL_OVERRUN: 1, SCHED_FLAG_KEEP_POLICY: 1,
  SCHED_FLAG_KEEP_PARAMS: 1, SCHED_FLAG_UTIL_CLAMP_MIN: 1, SCHED_FLAG_UTIL_CLAMP_MAX: 1,
});
const IOPRIO_CLASSES = namesOf<IOPriorityClass>({ IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 1, IOPRIO_CLASS_IDLE: 1 });
const TIME_CLOCKS = namesOf<TimeOffsetClock>({ monotonic: 1, boottime: 1 });
const HOOK_NAMES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

// ---- the entry points --------------------------------------------------------

/** Checks a parsed config.json; returns a checked copy typed as Spec. */
export function validateSpec(raw: unknown): Spec {
  if (!isObject(raw)) invalid('config', 'must be a JSON object');
  checkNesting('', raw);
  const spec = checkSpec('', structuredClone(raw));
  checkRelations(spec);
  return spec;
}

/** Checks a process object alone, as `runts exec --process process.json` reads one. */
export function validateProcess(raw: unknown, path = 'process'): Process {
  checkNesting(path, raw);
  return checkProcess(path, structuredClone(raw));
}

/** The deepest a config may nest; the specification's own deepest path is 6 levels. */
export const MAX_NESTING = 64;

/**
 * Refuses values nested deeper than MAX_NESTING, walking without recursion:
 * the copy and the checks below recurse, and how deep they get before the
 * stack runs out depends on the caller's stack, so without a fixed bound the
 * same config could pass once and fail the next time.
 */
function checkNesting(path: string, raw: unknown): void {
  interface Level { value: unknown; parent?: Level; key?: string }
  const pathOf = (at: Level): string => at.parent ? (Array.isArray(at.parent.value) ? `${pathOf(at.parent)}[${at.key}]` : member(pathOf(at.parent), at.key!)) : path;
  const todo: Array<[Level, number]> = [[{ value: raw }, 0]];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    const [level, depth] = next;
    if (typeof level.value !== 'object' || level.value === null) continue;
    if (depth === MAX_NESTING) invalid(pathOf(level) || 'config', `nested more than ${MAX_NESTING} levels deep`);
    for (const [key, value] of Object.entries(level.value)) todo.push([{ value, parent: level, key }, depth + 1]);
  }
}

/** The process section, which the spec makes optional but `create` needs. */
export function requireProcess(spec: Spec): Process {
  if (spec.process === undefined) invalid('process', 'required to create a container');
  return spec.process;
}

/** Reads, parses and validates `<bundleDir>/config.json`. */
/** Synchronous on purpose: the first async fs call starts libuv's thread pool, a cost on every `runts` start. */
export function loadSpec(bundleDir: string): Spec {
  const bundle = resolve(bundleDir);
  const file = join(bundle, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') {
      throw new RuntsError('ENOENT', `config.json not found in bundle ${bundle}`, { errno: 2, path: file, cause: err });
    }
    throw wrap(err, `read ${file}`);
  }
  return parseSpec(text);
}

/**
 * JSON.parse reviver: an integer too large for a double keeps its exact
 * value as a bigint, read off the source text (memory limits up to 2^63-1
 * are valid int64s). The memory int64 fields keep it (expectInt64); every
 * other number field reads it as the rounded double JSON.parse would give
 * (fromBigint): RLIM_INFINITY, 2^64-1, means the same rounded.
 */
function exactInt64(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || Number.isSafeInteger(value) || !context?.source || !/^-?\d+$/.test(context.source)) return value;
  return BigInt(context.source);
}

/** Parses config.json text and validates it; `name` is the file name used in errors. */
export function parseSpec(text: string, name = 'config.json'): Spec {
  let raw: unknown;
  try {
    raw = JSON.parse(text, exactInt64);
  } catch (err) {
    throw new RuntsError('EINVAL_CONFIG', `${name}: invalid JSON${describeJsonError(text, err)}`, { path: name, cause: err });
  }
  return validateSpec(raw);
}

// ---- combinators -------------------------------------------------------------

type Json = Record<string, unknown>;
/** checks `value`, found at JSON `path`; returns it typed or throws */
type Check<T> = (path: string, value: unknown) => T;

function invalid(path: string, reason: string): never {
  throw new RuntsError('EINVAL_CONFIG', `${path}: ${reason}`, { path });
}

/** `process` + `args` -> `process.args`; keys that are not identifiers are quoted: `linux.sysctl["net.ipv4.ip_forward"]` */
function member(path: string, key: string): string {
  if (!/^[A-Za-z_$][\w$]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectObject(path: string, value: unknown): Json {
  return isObject(value) ? value : invalid(path, 'must be an object');
}

function expectString(path: string, value: unknown): string {
  return typeof value === 'string' ? value : invalid(path, 'must be a string');
}

function expectNonEmptyString(path: string, value: unknown): string {
  return typeof value === 'string' && value !== '' ? value : invalid(path, 'must be a non-empty string');
}

function expectBoolean(path: string, value: unknown): boolean {
  return typeof value === 'boolean' ? value : invalid(path, 'must be a boolean');
}

function expectAbsolutePath(path: string, value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') ? value : invalid(path, 'must be an absolute path');
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An int64: exact beyond 2^53 (a bigint there, from exactInt64). */
function expectInt64(path: string, value: unknown): Int64 {
  if (typeof value === 'bigint') return value >= INT64_MIN && value <= INT64_MAX ? value : invalid(path, `must be a 64-bit integer, not ${value}`);
  return expectInteger(path, value);
}

/** A field that is not an exact int64 takes a large integer as JSON.parse alone would have: rounded. */
const fromBigint = (value: unknown) => (typeof value === 'bigint' ? Number(value) : value);

function expectInteger(path: string, raw: unknown): number {
  const value = fromBigint(raw);
  return Number.isInteger(value) ? (value as number) : invalid(path, 'must be an integer');
}

/** uint64 in the spec; values past 2^53 arrive rounded, which is fine for limits */
function expectUint(path: string, raw: unknown): number {
  const value = fromBigint(raw);
  return Number.isInteger(value) && (value as number) >= 0 ? (value as number) : invalid(path, 'must be a non-negative integer');
}

function expectPositiveInteger(path: string, raw: unknown): number {
  const value = fromBigint(raw);
  return Number.isInteger(value) && (value as number) > 0 ? (value as number) : invalid(path, 'must be a positive integer');
}

function uintUpTo(max: number): Check<number> {
  return (path, value) => {
    const n = expectUint(path, value);
    return n <= max ? n : invalid(path, `must be at most ${max}`);
  };
}

function integerBetween(min: number, max: number): Check<number> {
  return (path, raw) => {
    const value = fromBigint(raw);
    const n = Number.isInteger(value) ? (value as number) : NaN;
    return n >= min && n <= max ? n : invalid(path, `must be an integer from ${min} to ${max}`);
  };
}

const expectUint32 = uintUpTo(0xffff_ffff);
const expectUint16 = uintUpTo(0xffff);

/** a name from a fixed list: `unknown namespace "foo" (expected one of pid, ...)` */
function nameOf<T extends string>(names: readonly T[], noun: string, listChoices = true): Check<T> {
  return (path, value) => {
    const name = expectString(path, value);
    if ((names as readonly string[]).includes(name)) return name as T;
    return invalid(path, `unknown ${noun} ${JSON.stringify(name)}` + (listChoices ? ` (expected one of ${names.join(', ')})` : ''));
  };
}

/** one of a few short codes: `must be one of c, b, u, p` */
function oneOf<T extends string>(...codes: T[]): Check<T> {
  return (path, value) =>
    (codes as unknown[]).includes(value) ? (value as T) : invalid(path, `must be one of ${codes.join(', ')}`);
}

function arrayOf<T>(item: Check<T>): Check<T[]> {
  return (path, value) => {
    if (!Array.isArray(value)) invalid(path, 'must be an array');
    return value.map((v, i) => item(`${path}[${i}]`, v));
  };
}

function nonEmptyStrings(path: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) invalid(path, 'must be a non-empty array of strings');
  return arrayOf(expectString)(path, value);
}

/** a JSON object used as a map: every value checked, keys free */
function mapOf<T>(item: Check<T>): Check<Record<string, T>> {
  return (path, value) => {
    const o = expectObject(path, value);
    for (const [key, v] of Object.entries(o)) item(member(path, key), v);
    return o as Record<string, T>;
  };
}

/** An optional member: absent or null gives undefined (and null is removed). */
function optional<T>(o: Json, path: string, key: string, check: Check<T>): T | undefined {
  if (o[key] === undefined || o[key] === null) {
    delete o[key];
    return undefined;
  }
  return check(member(path, key), o[key]);
}

function required<T>(o: Json, path: string, key: string, check: Check<T>): T {
  if (o[key] === undefined) invalid(member(path, key), 'required');
  return check(member(path, key), o[key]);
}

/** An object with known members, checked in order; a key ending in "?" is optional. */
function shape<T>(members: Record<string, Check<unknown>>): Check<T> {
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

// ---- top level, process, root, mounts, hooks ----------------------------------

function checkSpec(path: string, value: unknown): Spec {
  return shape<Spec>({
    ociVersion: checkVersion,
    'process?': checkProcess,
    root: checkRoot,
    'hostname?': expectString,
    'domainname?': expectString,
    'mounts?': arrayOf(checkMount),
    'hooks?': checkHooks,
    'annotations?': mapOf(expectString),
    'linux?': checkLinux,
  })(path, value);
}

function checkVersion(path: string, value: unknown): string {
  const version = expectString(path, value);
  const semver = /^(\d+)\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/.exec(version);
  if (semver === null) invalid(path, `invalid version ${JSON.stringify(version)} (expected 1.x.y)`);
  if (semver[1] !== '1') invalid(path, `unsupported version ${JSON.stringify(version)} (expected 1.x)`);
  return version;
}

function checkProcess(path: string, value: unknown): Process {
  const proc = shape<Process>({
    'terminal?': expectBoolean,
    'consoleSize?': shape({ height: expectUint, width: expectUint }),
    user: shape({
      uid: expectUint32,
      gid: expectUint32,
      'umask?': expectUint32,
      'additionalGids?': arrayOf(expectUint32),
    }),
    args: nonEmptyStrings,
    'env?': arrayOf(checkEnv),
    cwd: expectAbsolutePath,
    'capabilities?': shape({
      'bounding?': arrayOf(nameOf(CAPABILITIES, 'capability', false)),
      'effective?': arrayOf(nameOf(CAPABILITIES, 'capability', false)),
      'inheritable?': arrayOf(nameOf(CAPABILITIES, 'capability', false)),
      'permitted?': arrayOf(nameOf(CAPABILITIES, 'capability', false)),
      'ambient?': arrayOf(nameOf(CAPABILITIES, 'capability', false)),
    }),
    'rlimits?': arrayOf(checkRlimit),
    'noNewPrivileges?': expectBoolean,
    'apparmorProfile?': expectString,
    'oomScoreAdj?': integerBetween(-1000, 1000),
    'scheduler?': shape({
      policy: nameOf(SCHEDULER_POLICIES, 'scheduler policy'),
      'nice?': integerBetween(-20, 19),
      'priority?': expectInteger,
      'flags?': arrayOf(nameOf(SCHEDULER_FLAGS, 'scheduler flag')),
      'runtime?': expectUint,
      'deadline?': expectUint,
      'period?': expectUint,
    }),
    'selinuxLabel?': expectString,
    'ioPriority?': shape({ class: nameOf(IOPRIO_CLASSES, 'io priority class'), priority: integerBetween(0, 7) }),
    'execCPUAffinity?': shape({ 'initial?': expectString, 'final?': expectString }),
  })(path, value);
  // setrlimit(2) takes one value per resource; a second entry would silently win
  const seen = new Set<string>();
  proc.rlimits?.forEach((limit, i) => {
    if (seen.has(limit.type)) invalid(`${path}.rlimits[${i}]`, `duplicate ${limit.type}`);
    seen.add(limit.type);
  });
  return proc;
}

/** like runc: execve(2) would accept "FOO", but no shell could read it back */
function checkEnv(path: string, value: unknown): string {
  const entry = expectString(path, value);
  return entry.indexOf('=') > 0 ? entry : invalid(path, 'must be "KEY=value"');
}

function checkRlimit(path: string, value: unknown): POSIXRlimit {
  const limit = shape<POSIXRlimit>({
    type: nameOf(RLIMITS, 'rlimit', false),
    hard: expectUint,
    soft: expectUint,
  })(path, value);
  if (limit.soft > limit.hard) invalid(`${path}.soft`, `${limit.soft} is above the hard limit ${limit.hard}`);
  return limit;
}

const checkRoot = shape({ path: expectNonEmptyString, 'readonly?': expectBoolean });

const checkIdMapping = shape({ containerID: expectUint32, hostID: expectUint32, size: expectPositiveInteger });

function checkMount(path: string, value: unknown): unknown {
  return shape({
    destination: expectAbsolutePath,
    'type?': expectString,
    'source?': expectString,
    'options?': arrayOf(expectString),
    'uidMappings?': arrayOf(checkIdMapping),
    'gidMappings?': arrayOf(checkIdMapping),
  })(path, value);
}

function checkHooks(path: string, value: unknown): unknown {
  const hook = shape({
    path: expectAbsolutePath,
    'args?': arrayOf(expectString),
    'env?': arrayOf(expectString),
    'timeout?': expectPositiveInteger,
  });
  return shape(Object.fromEntries(HOOK_NAMES.map((name) => [`${name}?`, arrayOf(hook)])))(path, value);
}

// ---- linux ---------------------------------------------------------------------

/** An interface name the kernel takes (IFNAMSIZ with its NUL; no "/", ":" or space), as runc checks it. */
function expectInterfaceName(path: string, value: unknown): string {
  const name = expectString(path, value);
  if (!name || name.length > 15 || name === '.' || name === '..' || /[/:\s]/.test(name)) {
    invalid(path, `${JSON.stringify(name)} is not a valid network interface name (1 to 15 characters, no "/", ":" or whitespace)`);
  }
  return name;
}

function checkNetDevices(path: string, value: unknown): Record<string, LinuxNetDevice> {
  const devices = mapOf(shape<LinuxNetDevice>({ 'name?': expectInterfaceName }))(path, value);
  const inside = new Map<string, string>();
  for (const [key, dev] of Object.entries(devices)) {
    expectInterfaceName(member(path, key), key);
    const name = dev.name || key;
    if (name === 'lo') invalid(member(path, key), 'would be lo in the container, whose network namespace has its own');
    if (inside.has(name)) invalid(member(path, key), `would be ${name} in the container, as ${inside.get(name)} would`);
    inside.set(name, key);
  }
  return devices;
}

function checkLinux(path: string, value: unknown): Linux {
  return shape<Linux>({
    'uidMappings?': arrayOf(checkIdMapping),
    'gidMappings?': arrayOf(checkIdMapping),
    'sysctl?': mapOf(expectString),
    'resources?': checkResources,
    'cgroupsPath?': expectString,
    'namespaces?': checkNamespaces,
    'devices?': arrayOf(checkDevice),
    'netDevices?': checkNetDevices,
    'seccomp?': checkSeccomp,
    'rootfsPropagation?': nameOf(PROPAGATIONS, 'propagation'),
    'maskedPaths?': arrayOf(expectAbsolutePath),
    'readonlyPaths?': arrayOf(expectAbsolutePath),
    'mountLabel?': expectString,
    'intelRdt?': shape({
      'closID?': expectString,
      'schemata?': expectString,
      'l3CacheSchema?': expectString,
      'memBwSchema?': expectString,
      'enableCMT?': expectBoolean,
      'enableMBM?': expectBoolean,
    }),
    'personality?': shape({ domain: nameOf(['LINUX', 'LINUX32'], 'personality domain'), 'flags?': arrayOf(expectString) }),
    'timeOffsets?': checkTimeOffsets,
  })(path, value);
}

function checkNamespaces(path: string, value: unknown): LinuxNamespace[] {
  const namespaces = arrayOf(
    shape<LinuxNamespace>({ type: nameOf(NAMESPACE_TYPES, 'namespace'), 'path?': expectAbsolutePath }),
  )(path, value);
  const seen = new Set<string>();
  for (const ns of namespaces) {
    if (seen.has(ns.type)) invalid(path, `duplicate namespace ${JSON.stringify(ns.type)}`);
    seen.add(ns.type);
  }
  return namespaces;
}

function checkDevice(path: string, value: unknown): unknown {
  const device = shape<{ type: string; major?: number; minor?: number }>({
    path: expectAbsolutePath,
    type: oneOf('c', 'b', 'u', 'p'),
    'major?': expectUint,
    'minor?': expectUint,
    'fileMode?': expectUint32,
    'uid?': expectUint32,
    'gid?': expectUint32,
  })(path, value);
  // a fifo has no device number; every other node is nothing without one
  for (const key of ['major', 'minor'] as const) {
    if (device.type !== 'p' && device[key] === undefined) invalid(`${path}.${key}`, `required for type "${device.type}"`);
  }
  return device;
}

function checkTimeOffsets(path: string, value: unknown): unknown {
  const offsets = mapOf(shape({ 'secs?': expectInteger, 'nanosecs?': uintUpTo(999_999_999) }))(path, value);
  for (const clock of Object.keys(offsets)) nameOf(TIME_CLOCKS, 'clock')(member(path, clock), clock);
  return offsets;
}

function checkResources(path: string, value: unknown): unknown {
  const deviceNumbers = { major: expectInteger, minor: expectInteger };
  const throttle = arrayOf(shape({ ...deviceNumbers, rate: expectUint }));
  return shape({
    'devices?': arrayOf((p, v) => {
      const rule = shape({
        allow: expectBoolean,
        'type?': oneOf('a', 'c', 'b'),
        'major?': expectInteger,
        'minor?': expectInteger,
        'access?': (q, a) => (typeof a === 'string' && /^[a-z]+$/.test(a) ? a : invalid(q, 'must be made of r, w and m')),
      })(p, v) as { allow: boolean; access?: string };
      // a deny rule may carry letters that name no access (runc ignores them: src/cgroups/device-rules.ts)
      if (rule.allow && !/^[rwm]+$/.test(rule.access ?? 'rwm')) invalid(`${p}.access`, 'must be made of r, w and m');
      return rule;
    }),
    'memory?': shape({
      'limit?': expectInt64,
      'reservation?': expectInt64,
      'swap?': expectInt64,
      'kernel?': expectInt64,
      'kernelTCP?': expectInt64,
      'swappiness?': expectUint,
      'disableOOMKiller?': expectBoolean,
      'useHierarchy?': expectBoolean,
      'checkBeforeUpdate?': expectBoolean,
    }),
    'cpu?': shape({
      'shares?': expectUint,
      'quota?': expectInteger,
      'burst?': expectUint,
      'period?': expectUint,
      'realtimeRuntime?': expectInteger,
      'realtimePeriod?': expectUint,
      'cpus?': expectString,
      'mems?': expectString,
      'idle?': expectInteger,
    }),
    'pids?': shape({ limit: expectInteger }),
    'blockIO?': shape({
      'weight?': expectUint16,
      'leafWeight?': expectUint16,
      'weightDevice?': arrayOf(shape({ ...deviceNumbers, 'weight?': expectUint16, 'leafWeight?': expectUint16 })),
      'throttleReadBpsDevice?': throttle,
      'throttleWriteBpsDevice?': throttle,
      'throttleReadIOPSDevice?': throttle,
      'throttleWriteIOPSDevice?': throttle,
    }),
    'hugepageLimits?': arrayOf(shape({ pageSize: expectNonEmptyString, limit: expectUint })),
    'network?': shape({
      'classID?': expectUint32,
      'priorities?': arrayOf(shape({ name: expectString, priority: expectUint32 })),
    }),
    'rdma?': mapOf(shape({ 'hcaHandles?': expectUint32, 'hcaObjects?': expectUint32 })),
    'unified?': mapOf(expectString),
  })(path, value);
}

function checkSeccomp(path: string, value: unknown): LinuxSeccomp {
  const action = nameOf(SECCOMP_ACTIONS, 'seccomp action');
  const seccomp = shape<LinuxSeccomp>({
    defaultAction: action,
    'defaultErrnoRet?': expectUint,
    'architectures?': arrayOf(nameOf(SECCOMP_ARCHES, 'architecture')),
    'flags?': arrayOf(nameOf(SECCOMP_FLAGS, 'seccomp flag')),
    'listenerPath?': expectNonEmptyString,
    'listenerMetadata?': expectString,
    'syscalls?': arrayOf(
      shape({
        names: nonEmptyStrings,
        action,
        'errnoRet?': expectUint,
        'args?': arrayOf(
          shape({
            index: integerBetween(0, 5),
            value: expectUint,
            'valueTwo?': expectUint,
            op: nameOf(SECCOMP_OPERATORS, 'operator'),
          }),
        ),
      }),
    ),
  })(path, value);
  // the notify fd goes to a listener; with no listener every such call would hang
  if (seccomp.defaultAction === 'SCMP_ACT_NOTIFY') {
    invalid(`${path}.defaultAction`, 'SCMP_ACT_NOTIFY cannot be the default action');
  }
  if (seccomp.listenerPath === undefined && seccomp.syscalls?.some((s) => s.action === 'SCMP_ACT_NOTIFY')) {
    invalid(`${path}.listenerPath`, 'required when a syscall uses SCMP_ACT_NOTIFY');
  }
  return seccomp;
}

// ---- rules across fields ----------------------------------------------------------

// sysctls that belong to the ipc namespace (besides fs.mqueue.*), as runc lists them
const IPC_SYSCTLS = new Set([
  'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem',
  'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced',
]);

function checkRelations(spec: Spec): void {
  const linux = spec.linux ?? {};
  const namespaces = new Map((linux.namespaces ?? []).map((ns) => [ns.type, ns]));

  // As runc: joining an existing uts namespace (path) and setting its name is allowed;
  // changing the host's own name is not.
  if (spec.hostname && !namespaces.has('uts')) {
    invalid('hostname', 'setting the hostname requires a new uts namespace');
  }
  if (spec.domainname && !namespaces.has('uts')) {
    invalid('domainname', 'setting the domainname requires a new uts namespace');
  }

  // A new user namespace starts with no ids at all until its maps are written;
  // a joined one (path) already has them.
  const user = namespaces.get('user');
  for (const key of ['uidMappings', 'gidMappings'] as const) {
    const given = (linux[key]?.length ?? 0) > 0;
    if (user !== undefined && user.path === undefined && !given) {
      invalid(`linux.${key}`, 'user namespace requested but no mappings given');
    }
    if (user === undefined && given) invalid(`linux.${key}`, 'mappings given but no user namespace requested');
  }

  // as runc: an interface moves into a network namespace of the container's, new or joined
  if (Object.keys(linux.netDevices ?? {}).length && !namespaces.has('network')) {
    invalid('linux.netDevices', 'moving a network interface requires a network namespace');
  }

  // timens_offsets can be written only before the first process enters the namespace
  const time = namespaces.get('time');
  if (linux.timeOffsets !== undefined && Object.keys(linux.timeOffsets).length > 0) {
    if (time === undefined || time.path !== undefined) {
      invalid('linux.timeOffsets', 'time offsets require a new time namespace');
    }
  }

  // A sysctl outside the container's namespaces would change the host (runc's rules).
  for (const key of Object.keys(linux.sysctl ?? {})) {
    const name = key.replaceAll('/', '.');
    const path = member('linux.sysctl', key);
    if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) {
      if (!namespaces.has('ipc')) invalid(path, 'requires an ipc namespace');
    } else if (name.startsWith('net.')) {
      if (!namespaces.has('network')) invalid(path, 'requires a network namespace');
    } else if (name === 'kernel.hostname') {
      invalid(path, 'set the hostname field instead');
    } else if (name !== 'kernel.domainname' || !namespaces.has('uts')) {
      invalid(path, 'not namespaced, setting it would change the host');
    }
  }
}

// ---- JSON syntax errors --------------------------------------------------------

/** " at line L column C: unexpected X", found by re-scanning: V8 names a position for only some errors. */
function describeJsonError(text: string, err: unknown): string {
  const at = firstJsonError(text);
  if (at < 0 && err instanceof RangeError) return ': nested too deeply to read'; // the stack ran out
  if (at < 0) return `: ${err instanceof Error ? err.message : String(err)}`;
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  const found = at < text.length ? JSON.stringify(String.fromCodePoint(text.codePointAt(at)!)) : 'end of input';
  return ` at line ${line} column ${column}: unexpected ${found}`;
}

/** Offset of the first character that cannot continue valid JSON (RFC 8259), or -1. */
function firstJsonError(text: string): number {
  let i = 0;
  // the scanner stops by throwing the offset where it got stuck
  const expect = (ch: string): void => {
    if (text[i] !== ch) throw i;
    i++;
  };
  const space = (): void => {
    while (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r') i++;
  };
  const string = (): void => {
    expect('"');
    for (;;) {
      const c = text[i];
      if (c === undefined || c < ' ') throw i;
      i++;
      if (c === '"') return;
      if (c !== '\\') continue;
      if (text[i] === 'u') {
        i++;
        for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(text[i] ?? '')) throw i;
      } else if ('"\\/bfnrt'.includes(text[i] ?? 'x')) {
        i++;
      } else {
        throw i;
      }
    }
  };
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (): void => {
    space();
    const open = text[i];
    if (open === '{' || open === '[') {
      const close = open === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (open === '{') {
          space();
          string();
          space();
          expect(':');
        }
        value();
        space();
        if (text[i] !== ',') break;
        i++;
      }
      expect(close);
      return;
    }
    if (open === '"') return string();
    const word = open === 't' ? 'true' : open === 'f' ? 'false' : open === 'n' ? 'null' : '';
    if (word !== '') {
      for (const ch of word) expect(ch);
      return;
    }
    number.lastIndex = i;
    if (!number.test(text)) throw i;
    i = number.lastIndex;
  };
  try {
    value();
    space();
    if (i < text.length) throw i;
    return -1;
  } catch (stuck) {
    if (typeof stuck === 'number') return stuck;
    // nested deeper than this recursive scanner can follow: V8's message it is
    if (stuck instanceof RangeError) return -1;
    throw stuck;
  }
}
