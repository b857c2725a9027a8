/*
 * runts-init.c - the C stage of runts: it executes a plan and knows no OCI.
 *
 * The contract is native/protocol.h (twin: src/protocol/protocol.ts); read it
 * first, every message and step op used here is specified there.
 * The book: docs/09-writing-runtime.md, "The plan and the C stage".
 *
 * This file holds the channel, the plan decoder and the stages. The steps
 * live by concern, as the TypeScript folders do: steps_fs.c and
 * steps_mounttree.c (the root and its mounts), steps_copyup.c (a tmpfs
 * that starts with the image's files), steps_ns.c (namespaces),
 * steps_proc.c (identity, limits, console, hooks, exec), steps_security.c
 * (capabilities, no_new_privs, seccomp, LSM, keyring), steps_record.c,
 * steps_cgroup.c and steps_tty.c.
 *
 * STAGES
 *   0  seal     before anything: re-exec from a sealed memfd copy of
 *               ourselves, so no process of ours can expose the host binary.
 *   runts:[0:PARENT]
 *               the process runts spawned, still in runts's namespaces.
 *               Greets, reads the plan, runs the P steps, clones INIT into
 *               the new namespaces, runs the Q steps (they need INIT to
 *               exist but not yet run: id maps, cgroup placement), reports
 *               INIT's pid, then releases INIT with GO. With
 *               STEP_SUPERVISE or STEP_EXIT_FILE it stays INIT's parent
 *               until INIT exits; with EXIT_FILE alone, detached from runts.
 *   runts:[1:INIT]
 *               born in the new namespaces, blocked until GO. Runs the I
 *               steps in plan order and finally becomes the container
 *               process with execve.
 *
 * GO is not a protocol message: it is one byte over a socketpair made
 * before clone, so INIT cannot act before PARENT has finished the Q steps
 * and told runts its pid.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runts-init.h"

extern char **environ;

/* A plan is a few kilobytes; this only stops a garbage length. */
#define MAX_MSG (64u << 20)

/* Only namespaces may be asked of clone: the other flags would share memory
 * or signal handling with PARENT, which fork semantics here cannot survive. */
#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
		  CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

int slots[SLOTS] = {[0 ... SLOTS - 1] = -1};
int go_fd = -1;
static int sync_fd = -1;
static pid_t init_pid;
/* Until GO, a failing PARENT takes INIT down with it: runts was never told
 * about it, or will discard it. */
static pid_t kill_on_fail;

/* ---- channel ------------------------------------------------------------
 * u32 type | u32 length | payload, host byte order, both directions.
 * MSG_NOSIGNAL everywhere: a vanished runts is an error, not a SIGPIPE. */

static int send_all(int fd, const void *buf, size_t len)
{
	for (const char *p = buf; len > 0;) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EPIPE;
			return got ? -1 : 0;
		}
		got += (size_t)n;
	}
	return 1;
}

int send_msg(uint32_t type, const void *payload, uint32_t len)
{
	uint32_t head[2] = {type, len};
	uint8_t *buf = malloc(8 + (size_t)len);
	if (!buf)
		return -1;
	memcpy(buf, head, 8);
	if (len)
		memcpy(buf + 8, payload, len);
	int r = send_all(sync_fd, buf, 8 + (size_t)len);
	free(buf);
	return r;
}

/* 1: a message, 0: runts closed the channel, -1: error. */
int recv_msg(struct msg *m)
{
	uint32_t head[2];
	int r = read_all(sync_fd, head, sizeof head);
	if (r <= 0)
		return r;
	m->type = head[0];
	m->len = head[1];
	if (m->len > MAX_MSG) {
		errno = EMSGSIZE;
		return -1;
	}
	m->data = malloc((size_t)m->len + 1);
	if (!m->data)
		return -1;
	if (m->len && read_all(sync_fd, m->data, m->len) != 1)
		return -1;
	m->data[m->len] = 0;
	return 1;
}

void close_channel(void)
{
	close(sync_fd);
	sync_fd = -1;
}

