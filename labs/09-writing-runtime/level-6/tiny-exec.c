/*
 * tiny-exec.c - the executor of tiny. Level 6: create and start.
 *
 * tiny.ts (the planner) reads config.json, decides everything and writes a
 * PLAN on file descriptor 3: one step per line, "op field field ...",
 * fields separated by one space and %XX-escaped (a lone "-" is the empty
 * string), the last line "end". This program knows nothing of config.json:
 * it carries the plan out, top to bottom, in three acts:
 *
 *   steps before "clone"          the parent, in the caller's namespaces
 *   "clone NS..."                 the child is born in new namespaces
 *   steps between clone and "go"  the parent; the child exists, and waits
 *   steps after "go"              the child, ending with "exec"
 *
 * The parent waits for the child and exits with its exit status, unless the
 * plan says "detach" (tiny create): then it reports the child's pid on fd 3
 * and exits, and the child reports "created" on fd 3 when it is ready and
 * waits on the exec fifo for tiny start. Any failure is reported on fd 3 as
 * "error MESSAGE".
 * It is single-threaded from start to finish: that is why it is in C.
 *
 * Containers From Scratch, chapter 9 (docs/09-writing-runtime.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FIELDS 256

struct step {
	int line;                 /* in the plan, for error messages */
	int n;                    /* fields, op included */
	char *f[MAX_FIELDS + 1];  /* f[0] is the op; NULL-terminated */
};

static struct step plan[1024];
static int nsteps;
static struct step *current; /* the step running, for die() */
static int report_fd = 3;      /* to tiny.ts: "pid N", "created", "error ..." */
static int fifo_fd = -1;       /* the exec fifo: the child waits on it */
static int detach;             /* "detach": the parent exits after go */

static void die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (current)
		fprintf(stderr, "tiny-exec: plan line %d (%s): %s\n", current->line, current->f[0], msg);
	else
		fprintf(stderr, "tiny-exec: %s\n", msg);
	if (report_fd >= 0)
		dprintf(report_fd, "error %s%s%s\n", current ? current->f[0] : "", current ? ": " : "", msg);
	exit(1);
}

/* ---- reading the plan ---------------------------------------------------- */

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* %XX escapes, in place; "-" alone is the empty string */
static void unescape(char *s)
{
	char *out = s;
	if (strcmp(s, "-") == 0) {
		*s = 0;
		return;
	}
	for (; *s; s++) {
		if (*s == '%' && unhex(s[1]) >= 0 && unhex(s[2]) >= 0) {
			*out++ = (char)(unhex(s[1]) * 16 + unhex(s[2]));
			s += 2;
		} else {
			*out++ = *s;
		}
	}
	*out = 0;
}

static void read_plan(int fd)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap + 1);
	/* until the line "end": the planner keeps fd 3 open after the plan */
	while (!(len >= 4 && memcmp(buf + len - 4, "end\n", 4) == 0 &&
		 (len == 4 || buf[len - 5] == '\n'))) {
		if (len == cap && !(buf = realloc(buf, (cap *= 2) + 1)))
			die("plan too large");
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("read the plan on fd %d: %s", fd, r ? strerror(errno) : "no \"end\" line");
		len += (size_t)r;
	}
	buf[len] = 0;
	int line = 0;
	for (char *save, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line++;
		if (*l == '#' || strcmp(l, "end") == 0)
			continue;
		if (nsteps == (int)(sizeof plan / sizeof plan[0]))
			die("too many steps");
		struct step *s = &plan[nsteps++];
		s->line = line;
		for (char *fs, *w = strtok_r(l, " ", &fs); w; w = strtok_r(NULL, " ", &fs)) {
			if (s->n == MAX_FIELDS)
				die("line %d: too many fields", line);
			unescape(w);
			s->f[s->n++] = w;
		}
	}
}

/* ---- the steps ------------------------------------------------------------ */

static char *env[MAX_FIELDS + 1];
static pid_t child; /* in the parent, once cloned */

/* ---- create and start ---- */

/* act 1: the exec fifo. Opened O_RDWR, so that the open does not block;
 * the child inherits it, the parent closes its copy after clone. */
static void step_fifo(char **f)
{
	if (mkfifo(f[1], 0600) < 0 || (fifo_fd = open(f[1], O_RDWR | O_CLOEXEC)) < 0)
		die("fifo %s: %s", f[1], strerror(errno));
}

/* act 2: tiny.ts learns the pid before the child does anything */
static void step_report_pid(char **f)
{
	(void)f;
	dprintf(report_fd, "pid %d\n", (int)child);
}

static void step_detach(char **f)
{
	(void)f;
	detach = 1;
}

