/*
 * tiny-exec.c - the executor of tiny. Level 1: clone into new namespaces.
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
 * The parent waits for the child and exits with its exit status.
 * It is single-threaded from start to finish: that is why it is in C.
 *
 * Containers From Scratch, chapter 9 (docs/09-writing-runtime.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
static int nenv;

static void step_hostname(char **f)
{
	if (sethostname(f[1], strlen(f[1])) < 0)
		die("sethostname %s: %s", f[1], strerror(errno));
}

/* Level 1 only: enough of a root for the command to be found. Level 2
 * replaces it with pivot_root. */
static void step_chroot(char **f)
{
	if (chroot(f[1]) < 0 || chdir("/") < 0)
		die("chroot %s: %s", f[1], strerror(errno));
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
	{"chroot", step_chroot, 1},
	{"env", step_env, 1},
	{"chdir", step_chdir, 1},
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
	close(3);
	int c = find("clone"), g = find("go"), go[2], status;
	if (g < c)
		die("\"go\" must come after \"clone\"");

	for (int i = 0; i < c; i++) /* act 1: the parent, before clone */
		run_step(&plan[i]);

	if (pipe2(go, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	/* The raw system call, without a new stack: fork semantics, plus the
	 * namespace flags. The child starts here too, with pid 0 returned. */
	pid_t pid = (pid_t)syscall(SYS_clone, clone_flags(&plan[c]) | SIGCHLD, 0, 0, 0, 0);
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
	for (int i = c + 1; i < g; i++) /* act 2: the parent, the child waiting */
		run_step(&plan[i]);
	if (write(go[1], "g", 1) != 1)
		die("release the child: %s", strerror(errno));
	close(go[1]);

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	/* pass the container's exit status on, as a shell would */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
