/*
 * steps_proc.c - the process that becomes the container: who it is (ids,
 * limits; its capabilities and seccomp filter are steps_security.c's), what
 * it talks to (runts, hooks, the console) and, last, what it becomes
 * (execve).
 *
 * The contract: native/protocol.h. The book: docs/09-writing-runtime.md.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runts-init.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* MSG_HOOKS_DONE's payload: the state JSON documents, NUL-separated, that
 * later hooks read on stdin (RUN_HOOK names one by its number). */
static char *hook_state = "";
static uint32_t hook_state_len;

/* What PREPARE_EXEC resolved, for EXEC to run. */
static char *exec_path, **exec_argv, **exec_envp;

/* ---- names ------------------------------------------------------------------- */

void step_set_hostname(const struct step *s)
{
	if (sethostname(s->v[0].str, s->v[0].len) < 0)
		fail(s->index, errno, "set hostname %s", s->v[0].str);
}

void step_set_domainname(const struct step *s)
{
	if (setdomainname(s->v[0].str, s->v[0].len) < 0)
		fail(s->index, errno, "set domainname %s", s->v[0].str);
}

/* ---- hooks ---------------------------------------------------------------- */

/* INIT stops here while runts runs the hooks that need the host's view of
 * a container whose namespaces and mounts already exist. */
void step_hooks_sync(const struct step *s)
{
	struct msg m;
	if (send_msg(MSG_HOOKS, NULL, 0) < 0)
		fail(s->index, errno, "ask runts to run the hooks");
	int r = recv_msg(&m);
	if (r <= 0)
		fail(s->index, r < 0 ? errno : EPIPE, "wait for runts to run the hooks");
	if (m.type == MSG_ABORT)
		exit(1); /* runts knows why: a hook of its own failed */
	if (m.type != MSG_HOOKS_DONE)
		fail(s->index, EPROTO, "expected hooks done, got message type %u", m.type);
	hook_state = (char *)m.data;
	hook_state_len = m.len;
}

/* The state goes into the pipe before the hook exists: the pipe is sized to
 * hold all of it, so the write neither blocks nor meets a hook that already
 * closed its stdin (no SIGPIPE), and the hook reads it to EOF. */