/* act 3: everything is ready; tiny create may return */
static void step_created(char **f)
{
	(void)f;
	dprintf(report_fd, "created\n");
	close(report_fd);
	report_fd = -1;
}

/* act 3: block until tiny start writes a byte to the fifo */
static void step_wait_start(char **f)
{
	char byte;
	(void)f;
	if (read(fifo_fd, &byte, 1) != 1)
		die("read the exec fifo: %s", strerror(errno));
	close(fifo_fd);
}

/* ---- cgroups: files, written by the parent ---- */

static void step_mkdir(char **f)
{
	if (mkdir(f[1], 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", f[1], strerror(errno));
}

/* one write(2): cgroupfs takes a value in a single write */
static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		die("write %s to %s: %s", value, path, strerror(errno));
	close(fd);
}

static void step_write(char **f)
{
	write_file(f[1], f[2]);
}

/* act 2: the child exists, and has not run a single step yet */
static void step_add_pid(char **f)
{
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)child);
	write_file(f[1], pid);
}

/* act 2: run a command on the host, e.g. `ip link add ... netns {pid}`:
 * "{pid}" in a field becomes the child's pid */
static void step_run(char **f)
{
	char *argv[MAX_FIELDS + 1], buf[MAX_FIELDS][256];
	int n = 0, status;
	for (char **a = f + 1; *a; a++, n++) {
		char *at = strstr(*a, "{pid}");
		argv[n] = *a;
		if (at) {
			snprintf(buf[n], sizeof buf[n], "%.*s%d%s", (int)(at - *a), *a, (int)child, at + 5);
			argv[n] = buf[n];
		}
	}
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "tiny-exec: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		die("run %s: %s", argv[0], strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("%s %s ... failed (status %d)", argv[0], argv[1] ? argv[1] : "", status);
}

/* act 3: the cgroup namespace, made now that the child is in its cgroup,
 * so that the cgroup becomes the root of its view */
static void step_unshare(char **f)
{
	if (strcmp(f[1], "cgroup") != 0)
		die("unshare %s: only cgroup", f[1]);
	if (unshare(CLONE_NEWCGROUP) < 0)
		die("unshare(CLONE_NEWCGROUP): %s", strerror(errno));
}
static int nenv;

static void step_hostname(char **f)
{
	if (sethostname(f[1], strlen(f[1])) < 0)
		die("sethostname %s: %s", f[1], strerror(errno));
}

/* ---- the root filesystem ---- */

static char root[4096]; /* the rootfs, until pivot_root makes it "/" */

/* path inside the root, as a host path: joined as strings, for now */
static const char *in_root(const char *path)
{
	static char buf[8192];
	snprintf(buf, sizeof buf, "%s%s", root, path);
	return buf;
}

static void mkdirs(const char *path) /* mkdir -p */
{
	char p[8192];
	snprintf(p, sizeof p, "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		mkdir(p, 0755);
		*s = '/';
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", p, strerror(errno));
}

/* mounts of the new namespace stop propagating to and from the host's */
static void step_private(char **f)
{
	(void)f;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private: %s", strerror(errno));
}

/* pivot_root wants the new root to be a mount point: bind it onto itself */
static void step_rootfs(char **f)
{
	snprintf(root, sizeof root, "%s", f[1]);
	if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
		die("bind %s onto itself: %s", root, strerror(errno));
}

static unsigned long mount_flags(const char *list)
{
	static const struct { const char *name; unsigned long flag; } names[] = {
		{"rdonly", MS_RDONLY}, {"nosuid", MS_NOSUID}, {"nodev", MS_NODEV},
		{"noexec", MS_NOEXEC}, {"noatime", MS_NOATIME}, {"relatime", MS_RELATIME},
		{"strictatime", MS_STRICTATIME}, {"bind", MS_BIND}, {"rec", MS_REC},
	};
	unsigned long flags = 0;
	char copy[512], *save;
	snprintf(copy, sizeof copy, "%s", list);
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		size_t i = 0;
		while (i < sizeof names / sizeof names[0] && strcmp(names[i].name, w) != 0)
			i++;
		if (i == sizeof names / sizeof names[0])
			die("unknown mount flag %s", w);
		flags |= names[i].flag;
	}
	return flags;
}

