/*
 * steps_record.c - recording the system calls a container makes
 * (STEP_SECCOMP_RECORD), for `runts run --seccomp-record`.
 *
 * The contract: native/protocol.h. The design: docs/design/security.md,
 * "Recording a profile".
 *
 * INIT loads a filter that answers every system call with
 * SECCOMP_RET_USER_NOTIF (STEP_SECCOMP with SECCOMP_FILTER_FLAG_NEW_LISTENER),
 * after telling PARENT it is about to (one byte on the go socket). From then
 * on each call of every process in the container waits until a supervisor
 * answers it, so INIT cannot hand the listener over: its very next call
 * would wait for the answer. PARENT takes it instead, with pidfd_getfd(2),
 * from INIT's table of descriptors (it is the one /proc/<init>/fd shows as
 * "anon_inode:seccomp notify"); INIT sits in its next call until then.
 *
 * PARENT then answers every call with SECCOMP_USER_NOTIF_FLAG_CONTINUE: the
 * kernel runs it as if there were no filter. It notes each (architecture,
 * number) the first time it is seen, until INIT exits: every call made from
 * the point where the container's own filter would be loaded, INIT's last
 * steps included, as a profile loaded there must allow them. Then it writes
 * them, in the order first seen, one "<audit arch in hex> <number>" line
 * each, to the step's file (a temporary name, renamed). Which calls these
 * are, and what profile they make, is runts's business.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runts-init.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* A listener in INIT's descriptor table, or -1 once INIT has exited. */
static int take_listener(int pid, int pidfd)
{
	char dir[64], link[64];
	snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
	for (;;) {
		DIR *d = opendir(dir);
		for (struct dirent *e; d && (e = readdir(d));) {
			ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
			if (n < 0)
				continue;
			link[n] = 0;
			if (strcmp(link, "anon_inode:seccomp notify") == 0) {
				int fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(e->d_name), 0);
				closedir(d);
				return fd;
			}
		}
		if (d)
			closedir(d);
		/* not there yet: wait a millisecond, or for INIT's end */
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		if (poll(&p, 1, 1) > 0)
			return -1;
	}
}

struct seen {
	uint32_t arch, nr;
};

static int write_calls(const char *path, const struct seen *calls, size_t count)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -1;
	for (size_t k = 0; k < count; k++)
		fprintf(f, "%x %u\n", calls[k].arch, calls[k].nr);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

void record_syscalls(const struct step *s, int pid, int go)
{
	const char *path = s->v[0].str;
	char c;
	int loaded = read_all(go, &c, 1) == 1;
	close(go);
	int pidfd = loaded ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	int listener = pidfd >= 0 ? take_listener(pid, pidfd) : -1;
	/* INIT failed or exited before its filter: nothing was recorded */
	if (listener < 0) {
		if (pidfd >= 0)
			close(pidfd);
		return;
	}
	struct seen *calls = NULL;
	size_t count = 0, cap = 0;
	struct pollfd p[2] = {{.fd = listener, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
	while (!(p[1].revents & POLLIN)) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!(p[0].revents & POLLIN))
			continue;
		struct seccomp_notif req;
		memset(&req, 0, sizeof req);
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
			continue; /* the caller died meanwhile */
		uint32_t arch = req.data.arch, nr = (uint32_t)req.data.nr;
		size_t k = 0;
		while (k < count && (calls[k].arch != arch || calls[k].nr != nr))
			k++;
		if (k == count) {
			if (count == cap) {
				struct seen *more = realloc(calls, (cap = cap ? 2 * cap : 256) * sizeof *calls);
				if (!more)
					fail(s->index, ENOMEM, "record system call %u", nr);
				calls = more;
			}
			calls[count++] = (struct seen){arch, nr};
		}
		struct seccomp_notif_resp resp = {.id = req.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
		ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp); /* ENOENT: it died */
	}
	close(listener);
	close(pidfd);
	/* a file that is missing afterwards is runts's to report */
	(void)write_calls(path, calls, count);
	free(calls);
}