void die(int status, int step, int err, const char *fmt, ...)
{
	char buf[8 + 1024], *msg = buf + 8;
	int32_t head[2] = {step, err};
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof buf - 8, fmt, ap);
	va_end(ap);
	n = n < 0 ? 0 : n >= (int)sizeof buf - 8 ? (int)sizeof buf - 9 : n;
	memcpy(buf, head, 8);
	if (sync_fd < 0 || send_msg(MSG_ERROR, buf, 8 + (uint32_t)n) < 0)
		fprintf(stderr, "runts-init: %s%s%s\n", msg, err ? ": " : "",
			err ? strerror(err) : "");
	if (kill_on_fail > 0) {
		kill(kill_on_fail, SIGKILL);
		waitpid(kill_on_fail, NULL, 0);
	}
	exit(status);
}

/* ---- the plan ------------------------------------------------------------
 * Each op has a fixed owner and a fixed list of values. The decoder checks
 * the whole plan against this table before a single step runs, so a
 * malformed plan is one MSG_ERROR and never a half-built container.
 *
 * Signature letters: i INT, n INT that is a slot (0..SLOTS-1), s STR (text,
 * no NUL inside), b STR of raw bytes (NUL allowed), S STRS, I INTS. */

static step_fn step_mkfifo, step_console_connect, step_join_ns, step_unshare_time,
	step_write_id_map, step_deny_setgroups, step_id_map_tool, step_cgroup_add,
	step_pidfd_connect, step_subreaper;

static const struct op {
	char who; /* 'P', 'C' (the clone itself), 'Q' or 'I' */
	const char *sig;
	step_fn *run; /* NULL: the stage itself acts on it */
} ops[] = {
	[STEP_MKFIFO] = {'P', "ns", step_mkfifo},
	[STEP_CONSOLE_CONNECT] = {'P', "ns", step_console_connect},
	[STEP_JOIN_NS] = {'P', "is", step_join_ns},
	[STEP_CLONE] = {'C', "i", NULL},
	[STEP_WRITE_ID_MAP] = {'Q', "is", step_write_id_map},
	[STEP_DENY_SETGROUPS] = {'Q', "", step_deny_setgroups},
	[STEP_ID_MAP_TOOL] = {'Q', "sS", step_id_map_tool},
	[STEP_PIDFD_CONNECT] = {'P', "ns", step_pidfd_connect},
	[STEP_SUBREAPER] = {'Q', "", step_subreaper},
	[STEP_CLONE_TREE] = {'P', "nsiii", step_clone_tree},
	[STEP_CGROUP_ADD] = {'Q', "s", step_cgroup_add},
	[STEP_SUPERVISE] = {'Q', "", NULL},
	[STEP_EXIT_FILE] = {'Q', "s", NULL},
	[STEP_IDMAP_TREE] = {'P', "nsissii", step_idmap_tree},
	[STEP_SECCOMP_RECORD] = {'Q', "s", NULL},
	[STEP_UNSHARE_TIME] = {'P', "s", step_unshare_time},
	[STEP_BECOME_ROOT] = {'I', "", step_become_root},
	[STEP_UNSHARE] = {'I', "i", step_unshare},
	[STEP_SET_PROPAGATION] = {'I', "si", step_set_propagation},
	[STEP_ROOTFS] = {'I', "s", step_rootfs},
	[STEP_MOUNT] = {'I', "sssisii", step_mount},
	[STEP_MOUNT_PROPAGATION] = {'I', "si", step_mount_propagation},
	[STEP_MKNOD] = {'I', "siiiii", step_mknod},
	[STEP_BIND_DEVICE] = {'I', "ss", step_bind_device},
	[STEP_SYMLINK] = {'I', "ss", step_symlink},
	[STEP_WRITE_PROC] = {'I', "ss", step_write_proc},
	[STEP_HOOKS_SYNC] = {'I', "", step_hooks_sync},
	[STEP_RUN_HOOK] = {'I', "sSSii", step_run_hook},
	[STEP_PIVOT_ROOT] = {'I', "", step_pivot_root},
	[STEP_CHROOT] = {'I', "", step_chroot},
	[STEP_REOPEN_DEV_NULL] = {'I', "", step_reopen_dev_null},
	[STEP_HOLD_DIR] = {'I', "ns", step_hold_dir},
	[STEP_COPY_UP] = {'I', "nsii", step_copy_up},
	[STEP_MASK_PATH] = {'I', "s", step_mask_path},
	[STEP_READONLY_PATH] = {'I', "s", step_readonly_path},
	[STEP_REMOUNT_ROOT_RO] = {'I', "", step_remount_root_ro},
	[STEP_SET_HOSTNAME] = {'I', "s", step_set_hostname},
	[STEP_SET_DOMAINNAME] = {'I', "s", step_set_domainname},
	[STEP_SETRLIMIT] = {'I', "iii", step_setrlimit},
	[STEP_SETUP_CONSOLE] = {'I', "niisi", step_setup_console},
	[STEP_SETSID] = {'I', "", step_setsid},
	[STEP_CAP_BOUNDING] = {'I', "i", step_cap_bounding},
	[STEP_SET_USER] = {'I', "iiI", step_set_user},
	[STEP_SET_CAPS] = {'I', "iiii", step_set_caps},
	[STEP_NO_NEW_PRIVS] = {'I', "", step_no_new_privs},
	[STEP_SECCOMP] = {'I', "bi", step_seccomp},
	[STEP_UMASK] = {'I', "i", step_umask},
	[STEP_CHDIR] = {'I', "si", step_chdir},
	[STEP_PREPARE_EXEC] = {'I', "SS", step_prepare_exec},
	[STEP_CLOSE_FDS] = {'I', "i", step_close_fds},
	[STEP_REPORT_CREATED] = {'I', "", step_report_created},
	[STEP_WAIT_START] = {'I', "n", step_wait_start},
	[STEP_EXEC] = {'I', "", step_exec},
	[STEP_MOUNT_TREE] = {'I', "nsi", step_mount_tree},
	[STEP_SEND_PIDFD] = {'I', "ns", step_send_pidfd},
	[STEP_ENTER_NS] = {'I', "is", step_enter_ns},
	[STEP_CONSOLE_PAIR] = {'P', "n", step_console_pair},
	[STEP_LSM_OPEN_ATTR] = {'I', "nS", step_lsm_open_attr},
	[STEP_LSM_WRITE_ATTR] = {'I', "ns", step_lsm_write_attr},
	[STEP_SESSION_KEYRING] = {'I', "si", step_session_keyring},
	[STEP_CGROUP_DEVICE_FILTER] = {'P', "sb", step_cgroup_device_filter},
	[STEP_MOUNT_SETATTR] = {'I', "sii", step_mount_setattr},
	[STEP_DETACH_MOUNT] = {'I', "s", step_detach_mount},
};

