// Checking a config.json against the OCI runtime spec, before anything runs.
//
// validateSpec() walks the parsed JSON once and either returns it typed as a
// Spec (./types.ts) or throws a RuntsError EINVAL_CONFIG whose message starts
// with the JSON path of the first bad field and says why:
//
//   linux.namespaces[2].type: unknown namespace "foo" (expected one of pid, ...)
//
// The checks are a handful of small combinators (./check.ts: expectString,
// arrayOf, shape, ...) rather than a schema library, so each rule reads as
// one line. The linux section is checked in ./validate-linux.ts.
// Rules that relate two fields (a hostname needs a uts namespace, mappings
// need a user namespace) run after the field checks, in checkRelations().
//
// Two liberties, both as the spec and runc allow: unknown properties are
// ignored (kept, never checked), and an optional field that is JSON null
// counts as absent and is removed -- Go's encoding/json, which writes most
// configs, reads null that way. validateSpec never changes its argument; it
// returns a checked copy. The names it accepts come from the kernel-number
// tables in ./kernel-numbers.ts.
//
// The book: docs/09-writing-runtime.md, "Checking config.json";
// docs/design/runtime-core.md.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RuntsError, wrap } from '../errors.ts';
import type { IOPriorityClass, POSIXRlimit, Process, SchedulerFlag, SchedulerPolicy, Spec } from './types.ts';
import { CAPABILITY_NAMES, RLIMIT_NUMBERS } from './kernel-numbers.ts';
import { arrayOf, expectAbsolutePath, expectBoolean, expectInteger, expectNonEmptyString, expectPositiveInteger, expectString, expectUint, expectUint32, integerBetween, invalid, isObject, mapOf, member, nameOf, namesOf, nonEmptyStrings, shape } from './check.ts';
import { checkIdMapping, checkLinux } from './validate-linux.ts';
import { describeJsonError } from './json-syntax.ts';

// The names the spec allows (namesOf: each list complete against its type)
const CAPABILITIES = namesOf(CAPABILITY_NAMES);
const RLIMITS = namesOf(RLIMIT_NUMBERS);
const SCHEDULER_POLICIES = namesOf<SchedulerPolicy>({
  SCHED_OTHER: 1, SCHED_FIFO: 1, SCHED_RR: 1, SCHED_BATCH: 1, SCHED_ISO: 1, SCHED_IDLE: 1, SCHED_DEADLINE: 1,
});
const SCHEDULER_FLAGS = namesOf<SchedulerFlag>({
  SCHED_FLAG_RESET_ON_FORK: 1, SCHED_FLAG_RECLAIM: 1, SCHED_FLAG_DL_OVERRUN: 1, SCHED_FLAG_KEEP_POLICY: 1,
  SCHED_FLAG_KEEP_PARAMS: 1, SCHED_FLAG_UTIL_CLAMP_MIN: 1, SCHED_FLAG_UTIL_CLAMP_MAX: 1,
});
const IOPRIO_CLASSES = namesOf<IOPriorityClass>({ IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 1, IOPRIO_CLASS_IDLE: 1 });
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
