/*
 * ns-demo: start a command in new namespaces with clone(), the system call
 * every container runtime is built on.
 *
 *   ns-demo [-p] [-m] [-u] [-n] [-i] [-U] [-C] [-P] [-h HOSTNAME] COMMAND [ARG...]
 *
 *   -p  new pid namespace: COMMAND is pid 1 in it
 *   -m  new mount namespace, with every mount in it made private (so that
 *       nothing mounted inside propagates back to the host)
 *   -u  new uts namespace: its own hostname (-h sets it)
 *   -n  new network namespace: only a loopback interface, down
 *   -i  new ipc namespace: no message queues, semaphores or shared memory
 *   -U  new user namespace: uid and gid 0 inside are 100000 outside when
 *       run as root (the caller's own uid and gid otherwise)
 *   -C  new cgroup namespace: the current cgroup is its root
 *   -P  mount a fresh /proc (needs -p and -m), so ps shows the new pid namespace
 *
 * The parent prints how it sees the child; the child prints how it sees
 * itself, then execs COMMAND. The exit status is COMMAND's.
 *
 * Why a pipe: with -U the child's id maps must be written by the parent,
 * from outside the new user namespace, after clone() and before the child
 * does anything that needs them. The child blocks on the pipe until then.
 *
 * Containers From Scratch, chapter 4. Build: make (or cc -o ns-demo ns-demo.c)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

struct child_args {
	char **argv;
	const char *hostname;
	int private_mounts; /* -m: a new mount namespace, made private */
	int mount_proc;
	int become_root; /* -U: switch to uid/gid 0 of the new user namespace */
	int sync_fd; /* read end: one byte when the parent is done with us */
	int parent_fd; /* write end: the parent's, closed here at once */
};

static void die(const char *what)
{
	fprintf(stderr, "ns-demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path);
	close(fd);
}

static int child(void *arg)
{
	struct child_args *a = arg;
	char c, host[64] = "";

	/*
	 * clone() without CLONE_FILES gave us a copy of every descriptor, the
	 * pipe's write end too. Close ours: if the parent dies before writing,
	 * the last write end is gone and read() returns 0 instead of blocking
	 * forever.
	 */
	close(a->parent_fd);
	if (read(a->sync_fd, &c, 1) != 1) {
		fprintf(stderr, "ns-demo: the parent went away before setting us up\n");
		exit(1);
	}
	close(a->sync_fd);

	/*
	 * In a new user namespace we still have the uid we had outside (0 on the
	 * host, unmapped here: it shows as 65534, "nobody"). The map only says
	 * which ids exist; taking one of them is a separate step.
	 */
	if (a->become_root && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		die("switching to uid 0 of the new user namespace");
	if (a->hostname && sethostname(a->hostname, strlen(a->hostname)) < 0)
		die("sethostname");
	/*
	 * A new mount namespace starts with copies of our mounts, shared ones
	 * included: make every one private first, so that nothing mounted here
	 * (the /proc of -P, or anything COMMAND mounts) propagates to the host.
	 */
	if (a->private_mounts && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("making / private");
	if (a->mount_proc && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("mount /proc");
	gethostname(host, sizeof(host) - 1);
	printf("child:  I am pid %d, uid %d, on host \"%s\"\n", getpid(), getuid(), host);
	fflush(stdout);
	execvp(a->argv[0], a->argv);
	die(a->argv[0]);
	return 1;
}

int main(int argc, char **argv)
{
	int flags = 0, opt, pipefd[2], status;
	struct child_args a = { 0 };
	static char stack[1024 * 1024]; /* the child's stack: clone() needs one */

	while ((opt = getopt(argc, argv, "+pmuniUCPh:")) != -1) {
		switch (opt) {
		case 'p': flags |= CLONE_NEWPID; break;
		case 'm': flags |= CLONE_NEWNS; a.private_mounts = 1; break;
		case 'u': flags |= CLONE_NEWUTS; break;
		case 'n': flags |= CLONE_NEWNET; break;
		case 'i': flags |= CLONE_NEWIPC; break;
		case 'U': flags |= CLONE_NEWUSER; a.become_root = 1; break;
		case 'C': flags |= CLONE_NEWCGROUP; break;
		case 'P': a.mount_proc = 1; break;
		case 'h': a.hostname = optarg; break;
		default:
			fprintf(stderr, "usage: ns-demo [-pmuniUCP] [-h HOSTNAME] COMMAND [ARG...]\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: ns-demo [-pmuniUCP] [-h HOSTNAME] COMMAND [ARG...]\n");
		return 2;
	}
	if (a.mount_proc && !((flags & CLONE_NEWPID) && (flags & CLONE_NEWNS))) {
		fprintf(stderr, "ns-demo: -P needs -p and -m\n");
		return 2;
	}
	a.argv = argv + optind;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		die("pipe");
	a.sync_fd = pipefd[0];
	a.parent_fd = pipefd[1];

	/* the stack grows down on every architecture Linux containers run on */
	pid_t pid = clone(child, stack + sizeof(stack), flags | SIGCHLD, &a);
	if (pid < 0)
		die("clone");
	close(pipefd[0]);
	printf("parent: started pid %d with clone(%s%s%s%s%s%s%s)\n", pid,
	       flags & CLONE_NEWPID ? "CLONE_NEWPID " : "", flags & CLONE_NEWNS ? "CLONE_NEWNS " : "",
	       flags & CLONE_NEWUTS ? "CLONE_NEWUTS " : "", flags & CLONE_NEWNET ? "CLONE_NEWNET " : "",
	       flags & CLONE_NEWIPC ? "CLONE_NEWIPC " : "", flags & CLONE_NEWUSER ? "CLONE_NEWUSER " : "",
	       flags & CLONE_NEWCGROUP ? "CLONE_NEWCGROUP " : "");
	fflush(stdout);

	if (flags & CLONE_NEWUSER) {
		char path[64], map[64];
		int root = getuid() == 0;
		/* root may map a range; anybody else only their own uid and gid */
		unsigned uid = root ? 100000 : getuid(), gid = root ? 100000 : getgid();
		unsigned count = root ? 65536 : 1;
		snprintf(map, sizeof(map), "0 %u %u\n", uid, count);
		snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
		write_file(path, map);
		/* an unprivileged writer must give up setgroups before it may map gids */
		if (!root) {
			snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
			write_file(path, "deny");
		}
		snprintf(map, sizeof(map), "0 %u %u\n", gid, count);
		snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
		write_file(path, map);
		if (uid == gid)
			printf("parent: mapped uid and gid 0-%u inside to %u-%u outside\n", count - 1, uid, uid + count - 1);
		else
			printf("parent: mapped uid 0 inside to %u and gid 0 to %u outside\n", uid, gid);
		fflush(stdout);
	}
	if (write(pipefd[1], "x", 1) != 1)
		die("waking the child");
	close(pipefd[1]);

	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