const char *plan_signature(uint32_t op)
{
	return op < sizeof ops / sizeof ops[0] && ops[op].who ? ops[op].sig : NULL;
}

struct reader {
	const uint8_t *p, *end;
};

static int take(struct reader *r, void *out, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return -1;
	memcpy(out, r->p, n);
	r->p += n;
	return 0;
}

/* A length-prefixed string, copied out with a NUL appended. */
static const char *take_str(struct reader *r, char **out, uint32_t *len, int text)
{
	if (take(r, len, 4) || (size_t)(r->end - r->p) < *len)
		return "truncated";
	if (text && memchr(r->p, 0, *len))
		return "NUL inside a string";
	if (!(*out = malloc((size_t)*len + 1)))
		return "out of memory";
	memcpy(*out, r->p, *len);
	(*out)[*len] = 0;
	r->p += *len;
	return NULL;
}

static const char *take_value(struct reader *r, char kind, struct value *v)
{
	static const uint8_t tags[128] = {['i'] = VAL_INT, ['n'] = VAL_INT,
		['s'] = VAL_STR, ['b'] = VAL_STR, ['S'] = VAL_STRS, ['I'] = VAL_INTS};
	uint8_t tag;
	if (take(r, &tag, 1))
		return "truncated";
	if (tag != tags[(int)kind])
		return "wrong value tag";
	switch (tag) {
	case VAL_INT:
		if (take(r, &v->num, 8))
			return "truncated";
		return kind == 'n' && v->num >= SLOTS ? "slot out of range" : NULL;
	case VAL_STR:
		return take_str(r, &v->str, &v->len, kind == 's');
	case VAL_STRS:
		/* each string costs at least its 4-byte length: bound count first */
		if (take(r, &v->len, 4) || v->len > (size_t)(r->end - r->p) / 4)
			return "truncated";
		if (!(v->strs = calloc((size_t)v->len + 1, sizeof *v->strs)))
			return "out of memory";
		for (uint32_t k = 0; k < v->len; k++) {
			uint32_t n;
			const char *e = take_str(r, &v->strs[k], &n, 1);
			if (e)
				return e;
		}
		return NULL;
	default: /* VAL_INTS */
		if (take(r, &v->len, 4) || v->len > (size_t)(r->end - r->p) / 8)
			return "truncated";
		if (!(v->nums = malloc((size_t)v->len * 8 + 1)))
			return "out of memory";
		return take(r, v->nums, (size_t)v->len * 8) ? "truncated" : NULL;
	}
}

