/*
 * fast-verbs.h - the fast verbs' record, as runts-fast reads it.
 *
 * Twin: src/runtime/fast-verbs.ts (FAST_MAGIC, FAST_VERSION, FAST_RECORD,
 * FAST_KEY) and src/runtime/store.ts (MAX_ID), src/rootless/detect.ts (ROOT_STATE_DIR); a unit test
 * (test/unit/fast-verbs.test.ts) checks that both sides agree.
 *
 * `runts create` writes the record into the container's state directory,
 * beside state.json. It is a header line, then entries:
 *
 *   runts-fast-verbs 1\n
 *   KEY LENGTH\n VALUE \n      (LENGTH: bytes of VALUE, which may hold
 *   KEY LENGTH\n VALUE \n       newlines; fields inside one VALUE are
 *   ...                         separated by NUL bytes)
 *
 * A key may repeat (freezer, signal, cgroup). The record is void unless
 * state.json holds exactly the bytes of its state-json entry.
 *
 * Design: docs/design/fast-verbs.md.
 */
#ifndef RUNTS_FAST_VERBS_H
#define RUNTS_FAST_VERBS_H

#define FAST_MAGIC "runts-fast-verbs"
#define FAST_VERSION 1
#define FAST_RECORD "fast-verbs"

/* The state directory root when --root is not given and runts runs as root. */
#define FAST_DEFAULT_ROOT "/run/runts"
/* The longest container id. */
#define FAST_MAX_ID 200
/* Root's image store (unless FAST_KEY_FRONTEND_ENV's variable names another)
 * and, under it, the file of a front-end container: `delete --force ID` of
 * an id with no state directory is the front end's when that file exists. */
#define FAST_FRONTEND_STORE "/var/lib/runts"
#define FAST_FRONTEND_CONTAINER "containers/%s/container.json"
#define FAST_FRONTEND_STORE_ENV "RUNTS_STORE"

#define FAST_KEY_STATE_JSON "state-json"     /* the state.json this record was compiled from */
#define FAST_KEY_DIR "dir"                   /* the state directory */
#define FAST_KEY_LOCK "lock"                 /* the file flock'ed while a verb changes the container */
#define FAST_KEY_FIFO "fifo"                 /* the exec fifo: present until start */
#define FAST_KEY_PID "pid"                   /* INIT's pid */
#define FAST_KEY_PID_START "pid-start"       /* INIT's start time, field 22 of /proc/PID/stat */
#define FAST_KEY_INIT_COMM "init-comm"       /* INIT's name until it execs */
#define FAST_KEY_FREEZER "freezer"           /* PATH\0FROZEN\0THAWED, repeated */
#define FAST_KEY_OUT_CREATED "out-created"   /* `state`'s stdout, per status */
#define FAST_KEY_OUT_RUNNING "out-running"
#define FAST_KEY_OUT_PAUSED "out-paused"
#define FAST_KEY_OUT_STOPPED "out-stopped"
/* The statuses (NUL-separated names) from which a verb may go fast; absent: none. */
#define FAST_KEY_START "start"
#define FAST_KEY_KILL "kill"
#define FAST_KEY_KILL_ALL "kill-all"         /* kill --all, when no cgroup (FAST_KEY_CGROUP) holds a process */
#define FAST_KEY_DELETE "delete"
#define FAST_KEY_DELETE_FORCE "delete-force" /* delete --force */
#define FAST_KEY_SIGNAL "signal"             /* SPELLING\0NUMBER, repeated */
#define FAST_KEY_KILL_DEFAULT "kill-default" /* the signal kill sends when none is given */
#define FAST_KEY_CGROUP "cgroup"             /* a cgroup directory delete removes, repeated */
/* `delete ID` and `rm ID` are the front end's `container rm` when this file
 * exists, or may be when this environment variable is set: Node's, then. */
#define FAST_KEY_FRONTEND_FILE "frontend-file"
#define FAST_KEY_FRONTEND_ENV "frontend-env"

/* The fault points of src/sys/fault.ts that the fast verbs pass (RUNTS_FAULT=NAME kills there). */
#define FAST_FAULT_ENV "RUNTS_FAULT"
#define FAST_FAULT_START_SIGNALLED "start.signalled"
#define FAST_FAULT_DELETE_KILLED "delete.killed"
#define FAST_FAULT_DELETE_UNCGROUPED "delete.uncgrouped"

#endif
