/*
 * runts-init.h - what the executor's three files share: the decoded plan,
 * the channel to runts, the table of held descriptors and the error helper.
 *
 * The contract these serve is native/protocol.h (twin: src/protocol/protocol.ts).
 * The book: docs/09-writing-runtime.md, "The plan and the C stage".
 */
#ifndef RUNTS_INIT_H
#define RUNTS_INIT_H

#include <stddef.h>
#include <stdint.h>

#include "protocol.h"

/* The most values any op carries (STEP_MOUNT). */
#define MAX_VALUES 7
/* "slot" in protocol.h: descriptors PARENT opens for INIT to use later. */
#define SLOTS RUNTS_SLOTS

/* One decoded value; which member is set is fixed by the op's signature. */
struct value {
	uint64_t num;    /* VAL_INT */
	char *str;       /* VAL_STR, with a NUL appended */
	uint32_t len;    /* VAL_STR: byte length; VAL_STRS, VAL_INTS: count */
	char **strs;     /* VAL_STRS, NULL-terminated: ready for execve */
	uint64_t *nums;  /* VAL_INTS */
};

struct step {
	uint32_t op;
	int index; /* 0-based position in the plan: what MSG_ERROR reports */
	struct value v[MAX_VALUES];
};

typedef void step_fn(const struct step *s);

/* ---- runts-init.c: the plan decoder --------------------------------------- */

struct plan {
	uint32_t count;
	struct step *steps;
	const struct step *clone;
	int supervise;
	const struct step *exit_file;
	const struct step *record;
	int id_maps; /* PARENT writes INIT's id maps (see init_stage) */
};

/* Why a plan was refused: the step (-1: the plan as a whole), an errno for
 * MSG_ERROR, and the message ("plan: ..."). */
struct plan_error {
	int index;
	int err;
	char msg[256];
};

/* Decodes and checks len bytes of MSG_PLAN against the ops table; runs
 * nothing. 0 and a plan to release with plan_free, or -1 and *e filled. */
int plan_decode(const uint8_t *buf, size_t len, struct plan *pl, struct plan_error *e);
void plan_free(struct plan *pl);
/* The values op carries, one letter each (see the ops table), or NULL for
 * an unknown op: what test/fuzz/plan-decoder.c encodes a plan back with. */
const char *plan_signature(uint32_t op);

/* ---- runts-init.c: the channel and errors ------------------------------ */

struct msg {
	uint32_t type;
	uint32_t len;
	uint8_t *data;
};

extern int slots[SLOTS];

int send_msg(uint32_t type, const void *payload, uint32_t len);
/* 1: len bytes read, 0: end of file before the first, -1: error or short. */
int read_all(int fd, void *buf, size_t len);
/* INIT's end of the go socket, kept until execve when the plan records
 * system calls (STEP_SECCOMP_RECORD); -1 otherwise. */
extern int go_fd;
int recv_msg(struct msg *m);
void close_channel(void);

/* Report a failed step (MSG_ERROR, or stderr once the channel is closed) and
 * exit with status. The message says what and where, never why: runts
 * appends the text of err (0: no system error, the message is complete). */
__attribute__((noreturn, format(printf, 4, 5)))
void die(int status, int step, int err, const char *fmt, ...);
#define fail(step, err, ...) die(1, step, err, __VA_ARGS__)

/* ---- steps_fs.c: the root and everything mounted in it ------------------ */

extern int root_fd;
int open_in_root(const char *path, uint64_t flags);
/* runts-init.c: one write(2) of data to path (id maps, cgroup files). */
int write_once(const char *path, const char *data, size_t len);
int bind_fd_in_root(int src, const char *path);

step_fn step_set_propagation, step_rootfs, step_mount, step_mount_propagation,
	step_mknod, step_bind_device, step_symlink, step_write_proc,
	step_pivot_root, step_chroot, step_reopen_dev_null, step_mask_path, step_readonly_path,
	step_remount_root_ro, step_chdir, step_idmap_tree, step_mount_tree,
	step_clone_tree;

/* ---- steps_proc.c: the process that becomes the container -------------- */

step_fn step_hooks_sync, step_run_hook, step_set_hostname,
	step_set_domainname, step_setrlimit, step_setup_console, step_setsid,
	step_set_user, step_umask, step_prepare_exec, step_close_fds,
	step_report_created, step_wait_start, step_exec, step_send_pidfd;
/* sendmsg of msg with fd as SCM_RIGHTS; -1 and errno on failure. */
int send_fd(int sock, const char *msg, int fd);

/* ---- steps_ns.c: the namespaces INIT makes or enters itself ------------- */

step_fn step_become_root, step_unshare, step_enter_ns;

/* ---- steps_tty.c: terminals --------------------------------------------- */

step_fn step_console_pair;
/* PARENT, supervising: proxy the terminal until INIT exits (no-op without
 * STEP_CONSOLE_PAIR). INIT is left for the caller to reap. */
void console_proxy(int init_pid);

/* ---- steps_security.c: checks, capabilities, seccomp, LSM, keyring ------ */

int cwd_inside_root(void);
step_fn step_cap_bounding, step_set_caps, step_no_new_privs, step_seccomp,
	step_lsm_open_attr, step_lsm_write_attr, step_session_keyring;

/* ---- steps_record.c: STEP_SECCOMP_RECORD ---------------------------------- */

/* PARENT, supervising: take INIT's listener and record until INIT exits. */
void record_syscalls(const struct step *s, int pid, int go);

/* ---- steps_cgroup.c: cgroup v2 device rules ------------------------------- */

step_fn step_cgroup_device_filter;

/* ---- steps_copyup.c: tmpcopyup ------------------------------------------- */

step_fn step_hold_dir, step_copy_up;

/* ---- steps_mounttree.c: whole mount trees -------------------------------- */

step_fn step_mount_setattr, step_detach_mount;

#endif
