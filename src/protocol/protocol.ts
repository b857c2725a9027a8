/**
 * The wire contract between runts (this side) and runts-init (the C executor).
 *
 * Twin: native/protocol.h, which documents every message and step in full.
 * Each constant here has the same name and value there; test/unit/protocol.test.ts
 * checks that they agree. Change both and bump PROTOCOL_VERSION, or neither.
 *
 * The book: docs/09-writing-runtime.md, "The plan and the C stage".
 */

export const RUNTS_PROTOCOL_VERSION = 12;
export const RUNTS_PLAN_MAGIC = 0x53544e52;
/** Slots 0..RUNTS_SLOTS-1: descriptors PARENT opens for INIT to use later. */
export const RUNTS_SLOTS = 16;

export const MSG = {
  MSG_HELLO: 1,
  MSG_PLAN: 2,
  MSG_PID: 3,
  MSG_HOOKS: 4,
  MSG_HOOKS_DONE: 5,
  MSG_ABORT: 6,
  MSG_CREATED: 7,
  MSG_ERROR: 8,
  MSG_EXIT: 9,
} as const;

export const VAL = { VAL_INT: 1, VAL_STR: 2, VAL_STRS: 3, VAL_INTS: 4 } as const;

export const STEP = {
  STEP_MKFIFO: 1,
  STEP_CONSOLE_CONNECT: 2,
  STEP_JOIN_NS: 3,
  STEP_CLONE: 4,
  STEP_WRITE_ID_MAP: 5,
  STEP_CGROUP_ADD: 6,
  STEP_SUPERVISE: 7,
  STEP_EXIT_FILE: 8,
  STEP_IDMAP_TREE: 9,
  STEP_SECCOMP_RECORD: 10,
  STEP_UNSHARE_TIME: 11,
  STEP_DENY_SETGROUPS: 12,
  STEP_ID_MAP_TOOL: 13,
  STEP_PIDFD_CONNECT: 14,
  STEP_SUBREAPER: 15,
  STEP_CLONE_TREE: 16,
  STEP_BECOME_ROOT: 20,
  STEP_UNSHARE: 21,
  STEP_SET_PROPAGATION: 22,
  STEP_ROOTFS: 23,
  STEP_MOUNT: 24,
  STEP_MOUNT_PROPAGATION: 25,
  STEP_MKNOD: 26,
  STEP_BIND_DEVICE: 27,
  STEP_SYMLINK: 28,
  STEP_WRITE_PROC: 29,
  STEP_HOOKS_SYNC: 30,
  STEP_RUN_HOOK: 31,
  STEP_PIVOT_ROOT: 32,
  STEP_CHROOT: 33,
  STEP_MASK_PATH: 34,
  STEP_READONLY_PATH: 35,
  STEP_REMOUNT_ROOT_RO: 36,
  STEP_SET_HOSTNAME: 37,
  STEP_SET_DOMAINNAME: 38,
  STEP_SETRLIMIT: 39,
  STEP_SETUP_CONSOLE: 40,
  STEP_SETSID: 41,
  STEP_CAP_BOUNDING: 42,
  STEP_SET_USER: 43,
  STEP_SET_CAPS: 44,
  STEP_NO_NEW_PRIVS: 45,
  STEP_SECCOMP: 46,
  STEP_UMASK: 47,
  STEP_CHDIR: 48,
  STEP_PREPARE_EXEC: 49,
  STEP_CLOSE_FDS: 50,
  STEP_REPORT_CREATED: 51,
  STEP_WAIT_START: 52,
  STEP_EXEC: 53,
  STEP_MOUNT_TREE: 54,
  STEP_SEND_PIDFD: 55,
  STEP_REOPEN_DEV_NULL: 56,
  STEP_HOLD_DIR: 57,
  STEP_COPY_UP: 58,
  STEP_ENTER_NS: 60,
  STEP_CONSOLE_PAIR: 61,
  STEP_LSM_OPEN_ATTR: 70,
  STEP_LSM_WRITE_ATTR: 71,
  STEP_SESSION_KEYRING: 72,
  STEP_CGROUP_DEVICE_FILTER: 80,
  STEP_MOUNT_SETATTR: 90,
  STEP_DETACH_MOUNT: 91,
} as const;

export type StepName = keyof typeof STEP;