/* Rejects the plan: fills e ("plan: " and what is wrong) and frees what the
 * decoder had allocated. Returns -1, what plan_decode returns. */
__attribute__((format(printf, 5, 6)))
static int reject(struct plan *pl, struct plan_error *e, int index, int err,
		  const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(e->msg, sizeof e->msg, "plan: ");
	va_start(ap, fmt);
	vsnprintf(e->msg + n, sizeof e->msg - (size_t)n, fmt, ap);
	va_end(ap);
	e->index = index;
	e->err = err;
	plan_free(pl);
	return -1;
}

#define plan_error(index, ...) reject(pl, e, index, EINVAL, __VA_ARGS__)

void plan_free(struct plan *pl)
{
	for (uint32_t i = 0; pl->steps && i < pl->count; i++) {
		for (int k = 0; k < MAX_VALUES; k++) {
			struct value *v = &pl->steps[i].v[k];
			free(v->str);
			for (char **p = v->strs; p && *p; p++)
				free(*p);
			free(v->strs);
			free(v->nums);
		}
	}
	free(pl->steps);
	*pl = (struct plan){0};
}

/* Decodes and checks a whole plan without running anything: the decoder
 * does no I/O and keeps no state, so test/fuzz/plan-decoder.c calls it on
 * arbitrary bytes. 0: *pl holds the plan (plan_free releases it); -1: *e
 * says what is wrong and with which step, and *pl is empty. */
int plan_decode(const uint8_t *data, size_t len, struct plan *pl, struct plan_error *e)
{
	struct reader r = {data, data + len};
	uint32_t head[4];
	*pl = (struct plan){0};
	if (take(&r, head, sizeof head))
		return plan_error(-1, "truncated header");
	if (head[0] != RUNTS_PLAN_MAGIC)
		return plan_error(-1, "bad magic 0x%08x", head[0]);
	if (head[1] != RUNTS_PROTOCOL_VERSION)
		return plan_error(-1, "version %u, this runts-init speaks %u", head[1],
				  RUNTS_PROTOCOL_VERSION);
	if (head[3] != 0)
		return plan_error(-1, "unknown flags 0x%x", head[3]);
	/* each step costs at least its 8-byte header: bound count first */
	if (head[2] > len / 8)
		return plan_error(-1, "%u steps cannot fit in %zu bytes", head[2], len);
	if (!(pl->steps = calloc((size_t)head[2] + 1, sizeof *pl->steps)))
		return reject(pl, e, -1, ENOMEM, "allocate %u steps", head[2]);
	pl->count = head[2];
	for (uint32_t i = 0; i < pl->count; i++) {
		struct step *s = &pl->steps[i];
		uint32_t plen;
		s->index = (int)i;
		if (take(&r, &s->op, 4) || take(&r, &plen, 4) ||
		    (size_t)(r.end - r.p) < plen)
			return plan_error(s->index, "step %u: truncated", i);
		if (s->op >= sizeof ops / sizeof ops[0] || !ops[s->op].who)
			return plan_error(s->index, "step %u: unknown op %u", i, s->op);
		const struct op *op = &ops[s->op];
		/* Who runs what follows from where CLONE stands. */
		if (op->who == 'C' && pl->clone)
			return plan_error(s->index, "step %u: a second clone", i);
		if (op->who == 'P' && pl->clone)
			return plan_error(s->index, "step %u: op %u must come before clone", i, s->op);
		if ((op->who == 'Q' || op->who == 'I') && !pl->clone)
			return plan_error(s->index, "step %u: op %u must come after clone", i, s->op);
		if (op->who == 'C')
			pl->clone = s;
		if (s->op == STEP_SUPERVISE)
			pl->supervise = 1;
		if (s->op == STEP_EXIT_FILE)
			pl->exit_file = s;
		if (s->op == STEP_SECCOMP_RECORD)
			pl->record = s;
		if (s->op == STEP_WRITE_ID_MAP || s->op == STEP_DENY_SETGROUPS ||
		    s->op == STEP_ID_MAP_TOOL)
			pl->id_maps = 1;
		struct reader pr = {r.p, r.p + plen};
		for (int k = 0; op->sig[k]; k++) {
			const char *why = take_value(&pr, op->sig[k], &s->v[k]);
			if (why)
				return plan_error(s->index, "step %u (op %u): value %d: %s",
						  i, s->op, k, why);
		}
		if (pr.p != pr.end)
			return plan_error(s->index, "step %u (op %u): %zu bytes after the values",
					  i, s->op, (size_t)(pr.end - pr.p));
		r.p += plen;
	}
	if (r.p != r.end)
		return plan_error(-1, "%zu bytes after the last step", (size_t)(r.end - r.p));
	if (!pl->clone)
		return plan_error(-1, "no clone step");
	if (pl->record && !pl->supervise)
		return plan_error(pl->record->index, "recording system calls needs a supervising PARENT");
	if (pl->clone->v[0].num & ~(uint64_t)NS_FLAGS)
		return plan_error(pl->clone->index, "clone flags 0x%llx are not only namespaces",
				  (unsigned long long)pl->clone->v[0].num);
	return 0;
}

