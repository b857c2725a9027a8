/*
 * steps_security.c - security checks, LSM and keyring steps that the policy
 * in src/security/ asks for.
 *
 * The contract: native/protocol.h. The book: docs/08-security.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "runts-init.h"

/* Is the cwd below our "/"? Walks ".." up from the cwd: inside the root the
 * walk ends at "/" (the kernel never lets ".." leave a process's root); a
 * directory leaked from the host (CVE-2024-21626) ends at another top, one
 * that is its own parent. This needs no getcwd(2), which a seccomp profile
 * loaded before the user switch may deny. 1 inside, 0 outside, -1 error. */
int cwd_inside_root(void)
{
	struct stat root, here, up;
	if (stat("/", &root) < 0)
		return -1;
	int fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (int depth = 0; depth < 4096; depth++) {
		if (fstat(fd, &here) < 0)
			break;
		if (here.st_dev == root.st_dev && here.st_ino == root.st_ino) {
			close(fd);
			return 1;
		}
		int parent = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0 || fstat(parent, &up) < 0) {
			if (parent >= 0)
				close(parent);
			break;
		}
		close(fd);
		fd = parent;
		if (up.st_dev == here.st_dev && up.st_ino == here.st_ino) {
			close(fd);
			return 0; /* a top that is not our root */
		}
	}
	int err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* ---- LSM labels ------------------------------------------------------------
 * The attr file is INIT's own (/proc/self, opened while "/" is still the
 * host's, so the container's /proc plays no part) and must really be procfs:
 * a bind mount over the host's /proc could otherwise turn the write into a
 * write to a file of someone's choosing. */

void step_lsm_open_attr(const struct step *s)
{
	int slot = (int)s->v[0].num, fd = -1;
	const char *path = NULL;
	struct statfs fs;
	for (char **p = s->v[1].strs; *p && fd < 0; p++) {
		path = *p;
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 && errno != ENOENT)
			fail(s->index, errno, "open %s", path);
	}
	if (fd < 0)
		fail(s->index, ENOENT, "open the LSM attr file %s", path ? path : "(none given)");
	if (fstatfs(fd, &fs) < 0)
		fail(s->index, errno, "statfs %s", path);
	if (fs.f_type != PROC_SUPER_MAGIC)
		fail(s->index, 0, "%s is not on procfs: refusing to write a label through it", path);
	if (slots[slot] >= 0)
		close(slots[slot]);
	slots[slot] = fd;
}

void step_lsm_write_attr(const struct step *s)
{
	int slot = (int)s->v[0].num;
	const char *value = s->v[1].str;
	if (slots[slot] < 0)
		fail(s->index, EBADF, "LSM attr slot %d is empty", slot);
	ssize_t n;
	do
		n = write(slots[slot], value, s->v[1].len);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)s->v[1].len)
		fail(s->index, n < 0 ? errno : EIO, "write \"%s\" to the LSM attr file", value);
	close(slots[slot]);
	slots[slot] = -1;
}

/* ---- the session keyring ---------------------------------------------------
 * A process inherits its session keyring across fork and exec: without this
 * step the container would hold the host's (runts's) session keyring. */

void step_session_keyring(const struct step *s)
{
	const char *name = s->v[0].str;
	long id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
	if (id < 0 && errno == ENOSYS)
		return;
	if (id < 0)
		fail(s->index, errno, "join session keyring %s", name);
	/* "type;uid;gid;perm;description", perm in hex */
	char desc[512];
	long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc);
	if (n < 0)
		fail(s->index, errno, "describe session keyring %s", name);
	desc[sizeof desc - 1] = 0;
	char *perm = desc;
	for (int field = 0; field < 3 && perm; field++) {
		perm = strchr(perm, ';');
		if (perm)
			perm++;
	}
	if (!perm)
		fail(s->index, EINVAL, "describe session keyring %s: unexpected \"%s\"", name, desc);
	unsigned long bits = strtoul(perm, NULL, 16) | (unsigned long)s->v[1].num;
	if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, bits) < 0)
		fail(s->index, errno, "set permissions 0x%lx on session keyring %s", bits, name);
}
