// The OCI runtime-spec v1.2 config.json and state, as TypeScript types.
//
// Field names are exactly the JSON names of the spec
// (https://github.com/opencontainers/runtime-spec/blob/v1.2.0/config.md,
// config-linux.md, runtime.md). Only the Linux platform is typed; the
// solaris/windows/vm/zos sections are ignored, as unknown properties are.
//
// These types describe a config *after* validateSpec (./validate.ts) has
// checked it: every field present has the type written here, names such as
// capabilities and rlimits are known ones. Numbers the spec types as uint64
// may exceed Number.MAX_SAFE_INTEGER (RLIM_INFINITY is 2^64-1); JSON.parse
// rounds those, so treat a value >= 2^64-1 as "unlimited".
//
// The book: docs/09-writing-runtime.md, "Checking config.json";
// docs/design/runtime-core.md.

export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

// ---- process ---------------------------------------------------------------

export interface Process {
  terminal?: boolean;
  consoleSize?: ConsoleSize;
  user: User;
  /** at least one entry: the program to execute */
  args: string[];
  /** "KEY=value" strings */
  env?: string[];
  /** absolute path inside the container */
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: POSIXRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  /** -1000 ... 1000 */
  oomScoreAdj?: number;
  scheduler?: Scheduler;
  selinuxLabel?: string;
  ioPriority?: IOPriority;
  execCPUAffinity?: ExecCPUAffinity;
}