static void run_steps(const struct plan *pl, char who)
{
	for (uint32_t i = 0; i < pl->count; i++) {
		const struct step *s = &pl->steps[i];
		if (ops[s->op].who == who && ops[s->op].run)
			ops[s->op].run(s);
	}
}

/* ---- P and Q steps -------------------------------------------------------
 * They run in runts's own namespaces (P), or reach into INIT from there (Q):
 * a path here is a host path. */

static void step_mkfifo(const struct step *s)
{
	const char *path = s->v[1].str;
	if (mkfifo(path, 0600) < 0)
		fail(s->index, errno, "mkfifo %s", path);
	/* O_RDWR: the open cannot block, and INIT keeps the read side */
	if ((slots[s->v[0].num] = open(path, O_RDWR | O_CLOEXEC)) < 0)
		fail(s->index, errno, "open fifo %s", path);
}

/* The socket a caller listens on (--console-socket, --pidfd-socket). */
static void connect_socket(const struct step *s, const char *what)
{
	const char *path = s->v[1].str;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		fail(s->index, ENAMETOOLONG, "connect to %s %s", what, path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		fail(s->index, errno, "connect to %s %s", what, path);
	slots[s->v[0].num] = fd;
}

static void step_console_connect(const struct step *s)
{
	connect_socket(s, "console socket");
}

static void step_pidfd_connect(const struct step *s)
{
	connect_socket(s, "pidfd socket");
}

/* Orphans of the container (without a pid namespace of its own) come to
 * PARENT rather than to the host's init; the wait loop reaps them. */
static void step_subreaper(const struct step *s)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fail(s->index, errno, "become a child subreaper");
}

/* The namespaces PARENT joins, by step index, opened before the first is
 * joined (as runc's nsexec does): once inside a joined user namespace
 * PARENT is no longer root of the host, and the kernel may refuse it the
 * /proc/<pid>/ns files of a process there (the ptrace access check). */
static int *join_fds;

static void open_join_namespaces(const struct plan *pl)
{
	if (!(join_fds = calloc(pl->count, sizeof *join_fds)))
		fail(-1, ENOMEM, "allocate the namespace descriptors");
	for (uint32_t i = 0; i < pl->count; i++) {
		const struct step *s = &pl->steps[i];
		if (s->op == STEP_JOIN_NS &&
		    (join_fds[i] = open(s->v[1].str, O_RDONLY | O_CLOEXEC)) < 0)
			fail(s->index, errno, "open namespace %s", s->v[1].str);
	}
}