void step_run_hook(const struct step *s)
{
	const char *path = s->v[0].str;
	char *only_path[] = {(char *)path, NULL};
	char **argv = s->v[1].len ? s->v[1].strs : only_path;
	uint64_t timeout = s->v[3].num;
	int in[2], status;
	const char *doc = hook_state, *end = hook_state + hook_state_len;
	for (uint64_t k = s->v[4].num; k > 0 && doc < end; k--)
		doc += strnlen(doc, (size_t)(end - doc)) + 1;
	if (doc > end)
		doc = end;
	uint32_t doc_len = (uint32_t)strnlen(doc, (size_t)(end - doc));

	if (pipe2(in, O_CLOEXEC) < 0)
		fail(s->index, errno, "create stdin pipe for hook %s", path);
	if (doc_len > 65536 && fcntl(in[1], F_SETPIPE_SZ, doc_len) < 0)
		fail(s->index, errno, "size stdin pipe for hook %s", path);
	if (write(in[1], doc, doc_len) != (ssize_t)doc_len)
		fail(s->index, errno, "write state to hook %s", path);
	close(in[1]);
	pid_t pid = fork();
	if (pid < 0)
		fail(s->index, errno, "fork hook %s", path);
	if (pid == 0) {
		/* a hook starts in the container's root (before pivot_root: the
		 * root's host path), as runc's do: "./lib" is the container's */
		if (root_fd >= 0 && fchdir(root_fd) < 0)
			fprintf(stderr, "runts-init: hook %s: enter the root: %s\n", path, strerror(errno));
		else if (dup2(in[0], 0) == 0)
			execve(path, argv, s->v[2].strs);
		fprintf(stderr, "runts-init: exec hook %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	/* a pidfd turns "exited or timed out" into one poll */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0), r = -1;
	int ms = timeout == 0 ? -1 : timeout > 2000000 ? 2000000000 : (int)timeout * 1000;
	struct pollfd p = {.fd = pfd, .events = POLLIN};
	if (pfd >= 0)
		while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
			;
	int err = errno;
	if (r <= 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		fail(s->index, err, "wait for hook %s", path);
	if (r == 0)
		fail(s->index, ETIMEDOUT, "error running hook %s: timed out after %llu s", path,
		     (unsigned long long)timeout);
	close(pfd);
	if (WIFSIGNALED(status)) {
		/* in words too, lower case as every message: "bad system call"
		 * for a hook the container's seccomp filter killed */
		char what[64];
		snprintf(what, sizeof what, "%s", strsignal(WTERMSIG(status)));
		what[0] = (char)tolower((unsigned char)what[0]);
		fail(s->index, 0, "error running hook %s: killed by signal %d (%s)", path, WTERMSIG(status), what);
	}
	if (WEXITSTATUS(status) != 0)
		fail(s->index, 0, "error running hook %s: exited with status %d", path, WEXITSTATUS(status));
}

/* ---- session and console -------------------------------------------------- */

/* Called for the console too, which may follow an explicit SETSID. */
static int new_session(void)
{
	return setsid() < 0 && getsid(0) != getpid() ? -1 : 0;
}

void step_setsid(const struct step *s)
{
	if (new_session() < 0)
		fail(s->index, errno, "setsid");
}

/* One sendmsg: msg as the data, fd as SCM_RIGHTS (what runc's consumers
 * read: the console's pty name, the pidfd's init type). */
int send_fd(int sock, const char *msg, int fd)
{
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } cm = {0};
	struct iovec iov = {.iov_base = (char *)msg, .iov_len = strlen(msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* The pty comes from the container's own devpts (so its number and owner
 * make sense inside); the master goes to whoever listens on the console
 * socket, with the pty's name as the message, as runc sends it. The peer is
 * opened with TIOCGPTPEER, from the master itself, not by a path that the
 * container could have replaced. */
void step_setup_console(const struct step *s)
{
	int slot = (int)s->v[0].num, sock = slots[slot], unlock = 0, n;
	char name[32];
	if (sock < 0)
		fail(s->index, EBADF, "console socket slot %d is empty", slot);
	int master = open_in_root("/dev/ptmx", O_RDWR | O_NOCTTY);
	if (master < 0)
		fail(s->index, errno, "open /dev/ptmx");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
		fail(s->index, errno, "unlock the pty from /dev/ptmx");
	snprintf(name, sizeof name, "/dev/pts/%d", n);
	int pty = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (pty < 0)
		fail(s->index, errno, "open %s", name);
	/* a user other than root can use its terminal: it owns it, as in runc;
	 * an owner the user namespace cannot map, or a read-only /dev, leaves
	 * it to root (the process still has it as its stdio) */
	int64_t owner = (int64_t)s->v[4].num;
	if (owner >= 0 && fchown(pty, (uid_t)owner, (gid_t)-1) < 0 &&
	    errno != EINVAL && errno != EPERM && errno != EROFS)
		fail(s->index, errno, "chown %s to uid %lld", name, (long long)owner);
	struct winsize ws = {.ws_row = (unsigned short)s->v[1].num,
			     .ws_col = (unsigned short)s->v[2].num};
	if (ws.ws_row && ws.ws_col && ioctl(pty, TIOCSWINSZ, &ws) < 0)
		fail(s->index, errno, "set size of %s to %ux%u", name, ws.ws_col, ws.ws_row);
	const char *console = s->v[3].str;
	if (*console && bind_fd_in_root(pty, console) < 0)
		fail(s->index, errno, "bind %s onto %s", name, console);

	if (send_fd(sock, name, master) < 0)
		fail(s->index, errno, "send the master of %s over the console socket", name);
	close(master);
	close(sock);
	slots[slot] = -1;

	if (new_session() < 0)
		fail(s->index, errno, "setsid");
	if (ioctl(pty, TIOCSCTTY, 0) < 0)
		fail(s->index, errno, "make %s the controlling terminal", name);
	for (int fd = 0; fd < 3; fd++)
		if (dup2(pty, fd) < 0)
			fail(s->index, errno, "dup %s onto fd %d", name, fd);
	if (pty > 2)
		close(pty);
}

/* --pidfd-socket: a pidfd of INIT itself (pidfd_open of its own pid, which
 * in a new pid namespace is 1 there and still INIT), so the receiver can
 * signal and wait for exactly this process, never a later one with the
 * same number. Sent before REPORT_CREATED: it is there when create returns. */
void step_send_pidfd(const struct step *s)
{
	int slot = (int)s->v[0].num, sock = slots[slot];
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0)
		fail(s->index, errno, "pidfd_open of the process (Linux 5.3 or later)");
	if (send_fd(sock, s->v[1].str, pidfd) < 0)
		fail(s->index, errno, "send the process's pidfd over the pidfd socket");
	close(pidfd);
	close(sock);
	slots[slot] = -1;
}

/* ---- limits and identity ---------------------------------------------------
 * Order (set by the plan): rlimits and the bounding set (steps_security.c)
 * while still root; SET_USER keeps the permitted set across the switch;
 * SET_CAPS then sets the final sets, which a non-root exec keeps only
 * through ambient. */

void step_setrlimit(const struct step *s)
{
	struct rlimit rl = {.rlim_cur = s->v[1].num, .rlim_max = s->v[2].num};
	if (setrlimit((int)s->v[0].num, &rl) < 0)
		fail(s->index, errno, "setrlimit %llu to %llu/%llu",
		     (unsigned long long)s->v[0].num, (unsigned long long)s->v[1].num,
		     (unsigned long long)s->v[2].num);
}

void step_set_user(const struct step *s)
{
	uint64_t uid = s->v[0].num, gid = s->v[1].num;
	uint32_t n = s->v[2].len;
	gid_t *groups = calloc(n + 1, sizeof *groups);
	if (!groups)
		fail(s->index, ENOMEM, "setgroups to %u groups", n);
	/* -1 would mean "leave unchanged" to the set*id calls */
	if (uid >= UINT32_MAX || gid >= UINT32_MAX)
		fail(s->index, EINVAL, "user %llu:%llu", (unsigned long long)uid,
		     (unsigned long long)gid);
	for (uint32_t k = 0; k < n; k++) {
		if (s->v[2].nums[k] >= UINT32_MAX)
			fail(s->index, EINVAL, "group %llu", (unsigned long long)s->v[2].nums[k]);
		groups[k] = (gid_t)s->v[2].nums[k];
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(s->index, errno, "keep capabilities across the user switch");
	/* a user namespace whose setgroups is "deny" refuses even an empty
	 * list; that loses nothing, an empty list is what it already has */
	if (setgroups(n, groups) < 0 && !(errno == EPERM && n == 0))
		fail(s->index, errno, "setgroups to %u groups", n);
	if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0)
		fail(s->index, errno, "setresgid %llu", (unsigned long long)gid);
	if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
		fail(s->index, errno, "setresuid %llu", (unsigned long long)uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail(s->index, errno, "reset keep capabilities");
	free(groups);
}

void step_umask(const struct step *s)
{
	umask((mode_t)(s->v[0].num & 0777));
}

/* ---- the exec ---------------------------------------------------------------- */

/* 0, or why path cannot be executed: what execve would say, asked now. */
static int executable(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return errno;
	if (!S_ISREG(st.st_mode))
		return EACCES;
	return access(path, X_OK) < 0 ? errno : 0;
}

/* Like execvp: the first executable match on PATH wins; a match that is
 * not executable makes it EACCES only if nothing later on PATH is. */
static char *search_path(const char *dirs, const char *name, int *err)
{
	*err = ENOENT;
	for (;;) {
		size_t n = strcspn(dirs, ":");
		char *candidate;
		/* an empty entry is the cwd, as in every shell */
		if (asprintf(&candidate, "%.*s/%s", (int)(n ? n : 1), n ? dirs : ".", name) < 0) {
			*err = ENOMEM;
			return NULL;
		}
		int e = executable(candidate);
		if (e == 0)
			return candidate;
		free(candidate);
		if (e == EACCES)
			*err = EACCES;
		if (!dirs[n])
			return NULL;
		dirs += n + 1;
	}
}

/* Resolved now, inside the container's root and as its user, so that a
 * wrong command fails `create`, not `start`. */
void step_prepare_exec(const struct step *s)
{
	char **argv = s->v[0].strs, **envp = s->v[1].strs;
	const char *name = argv[0], *dirs = DEFAULT_PATH;
	int err;
	if (!name || !*name)
		fail(s->index, EINVAL, "exec: no command");
	if (strchr(name, '/')) {
		if ((err = executable(name)))
			fail(s->index, err, "exec \"%s\"", name);
		exec_path = (char *)name;
	} else {
		for (char **e = envp; *e; e++)
			if (strncmp(*e, "PATH=", 5) == 0)
				dirs = *e + 5;
		if (!(exec_path = search_path(dirs, name, &err)) && err == ENOENT)
			fail(s->index, err, "exec \"%s\": executable file not found in $PATH", name);
		if (!exec_path)
			fail(s->index, err, "exec \"%s\"", name);
	}
	exec_argv = argv;
	exec_envp = envp;
}

/* Descriptors runts passed on purpose sit below first; anything above is
 * a leak into the container (CVE-2024-21626). */
void step_close_fds(const struct step *s)
{
	unsigned first = s->v[0].num > UINT32_MAX ? UINT32_MAX : (unsigned)s->v[0].num;
	if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	/* ENOSYS/EINVAL: a kernel before 5.11; EPERM: a seccomp profile that
	 * was loaded early (no no_new_privs) and does not list close_range */
	if (errno != ENOSYS && errno != EINVAL && errno != EPERM)
		fail(s->index, errno, "mark fds from %u close-on-exec", first);
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		fail(s->index, errno, "open /proc/self/fd");
	for (struct dirent *e; (e = readdir(d));) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd >= (int)first && fd != dirfd(d) &&
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			fail(s->index, errno, "mark fd %d close-on-exec", fd);
	}
	closedir(d);
}

/* `create` returns when runts reads this; the channel closes so that the
 * container never holds a line to runts. */
void step_report_created(const struct step *s)
{
	if (send_msg(MSG_CREATED, NULL, 0) < 0)
		fail(s->index, errno, "report created");
	close_channel();
}

/* The create/start split: `runts start` writes one byte into the fifo. */
void step_wait_start(const struct step *s)
{
	int slot = (int)s->v[0].num;
	char c;
	ssize_t n;
	if (slots[slot] < 0)
		fail(s->index, EBADF, "exec fifo slot %d is empty", slot);
	do
		n = read(slots[slot], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		fail(s->index, n < 0 ? errno : EPIPE, "wait for start on the exec fifo");
	close(slots[slot]);
	slots[slot] = -1;
}

/* After a failed execve there is no one to tell but stderr, and the exit
 * status says it the shell's way: 127 not found, 126 not runnable. */
void step_exec(const struct step *s)
{
	if (!exec_path)
		fail(s->index, EINVAL, "exec: no command was prepared");
	execve(exec_path, exec_argv, exec_envp);
	die(errno == ENOENT ? 127 : 126, s->index, errno, "exec \"%s\"", exec_path);
}
