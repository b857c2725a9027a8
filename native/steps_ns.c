/*
 * steps_ns.c - the namespaces INIT makes or enters itself: it becomes root
 * of its new user namespace, unshares the cgroup namespace once it sits in
 * its cgroup, and, for exec, enters a running container's namespaces.
 * (PARENT's joins by path and the time namespace are stages of
 * runts-init.c: they come before INIT exists.)
 *
 * The contract: native/protocol.h. The book: docs/04-namespaces.md and
 * docs/09-writing-runtime.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "runts-init.h"

/* ---- create: INIT's own namespaces ---------------------------------------- */

/* INIT was born as the unmapped overflow id of its new user namespace; now
 * that PARENT has written the maps it can become that namespace's root. */
void step_become_root(const struct step *s)
{
	if (setresgid(0, 0, 0) < 0)
		fail(s->index, errno, "setresgid 0 in the user namespace");
	if (setresuid(0, 0, 0) < 0)
		fail(s->index, errno, "setresuid 0 in the user namespace");
}

void step_unshare(const struct step *s)
{
	if (unshare((int)s->v[0].num) < 0)
		fail(s->index, errno, "unshare 0x%llx", (unsigned long long)s->v[0].num);
}

/* ---- exec: the namespaces INIT joins itself ------------------------------ */

/* exec joins the mount namespace here, in INIT, because PARENT must keep the
 * host's mount tree for the Q steps (the cgroup.procs paths are host paths).
 * setns(CLONE_NEWNS) moves our root and cwd to the namespace's root, which
 * is the container's root after its pivot_root; the descriptor of the
 * host's "/" that INIT started with must not survive into the container. */
void step_enter_ns(const struct step *s)
{
	const char *path = s->v[1].str;
	int nstype = (int)s->v[0].num;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail(s->index, errno, "open namespace %s", path);
	if (setns(fd, nstype) < 0)
		fail(s->index, errno, "join namespace %s", path);
	close(fd);
	if (nstype != CLONE_NEWNS)
		return;
	if (root_fd >= 0)
		close(root_fd);
	if ((root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		fail(s->index, errno, "open the container's root after joining %s", path);
}