static void step_join_ns(const struct step *s)
{
	if (setns(join_fds[s->index], (int)s->v[0].num) < 0)
		fail(s->index, errno, "join namespace %s", s->v[1].str);
	close(join_fds[s->index]);
}

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static void step_unshare_time(const struct step *s)
{
	if (unshare(CLONE_NEWTIME) < 0)
		fail(s->index, errno, "unshare a time namespace");
	if (s->v[0].len && write_once("/proc/self/timens_offsets", s->v[0].str, s->v[0].len) < 0)
		fail(s->index, errno, "write the time offsets %s", s->v[0].str);
}

/* One write(2): the kernel takes an id map or a pid in a single write only. */
int write_once(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	int err = n < 0 ? errno : (size_t)n != len ? EIO : 0;
	close(fd);
	errno = err;
	return err ? -1 : 0;
}

static void step_write_id_map(const struct step *s)
{
	char path[64];
	if (s->v[0].num > 1)
		fail(s->index, EINVAL, "id map kind %llu", (unsigned long long)s->v[0].num);
	snprintf(path, sizeof path, "/proc/%d/%s", (int)init_pid,
		 s->v[0].num ? "gid_map" : "uid_map");
	if (write_once(path, s->v[1].str, s->v[1].len) < 0)
		fail(s->index, errno, "write %s", path);
}

static void step_deny_setgroups(const struct step *s)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/setgroups", (int)init_pid);
	if (write_once(path, "deny", 4) < 0)
		fail(s->index, errno, "write deny to %s", path);
}

/* newuidmap/newgidmap <init pid> triples...: a setuid helper checks the
 * ranges against /etc/subuid or /etc/subgid and writes the map for us. Its
 * stderr comes back through a pipe: its complaint is the step's message. */
static void step_id_map_tool(const struct step *s)
{
	const char *tool = s->v[0].str;
	char pid[16], why[512];
	int out[2], status;
	uint32_t n = s->v[1].len;
	char **argv = calloc((size_t)n + 3, sizeof *argv);
	if (!argv)
		fail(s->index, ENOMEM, "run %s", tool);
	snprintf(pid, sizeof pid, "%d", (int)init_pid);
	argv[0] = (char *)tool;
	argv[1] = pid;
	for (uint32_t k = 0; k < n; k++)
		argv[k + 2] = s->v[1].strs[k];
	if (pipe2(out, O_CLOEXEC) < 0)
		fail(s->index, errno, "run %s", tool);
	pid_t child = fork();
	if (child < 0)
		fail(s->index, errno, "run %s", tool);
	if (child == 0) {
		char *envp[] = {NULL};
		dup2(out[1], 2);
		execve(tool, argv, envp);
		_exit(127);
	}
	close(out[1]);
	free(argv);
	size_t len = 0;
	for (ssize_t r; len < sizeof why - 1 &&
	     (r = read(out[0], why + len, sizeof why - 1 - len)) != 0;)
		if (r > 0)
			len += (size_t)r;
		else if (errno != EINTR)
			break;
	why[len] = 0;
	why[strcspn(why, "\n")] = 0;
	close(out[0]);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			fail(s->index, errno, "wait for %s", tool);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !*why)
		fail(s->index, ENOENT, "run %s", tool);
	if (!WIFEXITED(status))
		fail(s->index, 0, "%s %s ...: killed by signal %d", tool, pid,
		     WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		fail(s->index, 0, "%s %s ...: exit status %d%s%s", tool, pid,
		     WEXITSTATUS(status), *why ? ": " : "", why);
}

static void step_cgroup_add(const struct step *s)
{
	char pid[16];
	int n = snprintf(pid, sizeof pid, "%d", (int)init_pid);
	if (write_once(s->v[0].str, pid, (size_t)n) < 0)
		fail(s->index, errno, "adding pid %s to %s", pid, s->v[0].str);
}

/* ---- runts:[1:INIT] -------------------------------------------------------
 * Born inside the new namespaces with nothing done yet. It must not move
 * before GO: until then its uid map may be unwritten and it may sit in the
 * wrong cgroup, and runts does not know its pid. */