/* mount SOURCE TARGET TYPE FLAGS DATA: TARGET is inside the root */
static void step_mount(char **f)
{
	const char *target = in_root(f[2]);
	unsigned long flags = mount_flags(f[4]);
	mkdirs(target);
	if (!(flags & MS_BIND)) {
		if (mount(f[1], target, f[3], flags, f[5]) < 0)
			die("mount -t %s %s %s: %s", f[3], f[1], target, strerror(errno));
		return;
	}
	if (mount(f[1], target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
		die("bind %s onto %s: %s", f[1], target, strerror(errno));
	/* a bind mount ignores every other flag: they need a remount */
	if ((flags & ~(MS_BIND | MS_REC)) &&
	    mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | (flags & ~MS_REC), NULL) < 0)
		die("remount %s with %s: %s", target, f[4], strerror(errno));
}

/* mknod PATH c MAJOR MINOR MODE (octal) */
static void step_mknod(char **f)
{
	const char *path = in_root(f[1]);
	mode_t mode = (mode_t)strtol(f[5], NULL, 8);
	unlink(path);
	if (mknod(path, S_IFCHR | mode, makedev(atoi(f[3]), atoi(f[4]))) < 0 ||
	    chmod(path, mode) < 0) /* the umask took bits away */
		die("mknod %s: %s", path, strerror(errno));
}

/* symlink TARGET PATH */
static void step_symlink(char **f)
{
	if (symlink(f[1], in_root(f[2])) < 0 && errno != EEXIST)
		die("symlink %s: %s", f[2], strerror(errno));
}

/* The root becomes "/", and the old root is detached: no path leads back.
 * pivot_root(".", ".") stacks the old root on top of the new one, at the
 * same place; the umount then takes the top one, the old root, away. */
static void step_pivot(char **f)
{
	(void)f;
	if (chdir(root) < 0)
		die("chdir %s: %s", root, strerror(errno));
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die("pivot_root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		die("detach the old root: %s", strerror(errno));
	if (chdir("/") < 0)
		die("chdir /: %s", strerror(errno));
	root[0] = 0;
}

static void step_env(char **f)
{
	if (nenv < MAX_FIELDS)
		env[nenv++] = f[1];
}

static void step_chdir(char **f)
{
	if (chdir(f[1]) < 0)
		die("chdir %s: %s", f[1], strerror(errno));
}

/* ---- privileges: in this order, the last steps before exec ---- */

/* bounding KEEP...: drop every other capability from the bounding set, the
 * limit on what any later exec can ever gain. Needs CAP_SETPCAP: first. */
static void step_bounding(char **f)
{
	unsigned long long keep = 0;
	for (char **c = f + 1; *c; c++)
		keep |= 1ULL << atoi(*c);
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap) >= 0; cap++)
		if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap) < 0)
			die("drop capability %d from the bounding set: %s", cap, strerror(errno));
}

/* user UID GID [GID...]: groups first (it needs CAP_SETGID), uid last (after
 * it, root's powers are gone); KEEPCAPS keeps the permitted set across it */
static void step_user(char **f)
{
	gid_t groups[MAX_FIELDS];
	int n = 0;
	for (char **g = f + 3; *g; g++)
		groups[n++] = (gid_t)atoi(*g);
	uid_t uid = (uid_t)atoi(f[1]);
	gid_t gid = (gid_t)atoi(f[2]);
	if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setgroups((size_t)n, groups) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0 ||
	    prctl(PR_SET_KEEPCAPS, 0) < 0)
		die("become %d:%d: %s", (int)uid, (int)gid, strerror(errno));
}

/* caps CAP...: effective, permitted and inheritable become exactly these,
 * and each is raised in the ambient set, so that it survives exec as a
 * user other than root */
static void step_caps(char **f)
{
	struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
	for (char **c = f + 1; *c; c++) {
		int cap = atoi(*c);
		data[cap / 32].effective |= 1u << (cap % 32);
	}
	for (int k = 0; k < 2; k++)
		data[k].permitted = data[k].inheritable = data[k].effective;
	if (syscall(SYS_capset, &head, data) < 0)
		die("capset: %s", strerror(errno));
	for (char **c = f + 1; *c; c++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, atoi(*c), 0, 0) < 0)
			die("raise ambient capability %s: %s", *c, strerror(errno));
}

/* no exec from here on can gain privileges (setuid bits, file capabilities) */
static void step_nnp(char **f)
{
	(void)f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs: %s", strerror(errno));
}

/* seccomp ARCH NR:ERRNO...: a filter that lets every system call through
 * but the listed ones, which fail with their errno. A process of another
 * architecture (ARCH is AUDIT_ARCH_*, in hex) is killed: its numbers mean
 * other calls. So are x32 calls on x86_64 (their numbers have bit 30 set),
 * which would otherwise slip past the list. */
