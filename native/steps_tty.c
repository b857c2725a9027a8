/*
 * steps_tty.c - terminals: the socketpair and the terminal proxy of a
 * foreground `run -t` / `exec -t` (entering a running container's
 * namespaces, which exec needs too, is steps_ns.c's).
 *
 * The contract: native/protocol.h. Design: docs/design/exec-and-terminals.md
 * (terminals, and what podman and containerd pass). The book: docs/09-writing-runtime.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "runts-init.h"

/* ---- the foreground terminal ----------------------------------------------
 * Without --console-socket there is nobody to hand the pty master to, so
 * PARENT keeps it: INIT sends it over a socketpair exactly as it would over
 * a console socket, and PARENT, which stays to supervise anyway, copies
 * bytes between the caller's terminal and the master. Node never sees them. */

static int pair_fd = -1; /* PARENT's end of the socketpair */

void step_console_pair(const struct step *s)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fail(s->index, errno, "create the socketpair for the terminal");
	slots[s->v[0].num] = sv[0];
	pair_fd = sv[1];
}

/* The master, or -1 if INIT died before sending it (end of file). */
static int recv_master(void)
{
	char name[64];
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } cm;
	struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
	ssize_t n;
	while ((n = recvmsg(pair_fd, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	int fd = -1;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One read from `from` written to `to`: 1 copied, 0 end of file or error. */
static int copy_once(int from, int to)
{
	char buf[8192];
	ssize_t n;
	while ((n = read(from, buf, sizeof buf)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return 0; /* EIO on the master: every slave is closed */
	return write_all(to, buf, (size_t)n) == 0;
}

static void copy_window_size(int master)
{
	struct winsize ws;
	if (ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		ioctl(master, TIOCSWINSZ, &ws);
}

/* Copies until INIT exits (its pidfd turns readable; INIT is not reaped
 * here), then drains what the container wrote last. The caller's terminal
 * goes raw so that ^C, ^Z and line editing reach the container's tty as
 * bytes, and gets its settings back whatever happens in between. */
void console_proxy(int init_pid)
{
	if (pair_fd < 0)
		return;
	int master = recv_master();
	close(pair_fd);
	pair_fd = -1;
	if (master < 0)
		return;
	/* a caller that stopped reading must not kill the supervisor */
	signal(SIGPIPE, SIG_IGN);

	struct termios saved;
	int tty = isatty(0) && tcgetattr(0, &saved) == 0;
	if (tty) {
		struct termios raw = saved;
		cfmakeraw(&raw);
		tcsetattr(0, TCSADRAIN, &raw);
		copy_window_size(master);
	}
	sigset_t winch;
	sigemptyset(&winch);
	sigaddset(&winch, SIGWINCH);
	sigprocmask(SIG_BLOCK, &winch, NULL);
	int sigfd = signalfd(-1, &winch, SFD_CLOEXEC);
	int pidfd = (int)syscall(SYS_pidfd_open, init_pid, 0);

	enum { IN, MASTER, SIG, PID };
	struct pollfd p[4] = {
		[IN] = {.fd = 0, .events = POLLIN},
		[MASTER] = {.fd = master, .events = POLLIN},
		[SIG] = {.fd = sigfd, .events = POLLIN},
		[PID] = {.fd = pidfd, .events = POLLIN},
	};
	/* without a pidfd (a kernel before 5.3), the end of the output ends it */
	while (p[MASTER].fd >= 0 && (pidfd < 0 || p[PID].fd >= 0)) {
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[IN].revents && !copy_once(0, master))
			p[IN].fd = -1; /* the caller's input ended; output still flows */
		if (p[MASTER].revents && !copy_once(master, 1))
			p[MASTER].fd = -1;
		if (p[SIG].revents) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof si) > 0 && tty)
				copy_window_size(master);
		}
		if (p[PID].revents)
			p[PID].fd = -1;
	}
	/* INIT has exited: what it wrote last is still in the pty */
	if (p[MASTER].fd >= 0) {
		fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
		while (copy_once(master, 1))
			;
	}
	if (tty)
		tcsetattr(0, TCSADRAIN, &saved);
	close(master);
	if (sigfd >= 0)
		close(sigfd);
	if (pidfd >= 0)
		close(pidfd);
}