export interface ConsoleSize {
  height: number;
  width: number;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export type CapabilityName =
  | 'CAP_CHOWN'
  | 'CAP_DAC_OVERRIDE'
  | 'CAP_DAC_READ_SEARCH'
  | 'CAP_FOWNER'
  | 'CAP_FSETID'
  | 'CAP_KILL'
  | 'CAP_SETGID'
  | 'CAP_SETUID'
  | 'CAP_SETPCAP'
  | 'CAP_LINUX_IMMUTABLE'
  | 'CAP_NET_BIND_SERVICE'
  | 'CAP_NET_BROADCAST'
  | 'CAP_NET_ADMIN'
  | 'CAP_NET_RAW'
  | 'CAP_IPC_LOCK'
  | 'CAP_IPC_OWNER'
  | 'CAP_SYS_MODULE'
  | 'CAP_SYS_RAWIO'
  | 'CAP_SYS_CHROOT'
  | 'CAP_SYS_PTRACE'
  | 'CAP_SYS_PACCT'
  | 'CAP_SYS_ADMIN'
  | 'CAP_SYS_BOOT'
  | 'CAP_SYS_NICE'
  | 'CAP_SYS_RESOURCE'
  | 'CAP_SYS_TIME'
  | 'CAP_SYS_TTY_CONFIG'
  | 'CAP_MKNOD'
  | 'CAP_LEASE'
  | 'CAP_AUDIT_WRITE'
  | 'CAP_AUDIT_CONTROL'
  | 'CAP_SETFCAP'
  | 'CAP_MAC_OVERRIDE'
  | 'CAP_MAC_ADMIN'
  | 'CAP_SYSLOG'
  | 'CAP_WAKE_ALARM'
  | 'CAP_BLOCK_SUSPEND'
  | 'CAP_AUDIT_READ'
  | 'CAP_PERFMON'
  | 'CAP_BPF'
  | 'CAP_CHECKPOINT_RESTORE';

export interface LinuxCapabilities {
  bounding?: CapabilityName[];
  effective?: CapabilityName[];
  inheritable?: CapabilityName[];
  permitted?: CapabilityName[];
  ambient?: CapabilityName[];
}

export type CapabilitySet = keyof LinuxCapabilities;

export type RlimitType =
  | 'RLIMIT_CPU'
  | 'RLIMIT_FSIZE'
  | 'RLIMIT_DATA'
  | 'RLIMIT_STACK'
  | 'RLIMIT_CORE'
  | 'RLIMIT_RSS'
  | 'RLIMIT_NPROC'
  | 'RLIMIT_NOFILE'
  | 'RLIMIT_MEMLOCK'
  | 'RLIMIT_AS'
  | 'RLIMIT_LOCKS'
  | 'RLIMIT_SIGPENDING'
  | 'RLIMIT_MSGQUEUE'
  | 'RLIMIT_NICE'
  | 'RLIMIT_RTPRIO'
  | 'RLIMIT_RTTIME';

export interface POSIXRlimit {
  type: RlimitType;
  hard: number;
  soft: number;
}

export type SchedulerPolicy =
  | 'SCHED_OTHER'
  | 'SCHED_FIFO'
  | 'SCHED_RR'
  | 'SCHED_BATCH'
  | 'SCHED_ISO'
  | 'SCHED_IDLE'
  | 'SCHED_DEADLINE';

export type SchedulerFlag =
  | 'SCHED_FLAG_RESET_ON_FORK'
  | 'SCHED_FLAG_RECLAIM'
  | 'SCHED_FLAG_DL_OVERRUN'
  | 'SCHED_FLAG_KEEP_POLICY'
  | 'SCHED_FLAG_KEEP_PARAMS'
  | 'SCHED_FLAG_UTIL_CLAMP_MIN'
  | 'SCHED_FLAG_UTIL_CLAMP_MAX';

/** sched_setattr(2) */
export interface Scheduler {
  policy: SchedulerPolicy;
  nice?: number;
  priority?: number;
  flags?: SchedulerFlag[];
  runtime?: number;
  deadline?: number;
  period?: number;
}

export type IOPriorityClass = 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';

/** ioprio_set(2) */
export interface IOPriority {
  class: IOPriorityClass;
  /** 0 (highest) ... 7 */
  priority: number;
}

/** cpu lists ("0-3,7") for the process while runts sets it up, and at exec */
export interface ExecCPUAffinity {
  initial?: string;
  final?: string;
}

// ---- root, mounts, hooks ---------------------------------------------------

export interface Root {
  /** relative to the bundle, or absolute */
  path: string;
  readonly?: boolean;
}

export interface Mount {
  /** absolute path inside the container */
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  /** id-mapped mount (mount_setattr MOUNT_ATTR_IDMAP) */
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
}

export interface Hook {
  /** absolute path on the host */
  path: string;
  args?: string[];
  env?: string[];
  /** seconds */
  timeout?: number;
}

export interface Hooks {
  /** deprecated by the spec in favour of createRuntime, still honoured */
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export type HookName = keyof Hooks;

// ---- linux -----------------------------------------------------------------

export interface Linux {
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
  sysctl?: Record<string, string>;
  resources?: LinuxResources;
  cgroupsPath?: string;
  namespaces?: LinuxNamespace[];
  devices?: LinuxDevice[];
  netDevices?: Record<string, LinuxNetDevice>;
  seccomp?: LinuxSeccomp;
  rootfsPropagation?: RootfsPropagation;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: LinuxIntelRdt;
  personality?: LinuxPersonality;
  /** keyed by clock: "monotonic" or "boottime" */
  timeOffsets?: Partial<Record<TimeOffsetClock, LinuxTimeOffset>>;
}

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface LinuxNamespace {
  type: NamespaceType;
  /** join this existing namespace (e.g. /proc/1234/ns/net) instead of creating one */
  path?: string;
}

export interface LinuxIDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export type DeviceType = 'c' | 'b' | 'u' | 'p';

/** a device node runts creates in the container's /dev */
export interface LinuxDevice {
  path: string;
  type: DeviceType;
  /** required unless type is "p" */
  major?: number;
  minor?: number;
  /** permission bits (st_mode & 0o7777); other bits are ignored */
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** moves a host network interface into the container (a late v1.2.x addition) */
export interface LinuxNetDevice {
  /** name inside the container; defaults to the host name */
  name?: string;
}

export type RootfsPropagation =
  | 'shared'
  | 'slave'
  | 'private'
  | 'unbindable'
  | 'rshared'
  | 'rslave'
  | 'rprivate'
  | 'runbindable';

export type TimeOffsetClock = 'monotonic' | 'boottime';

export interface LinuxTimeOffset {
  secs?: number;
  nanosecs?: number;
}

export interface LinuxIntelRdt {
  closID?: string;
  schemata?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  enableCMT?: boolean;
  enableMBM?: boolean;
}

export interface LinuxPersonality {
  domain: 'LINUX' | 'LINUX32';
  flags?: string[];
}

// ---- linux.resources (cgroups) ----------------------------------------------

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  /** keyed by RDMA device name */
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 file name -> value, written as is */
  unified?: Record<string, string>;
}

/** one rule of the device allow/deny list; an absent type/major/minor is a wildcard */
export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  /** some of "r", "w", "m" */
  access?: string;
}

/**
 * An int64 of config.json: a number, or a bigint where the JSON held an
 * integer beyond 2^53 (9223372036854775807 is a valid memory limit, which
 * a plain JSON.parse rounds to 9223372036854775808). See parseSpec.
 */
export type Int64 = number | bigint;

export interface LinuxMemory {
  limit?: Int64;
  reservation?: Int64;
  swap?: Int64;
  /** deprecated by the spec, ignored by cgroup v2 */
  kernel?: Int64;
  kernelTCP?: Int64;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface LinuxCPU {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface LinuxPids {
  /** 0 or -1: no limit */
  limit: number;
}

export interface LinuxBlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxWeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface LinuxHugepageLimit {
  /** "2MB", "1GB", ... */
  pageSize: string;
  limit: number;
}

export interface LinuxNetwork {
  classID?: number;
  priorities?: LinuxInterfacePriority[];
}

export interface LinuxInterfacePriority {
  name: string;
  priority: number;
}

export interface LinuxRdma {
  hcaHandles?: number;
  hcaObjects?: number;
}

// ---- linux.seccomp ----------------------------------------------------------

export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type SeccompArch =
  | 'SCMP_ARCH_X86'
  | 'SCMP_ARCH_X86_64'
  | 'SCMP_ARCH_X32'
  | 'SCMP_ARCH_ARM'
  | 'SCMP_ARCH_AARCH64'
  | 'SCMP_ARCH_MIPS'
  | 'SCMP_ARCH_MIPS64'
  | 'SCMP_ARCH_MIPS64N32'
  | 'SCMP_ARCH_MIPSEL'
  | 'SCMP_ARCH_MIPSEL64'
  | 'SCMP_ARCH_MIPSEL64N32'
  | 'SCMP_ARCH_PPC'
  | 'SCMP_ARCH_PPC64'
  | 'SCMP_ARCH_PPC64LE'
  | 'SCMP_ARCH_S390'
  | 'SCMP_ARCH_S390X'
  | 'SCMP_ARCH_PARISC'
  | 'SCMP_ARCH_PARISC64'
  | 'SCMP_ARCH_RISCV64';

export type SeccompFlag =
  | 'SECCOMP_FILTER_FLAG_TSYNC'
  | 'SECCOMP_FILTER_FLAG_LOG'
  | 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'
  | 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV';

export type SeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export interface LinuxSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: SeccompArch[];
  flags?: SeccompFlag[];
  /** unix socket that receives the notify fd (SCMP_ACT_NOTIFY) */
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

export interface LinuxSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccompArg {
  /** syscall argument 0 ... 5 */
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

// ---- runtime state ----------------------------------------------------------

/** "paused" is runc's addition to the spec's four */
export type ContainerStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

/** what `runts state` prints and hooks receive on stdin */
export interface State {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  pid?: number;
  /** absolute path of the bundle directory */
  bundle: string;
  annotations?: Record<string, string>;
}
