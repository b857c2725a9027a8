/*
 * steps_security.c - the security steps whose policy src/security/ decides:
 * the cwd check, capabilities (the bounding set, then the final sets),
 * no_new_privs, the seccomp filter, the LSM label and the session keyring.
 * (Recording system calls instead of filtering them is steps_record.c.)
 *
 * The contract: native/protocol.h. The book: docs/08-security.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

/* cap_last_cap is not read: before pivot it is the host's /proc, after it
 * maybe no /proc at all. The kernel answers PR_CAPBSET_READ for every
 * capability it knows and EINVAL past the last. */
void step_cap_bounding(const struct step *s)
{
	uint64_t keep = s->v[0].num;
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (!(cap < 64 && (keep >> cap & 1)) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			fail(s->index, errno, "drop capability %d from the bounding set", cap);
}

void step_set_caps(const struct step *s)
{
	struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	uint64_t amb = s->v[3].num;
	for (int w = 0; w < 2; w++)
		data[w] = (struct __user_cap_data_struct){
			.effective = (uint32_t)(s->v[0].num >> (32 * w)),
			.permitted = (uint32_t)(s->v[1].num >> (32 * w)),
			.inheritable = (uint32_t)(s->v[2].num >> (32 * w)),
		};
	if (syscall(SYS_capset, &head, data) < 0)
		fail(s->index, errno, "capset effective 0x%llx permitted 0x%llx inheritable 0x%llx",
		     (unsigned long long)s->v[0].num, (unsigned long long)s->v[1].num,
		     (unsigned long long)s->v[2].num);
	for (int cap = 0; cap < 64; cap++)
		if ((amb >> cap & 1) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			fail(s->index, errno, "raise ambient capability %d", cap);
}

void step_no_new_privs(const struct step *s)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(s->index, errno, "set no_new_privs");
}

void step_seccomp(const struct step *s)
{
	uint32_t len = s->v[0].len;
	if (len == 0 || len % sizeof(struct sock_filter) ||
	    len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		fail(s->index, EINVAL, "seccomp filter of %u bytes is not a BPF program", len);
	struct sock_fprog prog = {
		.len = (unsigned short)(len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)s->v[0].str, /* malloc'd: aligned */
	};
	/* the recorder's filter: tell PARENT to come and take its listener */
	if ((s->v[1].num & SECCOMP_FILTER_FLAG_NEW_LISTENER) && write(go_fd, "l", 1) != 1)
		fail(s->index, errno, "tell PARENT the recording filter comes");
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)s->v[1].num, &prog) < 0)
		fail(s->index, errno, "load seccomp filter of %u instructions", prog.len);
}