__attribute__((noreturn)) static void init_stage(const struct plan *pl, int go)
{
	char c;
	prctl(PR_SET_NAME, "runts:[1:INIT]");
	/* Until execve resets it, nobody in the container may open
	 * /proc/<init>/exe, mem or fd: they still lead to runts's objects.
	 * Except while PARENT writes our id maps: a non-dumpable process's
	 * /proc files belong to the host's root, and an unprivileged PARENT
	 * (or newuidmap, which checks who owns us) could not write them. INIT
	 * does nothing before GO, so it stays dumpable only while it waits. */
	if (!pl->id_maps)
		prctl(PR_SET_DUMPABLE, 0);
	if (read_all(go, &c, 1) != 1)
		_exit(1); /* PARENT failed and has said why */
	if (pl->record)
		go_fd = go; /* for STEP_SECCOMP; close-on-exec */
	else
		close(go);
	prctl(PR_SET_DUMPABLE, 0);
	/* the root for "in root" paths until STEP_ROOTFS names another: after a
	 * JOIN_NS of a mount namespace this already is the container's */
	if ((root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		fail(pl->clone->index, errno, "open /");
	run_steps(pl, 'I');
	exit(0);
}

/* ---- the exit file (STEP_EXIT_FILE) ---------------------------------------
 * The record of how INIT ended, for when nobody listens on the channel any
 * more: one line, written whole to a temporary name and renamed, so a
 * reader never sees half of it. */

static int record_exit(const char *path, int status)
{
	char tmp[4096], line[64];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int n = snprintf(line, sizeof line, "%d %lld %ld\n", status,
			 (long long)now.tv_sec, now.tv_nsec);
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int ok = write(fd, line, (size_t)n) == n;
	if (close(fd) < 0 || !ok || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* A detached supervisor keeps nothing of runts's: no channel, no stdio (for
 * a detached container that is its log), no other descriptor, no working
 * directory. /dev/null is opened before GO, so a failure still takes INIT
 * down and reaches runts. */
static int open_detached(const struct step *s)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		fail(s->index, errno, "open /dev/null for the detached supervisor");
	if (chdir("/") < 0)
		fail(s->index, errno, "chdir / for the detached supervisor");
	return null;
}

static void detach_from_runts(int null)
{
	signal(SIGPIPE, SIG_IGN);
	close_channel();
	for (int fd = 0; fd < 3; fd++)
		dup2(null, fd);
	/* and whatever else runts let through (copies of its own stdio) */
	if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
		return;
	DIR *d = opendir("/proc/self/fd"); /* a kernel before 5.9 */
	for (struct dirent *e; d && (e = readdir(d));)
		if (atoi(e->d_name) >= 3 && atoi(e->d_name) != dirfd(d))
			close(atoi(e->d_name));
	if (d)
		closedir(d);
}

/* ---- runts:[0:PARENT] -----------------------------------------------------
 * Single-threaded, so it may setns into any namespace (P steps) and clone
 * with fork semantics; then it finishes INIT from outside (Q steps). */

__attribute__((noreturn)) static void parent_stage(const struct plan *pl)
{
	const struct step *cs = pl->clone;
	int go[2], status, null = -1;
	/* without a channel to report on, PARENT outlives runts: see protocol.h */
	int detached = pl->exit_file && !pl->supervise;

	if (detached && setsid() < 0)
		fail(pl->exit_file->index, errno, "setsid for the detached supervisor");
	open_join_namespaces(pl);
	run_steps(pl, 'P');
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go) < 0)
		fail(cs->index, errno, "create the go socketpair");
	/* raw clone, no new stack: fork semantics with namespace flags */
	pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)cs->v[0].num | SIGCHLD,
				   0, 0, 0, 0);
	if (pid < 0)
		fail(cs->index, errno, "clone");
	if (pid == 0) {
		close(go[0]);
		init_stage(pl, go[1]);
	}
	close(go[1]);
	init_pid = kill_on_fail = pid;
	/* INIT holds the slots now; a PARENT that kept the fifo open would make
	 * `start` succeed even after INIT died */
	for (int k = 0; k < SLOTS; k++)
		if (slots[k] >= 0)
			close(slots[k]);

	run_steps(pl, 'Q');
	if (detached)
		null = open_detached(pl->exit_file);
	uint32_t upid = (uint32_t)pid;
	if (send_msg(MSG_PID, &upid, 4) < 0)
		fail(cs->index, errno, "report pid %d", (int)pid);
	if (send_all(go[0], "g", 1) < 0)
		fail(cs->index, errno, "release INIT");
	if (!pl->record)
		close(go[0]);
	kill_on_fail = 0; /* from here INIT reports its own failures */
	if (!pl->supervise && !pl->exit_file)
		exit(0);
	if (detached)
		detach_from_runts(null);
	console_proxy(pid);
	if (pl->record)
		record_syscalls(pl->record, pid, go[0]);

	/* any other child is an orphan of the container (STEP_SUBREAPER): reaped */
	for (pid_t w; (w = waitpid(-1, &status, 0)) != pid;)
		if (w < 0 && errno != EINTR)
			fail(-1, errno, "wait for INIT %d", (int)pid);
	int recorded = pl->exit_file ? record_exit(pl->exit_file->v[0].str, status) : 0;
	if (detached)
		exit(recorded < 0);
	int32_t st = status;
	/* if runts stopped listening (it had a MSG_ERROR), nobody needs it */
	exit(send_msg(MSG_EXIT, &st, 4) < 0);
}