static void step_seccomp(char **f)
{
	struct sock_filter prog[MAX_FIELDS + 8];
	unsigned n = 0, rules = 0;
	for (char **r = f + 2; *r; r++)
		rules++;
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)strtoul(f[1], NULL, 16), 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	for (char **r = f + 2; *r; r++) {
		unsigned nr = (unsigned)atoi(*r), err = (unsigned)atoi(strchr(*r, ':') ? strchr(*r, ':') + 1 : "1");
		/* if nr matches, fall through to the RET just below; else skip it */
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA));
	}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		die("seccomp: %s", strerror(errno));
}

static void step_exec(char **f)
{
	/* execvp searches the PATH of the environment it runs in: the container's */
	environ = env;
	execvp(f[1], f + 1);
	die("exec %s: %s", f[1], strerror(errno));
}

static const struct {
	const char *op;
	void (*run)(char **f);
	int min; /* fields after the op */
} ops[] = {
	{"hostname", step_hostname, 1},
	{"fifo", step_fifo, 1},
	{"report-pid", step_report_pid, 0},
	{"detach", step_detach, 0},
	{"created", step_created, 0},
	{"wait-start", step_wait_start, 0},
	{"mkdir", step_mkdir, 1},
	{"write", step_write, 2},
	{"add-pid", step_add_pid, 1},
	{"run", step_run, 1},
	{"unshare", step_unshare, 1},
	{"private", step_private, 0},
	{"rootfs", step_rootfs, 1},
	{"mount", step_mount, 5},
	{"mknod", step_mknod, 5},
	{"symlink", step_symlink, 2},
	{"pivot", step_pivot, 0},
	{"env", step_env, 1},
	{"chdir", step_chdir, 1},
	{"bounding", step_bounding, 0},
	{"user", step_user, 2},
	{"caps", step_caps, 0},
	{"nnp", step_nnp, 0},
	{"seccomp", step_seccomp, 1},
	{"exec", step_exec, 1},
};

static void run_step(struct step *s)
{
	current = s;
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		if (strcmp(ops[i].op, s->f[0]) == 0) {
			if (s->n - 1 < ops[i].min)
				die("needs %d fields", ops[i].min);
			ops[i].run(s->f);
			current = NULL;
			return;
		}
	}
	die("unknown step");
}

/* ---- the three acts -------------------------------------------------------- */

static int find(const char *op)
{
	for (int i = 0; i < nsteps; i++)
		if (strcmp(plan[i].f[0], op) == 0)
			return i;
	current = NULL;
	die("the plan has no \"%s\" step", op);
	return -1;
}

static unsigned long clone_flags(struct step *s)
{
	static const struct { const char *name; unsigned long flag; } ns[] = {
		{"pid", CLONE_NEWPID}, {"mount", CLONE_NEWNS}, {"uts", CLONE_NEWUTS},
		{"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP},
	};
	unsigned long flags = 0;
	current = s;
	for (int k = 1; k < s->n; k++) {
		size_t i = 0;
		while (i < sizeof ns / sizeof ns[0] && strcmp(ns[i].name, s->f[k]) != 0)
			i++;
		if (i == sizeof ns / sizeof ns[0])
			die("unknown namespace %s", s->f[k]);
		flags |= ns[i].flag;
	}
	current = NULL;
	return flags;
}

int main(void)
{
	read_plan(3);
	fcntl(report_fd, F_SETFD, FD_CLOEXEC); /* the container must not inherit it */
	int c = find("clone"), g = find("go"), go[2], status;
	if (g < c)
		die("\"go\" must come after \"clone\"");

	for (int i = 0; i < c; i++) /* act 1: the parent, before clone */
		run_step(&plan[i]);

	if (pipe2(go, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	/* The raw system call, without a new stack: fork semantics, plus the
	 * namespace flags. The child starts here too, with pid 0 returned. */
	pid_t pid = child = (pid_t)syscall(SYS_clone, clone_flags(&plan[c]) | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		die("clone: %s", strerror(errno));
	if (pid == 0) {
		char byte;
		close(go[1]);
		/* wait until the parent has finished act 2 */
		if (read(go[0], &byte, 1) != 1)
			_exit(1);
		close(go[0]);
		for (int i = g + 1; i < nsteps; i++) /* act 3: the child */
			run_step(&plan[i]);
		die("the plan ended without exec");
	}
	close(go[0]);
	if (fifo_fd >= 0)
		close(fifo_fd); /* only the child holds it: if it dies, start fails */
	for (int i = c + 1; i < g; i++) /* act 2: the parent, the child waiting */
		run_step(&plan[i]);
	if (write(go[1], "g", 1) != 1)
		die("release the child: %s", strerror(errno));
	close(go[1]);
	if (detach)
		return 0; /* the child is reparented; tiny.ts hears from it on fd 3 */
	close(report_fd);

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	/* pass the container's exit status on, as a shell would */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
