/**
 * The linux section of config.json (validate.ts checks the rest): namespaces
 * and id mappings, devices, cgroup resources, seccomp, sysctls, the time
 * namespace's offsets, network devices, personality, Intel RDT.
 *
 * The book: docs/09-writing-runtime.md, "Checking config.json";
 * docs/design/runtime-core.md.
 */
import { NAMESPACE_FLAGS } from './kernel-numbers.ts';
import type { Linux, LinuxNamespace, LinuxNetDevice, LinuxSeccomp, RootfsPropagation, SeccompAction, SeccompArch, SeccompFlag, SeccompOperator, TimeOffsetClock } from './types.ts';
import { arrayOf, expectAbsolutePath, expectBoolean, expectInt64, expectInteger, expectNonEmptyString, expectPositiveInteger, expectString, expectUint, expectUint16, expectUint32, integerBetween, invalid, mapOf, member, nameOf, namesOf, nonEmptyStrings, oneOf, shape, uintUpTo } from './check.ts';

const NAMESPACE_TYPES = namesOf(NAMESPACE_FLAGS);
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
const TIME_CLOCKS = namesOf<TimeOffsetClock>({ monotonic: 1, boottime: 1 });

export const checkIdMapping = shape({ containerID: expectUint32, hostID: expectUint32, size: expectPositiveInteger });

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

export function checkLinux(path: string, value: unknown): Linux {
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