/* ---- stage 0: seal ourselves (CVE-2019-5736) ------------------------------
 * INIT ends up inside the container, where /proc/<pid>/exe leads to the
 * binary it runs. Were that the host's runts-init, the container could open
 * it for writing and replace the runtime for everyone after it. So we run
 * from an anonymous copy sealed against every change. */

static void reexec_sealed(char **argv)
{
	const char *cloned = getenv("RUNTS_CLONED");
	struct stat st;
	if (cloned && strcmp(cloned, "1") == 0)
		return;
	int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (exe < 0 || fstat(exe, &st) < 0)
		fail(-1, errno, "open /proc/self/exe");
	int mfd = memfd_create("runts-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		fail(-1, errno, "memfd_create");
	for (off_t done = 0; done < st.st_size;) {
		ssize_t n = sendfile(mfd, exe, NULL, (size_t)(st.st_size - done));
		if (n <= 0)
			fail(-1, n ? errno : EIO, "copy /proc/self/exe to a memfd");
		done += n;
	}
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_WRITE) < 0)
		fail(-1, errno, "seal the memfd copy");
	close(exe);
	setenv("RUNTS_CLONED", "1", 1);
	fexecve(mfd, argv, environ);
	fail(-1, errno, "exec the sealed copy of runts-init");
}

int main(int argc, char **argv)
{
	struct msg m;
	struct plan pl;
	struct plan_error pe;

	if (argc == 2 && strcmp(argv[1], "--protocol") == 0) {
		printf("%d\n", RUNTS_PROTOCOL_VERSION);
		return 0;
	}
	reexec_sealed(argv);
	prctl(PR_SET_NAME, "runts:[0:PARENT]");

	const char *env = getenv("RUNTS_SYNC_FD");
	char *end;
	long fd = env ? strtol(env, &end, 10) : -1;
	int fl = fd >= 0 && fd <= 65535 && !*end ? fcntl((int)fd, F_GETFL) : -1;
	if (fl < 0)
		fail(-1, EBADF, "RUNTS_SYNC_FD=%s: runts-init is started by runts",
		     env ? env : "(unset)");
	sync_fd = (int)fd;
	/* Node hands its end over non-blocking; hooks must not inherit it */
	if (fcntl(sync_fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    fcntl(sync_fd, F_SETFD, FD_CLOEXEC) < 0)
		fail(-1, errno, "set up channel fd %d", sync_fd);

	uint32_t version = RUNTS_PROTOCOL_VERSION;
	if (send_msg(MSG_HELLO, &version, 4) < 0)
		fail(-1, errno, "send hello");
	int r = recv_msg(&m);
	if (r <= 0)
		fail(-1, r < 0 ? errno : EPIPE, "read the plan");
	if (m.type != MSG_PLAN)
		fail(-1, EPROTO, "expected a plan, got message type %u", m.type);
	if (plan_decode(m.data, m.len, &pl, &pe) < 0)
		fail(pe.index, pe.err, "%s", pe.msg);
	parent_stage(&pl);
}
