/*
 * steps_fs.c - the container's filesystem: its root, what is mounted in it,
 * /dev, the switch of root, masked and read-only paths, /proc writes, cwd.
 *
 * The contract: native/protocol.h. The book: docs/09-writing-runtime.md.
 *
 * EVERY PATH IN ROOT IS HOSTILE. The rootfs comes from an image, and any
 * component of a path in it may be a symlink planted to redirect a mount
 * onto the host (CVE-2021-30465) or to turn masking into a write
 * (CVE-2019-19921, CVE-2023-27561, CVE-2025-31133). So a path is never
 * joined to the rootfs as a string: the kernel resolves it against root_fd
 * with RESOLVE_IN_ROOT (".." and absolute symlinks stop at the root) and
 * RESOLVE_NO_MAGICLINKS (no escape through /proc/<pid>/root and friends),
 * and the mount goes onto /proc/self/fd/N of the descriptor we checked, so
 * nothing can be swapped between the check and the use.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runts-init.h"

int root_fd = -1;

/* The per-mount flags a bind remount can change. */
#define REMOUNT_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | \
		       MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME)
#define ATIME_FLAGS (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)

int open_in_root(const char *path, uint64_t flags)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
}

/* What mount(2) is given instead of a path: the object behind an fd. */
static char *fdpath(char buf[static 32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

/* The directory path in root, made with its missing parents (0755) like
 * mkdir -p. Each prefix is resolved in root afresh, so a symlink met on the
 * way is followed only inside the root, and each directory is made with
 * mkdirat relative to the one resolved before it. */
static int mkdir_in_root(const char *path)
{
	char buf[PATH_MAX];
	if (strlen(path) >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(buf, path);
	int dir = open_in_root("/", O_PATH | O_DIRECTORY);
	for (char *p = buf; dir >= 0;) {
		p += strspn(p, "/");
		if (!*p)
			break;
		char *end = p + strcspn(p, "/"), saved = *end;
		*end = 0; /* buf is now the prefix, p its last component */
		int next = open_in_root(buf, O_PATH | O_DIRECTORY);
		if (next < 0 && errno == ENOENT) {
			mode_t old = umask(0);
			int made = mkdirat(dir, p, 0755) == 0 || errno == EEXIST;
			umask(old);
			next = made ? open_in_root(buf, O_PATH | O_DIRECTORY) : -1;
		}
		int err = errno;
		close(dir);
		dir = next;
		errno = err;
		*end = saved;
		p = end;
	}
	return dir;
}

/* The parent directory of path in root (made if missing), and its last
 * component in name (NAME_MAX + 1 bytes): what the *at calls need. */
static int open_parent(const char *path, char *name)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof dir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, len + 1);
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = 0;
	char *slash = strrchr(dir, '/'), *base = slash ? slash + 1 : dir;
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || strlen(base) > NAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	strcpy(name, base);
	*base = 0;
	return mkdir_in_root(dir);
}

/* The target of a mount: resolved in root, or first created (protocol.h
 * STEP_MOUNT "create": 1 a directory, 2 an empty file 0644, 3 an ordinary
 * directory: made if missing, and never a symlink, not even one in root). */
static int mount_target(const char *path, uint64_t create)
{
	if (create == 1)
		return mkdir_in_root(path);
	if (create == 3) {
		char name[NAME_MAX + 1];
		int dir = open_parent(path, name);
		if (dir < 0)
			return -1;
		mode_t old = umask(0);
		int made = mkdirat(dir, name, 0755) == 0 || errno == EEXIST;
		umask(old);
		/* O_NOFOLLOW | O_DIRECTORY: a symlink there is ENOTDIR */
		int fd = made ? openat(dir, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC) : -1;
		int err = errno;
		close(dir);
		errno = err;
		return fd;
	}
	if (create == 2) {
		char name[NAME_MAX + 1];
		int dir = open_parent(path, name);
		if (dir < 0)
			return -1;
		mode_t old = umask(0);
		int fd = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
		umask(old);
		if (fd < 0 && errno != EEXIST)
			return -1;
		if (fd >= 0)
			close(fd);
		close(dir);
	}
	return open_in_root(path, O_PATH);
}

/* Bind a host path (opened first: the kernel, not a string, names it) onto
 * an fd in root. */
static int bind_host(const char *source, int target, unsigned long flags)
{
	char a[32], b[32];
	int src = open(source, O_PATH | O_CLOEXEC);
	if (src < 0)
		return -1;
	int r = mount(fdpath(a, src), fdpath(b, target), NULL, MS_BIND | flags, NULL);
	int err = errno;
	close(src);
	errno = err;
	return r;
}

/* Bind an open file onto a file at path in root, creating it if missing. */
int bind_fd_in_root(int src, const char *path)
{
	char a[32], b[32];
	int target = mount_target(path, 2);
	if (target < 0)
		return -1;
	int r = mount(fdpath(a, src), fdpath(b, target), NULL, MS_BIND, NULL);
	int err = errno;
	close(target);
	errno = err;
	return r;
}

/* Remount a bind mount with flags. In a user namespace the kernel locks
 * the flags of mounts inherited from the host (nosuid, nodev, ro, atime...)
 * and refuses with EPERM a remount that would clear one: then ask again,
 * keeping what the mount already has. Atime is one locked setting, not
 * three bits, so the mount's own replaces ours. */
static int remount_locked(const char *target, int fd, unsigned long flags)
{
	static const struct { unsigned long st, ms; } locked[] = {
		{ST_RDONLY, MS_RDONLY}, {ST_NOSUID, MS_NOSUID}, {ST_NODEV, MS_NODEV},
		{ST_NOEXEC, MS_NOEXEC}, {ST_NOATIME, MS_NOATIME},
		{ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
	};
	struct statvfs sv;
	if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL) == 0)
		return 0;
	if (errno != EPERM || fstatvfs(fd, &sv) < 0)
		return -1;
	if (sv.f_flag & (ST_NOATIME | ST_RELATIME))
		flags &= ~(unsigned long)ATIME_FLAGS;
	for (size_t k = 0; k < sizeof locked / sizeof locked[0]; k++)
		if (sv.f_flag & locked[k].st)
			flags |= locked[k].ms;
	return mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags, NULL);
}

/* The fd we resolved before a bind still names what lies under it; the
 * remount must reach the new mount on top, so resolve the path again. */
static int remount_in_root(const char *path, unsigned long flags)
{
	char p[32];
	int fd = open_in_root(path, O_PATH);
	if (fd < 0)
		return -1;
	int r = remount_locked(fdpath(p, fd), fd, flags);
	int err = errno;
	close(fd);
	errno = err;
	return r;
}

/* ---- before the root exists: INIT's copy of the host's mount tree ------ */

void step_set_propagation(const struct step *s)
{
	if (mount(NULL, s->v[0].str, NULL, s->v[1].num, NULL) < 0)
		fail(s->index, errno, "set propagation 0x%llx on %s",
		     (unsigned long long)s->v[1].num, s->v[0].str);
}

/* pivot_root needs the new root to be a mount point; binding the directory
 * onto itself makes it one, in INIT's mount namespace only. */
void step_rootfs(const struct step *s)
{
	const char *path = s->v[0].str;
	char p[32];
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail(s->index, errno, "open rootfs %s", path);
	if (mount(fdpath(p, fd), p, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail(s->index, errno, "bind rootfs %s onto itself", path);
	close(fd);
	/* reopen: the first fd is under the new mount, not in it */
	if ((fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		fail(s->index, errno, "open rootfs %s", path);
	close(root_fd);
	root_fd = fd;
}

/* ---- in root ------------------------------------------------------------ */

void step_mount(const struct step *s)
{
	const char *src = s->v[0].str, *dst = s->v[1].str, *type = s->v[2].str;
	const char *data = s->v[4].str;
	unsigned long flags = s->v[3].num;
	char p[32];
	int fd = mount_target(dst, s->v[5].num);
	if (fd < 0 && s->v[5].num == 3 && errno == ENOTDIR)
		fail(s->index, errno, "filesystem %s must be mounted on ordinary directory, and %s is not one", type, dst);
	if (fd < 0)
		fail(s->index, errno, "%s mount target %s",
		     s->v[5].num ? "create" : "resolve", dst);
	if (!s->v[6].num) {
		if (mount(src, fdpath(p, fd), type, flags, *data ? data : NULL) < 0)
			fail(s->index, errno, "mount %s on %s", type, dst);
	} else {
		if (bind_host(src, fd, flags & MS_REC) < 0)
			fail(s->index, errno, "bind %s on %s", src, dst);
		/* a bind ignores every flag but MS_REC: they need a remount */
		if ((flags & REMOUNT_FLAGS) &&
		    remount_in_root(dst, flags & REMOUNT_FLAGS) < 0)
			fail(s->index, errno, "remount %s on %s with flags 0x%lx",
			     src, dst, flags & REMOUNT_FLAGS);
	}
	close(fd);
}

/* ---- idmapped mounts: PARENT makes the tree, INIT attaches it ---------- */

/* A user namespace with these maps, as an fd. A child is cloned into a new
 * one and waits on a pipe; PARENT, root on the host, writes its maps (any
 * mapping: the writer holds CAP_SETUID over the parent namespace), opens
 * the namespace, then closes the pipe and reaps the child. The namespace
 * lives on in the fd. */
static int userns_with_maps(int index, const char *uid_map, const char *gid_map)
{
	int gate[2];
	if (pipe2(gate, O_CLOEXEC) < 0)
		fail(index, errno, "make a pipe for an id-mapping namespace");
	pid_t child = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (child < 0)
		fail(index, errno, "clone into a new user namespace for an idmapped mount");
	if (child == 0) {
		char b;
		close(gate[1]);
		while (read(gate[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(gate[0]);
	char path[64];
	const char *what = "uid_map";
	snprintf(path, sizeof path, "/proc/%d/uid_map", (int)child);
	int ok = write_once(path, uid_map, strlen(uid_map)) == 0;
	if (ok) {
		what = "gid_map";
		snprintf(path, sizeof path, "/proc/%d/gid_map", (int)child);
		ok = write_once(path, gid_map, strlen(gid_map)) == 0;
	}
	int fd = -1;
	if (ok) {
		what = "ns/user";
		snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	int err = errno;
	close(gate[1]);
	waitpid(child, NULL, 0);
	if (fd < 0)
		fail(index, err, "%s of the id-mapping namespace", what);
	return fd;
}

/* A detached copy of the mount tree at src (with its submounts when
 * recursive & 1), cut from the host's mount tree. */
static int clone_tree(const struct step *s, const char *src, uint64_t recursive)
{
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE |
				O_CLOEXEC | (recursive & 1 ? AT_RECURSIVE : 0));
	if (tree < 0)
		fail(s->index, errno, "clone the mount tree at %s", src);
	return tree;
}

void step_clone_tree(const struct step *s)
{
	const char *src = s->v[1].str;
	int tree = clone_tree(s, src, s->v[2].num);
	struct mount_attr attr = {.attr_set = s->v[3].num, .attr_clr = s->v[4].num};
	if ((attr.attr_set || attr.attr_clr) &&
	    syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
		fail(s->index, errno, "set the attributes of the mount of %s", src);
	slots[s->v[0].num] = tree;
}

void step_idmap_tree(const struct step *s)
{
	const char *src = s->v[1].str;
	uint64_t recursive = s->v[2].num;
	int tree = clone_tree(s, src, recursive);
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_IDMAP | s->v[5].num,
		.attr_clr = s->v[6].num,
		.userns_fd = (uint64_t)userns_with_maps(s->index, s->v[3].str, s->v[4].str),
	};
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH |
		    (recursive & 2 ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
		fail(s->index, errno, "idmap the mount of %s", src);
	close((int)attr.userns_fd);
	slots[s->v[0].num] = tree;
}

void step_mount_tree(const struct step *s)
{
	int *tree = &slots[s->v[0].num];
	const char *dst = s->v[1].str;
	int fd = mount_target(dst, s->v[2].num);
	if (fd < 0)
		fail(s->index, errno, "%s mount target %s",
		     s->v[2].num ? "create" : "resolve", dst);
	if (syscall(SYS_move_mount, *tree, "", fd, "",
		    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		fail(s->index, errno, "attach the mount tree at %s", dst);
	close(fd);
	close(*tree);
	*tree = -1;
}

void step_mount_propagation(const struct step *s)
{
	static const unsigned long kinds[] = {MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE};
	unsigned long flags = s->v[1].num;
	char p[32];
	int fd = open_in_root(s->v[0].str, O_PATH);
	if (fd < 0)
		fail(s->index, errno, "resolve %s", s->v[0].str);
	/* the kernel takes one propagation type per call */
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
		if ((flags & kinds[k]) &&
		    mount(NULL, fdpath(p, fd), NULL, kinds[k] | (flags & MS_REC), NULL) < 0)
			fail(s->index, errno, "set propagation 0x%lx on %s",
			     kinds[k] | (flags & MS_REC), s->v[0].str);
	close(fd);
}

void step_mknod(const struct step *s)
{
	const char *path = s->v[0].str;
	char name[NAME_MAX + 1];
	int dir = open_parent(path, name);
	if (dir < 0)
		fail(s->index, errno, "create parent directory of %s", path);
	/* whatever the image put there (even a symlink) goes, not followed */
	if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
		fail(s->index, errno, "remove %s", path);
	mode_t old = umask(0); /* the plan's mode is the mode */
	int r = mknodat(dir, name, (mode_t)s->v[1].num,
			makedev((unsigned)s->v[2].num, (unsigned)s->v[3].num));
	umask(old);
	if (r < 0)
		fail(s->index, errno, "mknod %s", path);
	if (fchownat(dir, name, (uid_t)s->v[4].num, (gid_t)s->v[5].num, AT_SYMLINK_NOFOLLOW) < 0)
		fail(s->index, errno, "chown %s", path);
	close(dir);
}

void step_bind_device(const struct step *s)
{
	const char *host = s->v[0].str, *path = s->v[1].str;
	int fd = mount_target(path, 2);
	if (fd < 0)
		fail(s->index, errno, "create device file %s", path);
	if (bind_host(host, fd, 0) < 0)
		fail(s->index, errno, "bind device %s on %s", host, path);
	close(fd);
}

void step_symlink(const struct step *s)
{
	const char *target = s->v[0].str, *path = s->v[1].str;
	char name[NAME_MAX + 1];
	int dir = open_parent(path, name);
	if (dir < 0)
		fail(s->index, errno, "create parent directory of %s", path);
	if (symlinkat(target, dir, name) < 0 && errno != EEXIST)
		fail(s->index, errno, "symlink %s -> %s", path, target);
	close(dir);
}

/* A sysctl or oom_score_adj goes to procfs or nowhere: a path that leads
 * elsewhere (a bind or a symlink in the way) would write into some file. */
void step_write_proc(const struct step *s)
{
	const char *path = s->v[0].str, *value = s->v[1].str;
	struct statfs fs;
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	/* INIT is not dumpable, so its /proc/self files belong to the host's
	 * root, whom a new user namespace does not map: even its root is
	 * refused. Permission is checked at open only, so INIT is dumpable
	 * for exactly that call. */
	if (fd < 0 && errno == EACCES && prctl(PR_SET_DUMPABLE, 1) == 0) {
		fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;
		if (prctl(PR_SET_DUMPABLE, 0) < 0)
			fail(s->index, errno, "make INIT non-dumpable again");
		errno = err;
	}
	if (fd < 0)
		fail(s->index, errno, "open %s", path);
	if (fstatfs(fd, &fs) < 0)
		fail(s->index, errno, "statfs %s", path);
	if (fs.f_type != PROC_SUPER_MAGIC)
		fail(s->index, 0, "refuse to write %s: not on procfs", path);
	if (write(fd, value, s->v[1].len) != (ssize_t)s->v[1].len)
		fail(s->index, errno, "write \"%s\" to %s", value, path);
	close(fd);
}

/* ---- the switch of root --------------------------------------------------
 * Afterwards "/" is the container's root and root_fd must say so: every
 * later "in root" path resolves against it. */

static void reopen_root(const struct step *s)
{
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail(s->index, errno, "open the new /");
	close(root_fd);
	root_fd = fd;
}

/* pivot_root(".", ".") stacks the old root on the new one without a
 * directory for it; it is made a slave first so that detaching it cannot
 * propagate an unmount to the host. Where "." points after pivot_root is the
 * kernel's choice, so we step into the old root through a descriptor taken
 * before: making the *new* root's tree a slave would silently undo the
 * propagation the plan gave its mounts (runc does the same). */
void step_pivot_root(const struct step *s)
{
	int old_root = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
	if (old_root < 0)
		fail(s->index, errno, "open the old root");
	if (fchdir(root_fd) < 0)
		fail(s->index, errno, "enter the root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(s->index, errno, "pivot_root");
	if (fchdir(old_root) < 0)
		fail(s->index, errno, "enter the old root");
	close(old_root);
	if (mount("", ".", "", MS_SLAVE | MS_REC, "") < 0)
		fail(s->index, errno, "make the old root a slave");
	if (umount2(".", MNT_DETACH) < 0)
		fail(s->index, errno, "detach the old root");
	if (chdir("/") < 0)
		fail(s->index, errno, "chdir to /");
	reopen_root(s);
}

/* For hosts whose own root is a ramfs, where pivot_root is refused. The old
 * root stays mounted beneath, reachable by whoever escapes a chroot: this
 * is weaker, which is why only --no-pivot asks for it. */
void step_chroot(const struct step *s)
{
	if (fchdir(root_fd) < 0)
		fail(s->index, errno, "enter the root");
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		fail(s->index, errno, "move the root onto /");
	if (chroot(".") < 0)
		fail(s->index, errno, "chroot");
	if (chdir("/") < 0)
		fail(s->index, errno, "chdir to /");
	reopen_root(s);
}

/* ---- after the switch: in the new root ---------------------------------- */

/* stdio that is the host's /dev/null (an engine's stdin) becomes the
 * container's own: a file of the host's mount tree is one CRIU cannot dump. */
void step_reopen_dev_null(const struct step *s)
{
	struct stat st, null;
	int nfd = open_in_root("/dev/null", O_RDWR);
	if (nfd < 0 || fstat(nfd, &null) < 0)
		fail(s->index, errno, "open the container's /dev/null");
	if (!S_ISCHR(null.st_mode) || null.st_rdev != makedev(1, 3))
		fail(s->index, 0, "reopen stdio: /dev/null is not the null device 1:3");
	for (int fd = 0; fd < 3; fd++)
		if (fd != nfd && fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
		    st.st_rdev == null.st_rdev && dup2(nfd, fd) < 0)
			fail(s->index, errno, "put /dev/null on descriptor %d", fd);
	if (nfd > 2)
		close(nfd);
}

void step_mask_path(const struct step *s)
{
	const char *path = s->v[0].str;
	struct stat st, null;
	char p[32], n[32];
	int fd = open_in_root(path, O_PATH);
	if (fd < 0 && errno == ENOENT)
		return;
	if (fd < 0 || fstat(fd, &st) < 0)
		fail(s->index, errno, "resolve masked path %s", path);
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", fdpath(p, fd), "tmpfs", MS_RDONLY, NULL) < 0)
			fail(s->index, errno, "mask %s with a read-only tmpfs", path);
	} else {
		/* /dev belongs to the container: if its null is anything else,
		 * binding it would hand out a real file (CVE-2025-31133) */
		int nfd = open_in_root("/dev/null", O_PATH);
		if (nfd < 0 || fstat(nfd, &null) < 0)
			fail(s->index, errno, "resolve /dev/null to mask %s", path);
		if (!S_ISCHR(null.st_mode) || null.st_rdev != makedev(1, 3))
			fail(s->index, 0, "mask %s: /dev/null is not the null device 1:3", path);
		if (mount(fdpath(n, nfd), fdpath(p, fd), NULL, MS_BIND, NULL) < 0)
			fail(s->index, errno, "mask %s with /dev/null", path);
		close(nfd);
	}
	close(fd);
}

void step_readonly_path(const struct step *s)
{
	const char *path = s->v[0].str;
	char p[32];
	int fd = open_in_root(path, O_PATH);
	if (fd < 0 && errno == ENOENT)
		return;
	if (fd < 0)
		fail(s->index, errno, "resolve read-only path %s", path);
	if (mount(fdpath(p, fd), p, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail(s->index, errno, "bind %s onto itself", path);
	close(fd);
	/* the new bind, resolved again; it keeps the nosuid, nodev and noexec
	 * of the mount it comes from (/proc/sys stays noexec), as runc does */
	struct statvfs sv;
	unsigned long keep = 0;
	fd = open_in_root(path, O_PATH);
	if (fd < 0 || fstatvfs(fd, &sv) < 0)
		fail(s->index, errno, "resolve read-only path %s after binding it", path);
	keep |= (sv.f_flag & ST_NOSUID) ? MS_NOSUID : 0;
	keep |= (sv.f_flag & ST_NODEV) ? MS_NODEV : 0;
	keep |= (sv.f_flag & ST_NOEXEC) ? MS_NOEXEC : 0;
	if (remount_locked(fdpath(p, fd), fd, MS_RDONLY | keep) < 0)
		fail(s->index, errno, "remount %s read-only", path);
	close(fd);
}

void step_remount_root_ro(const struct step *s)
{
	if (remount_locked("/", root_fd, MS_RDONLY) < 0)
		fail(s->index, errno, "remount / read-only");
}

/* A descriptor leaked from the host can make the cwd a directory outside
 * the root (cwd=/proc/self/fd/N, CVE-2024-21626); the kernel then reports it
 * as unreachable, which glibc's getcwd turns into ENOENT. */
static int cwd_reached; /* an early STEP_CHDIR got there already */

void step_chdir(const struct step *s)
{
	const char *path = s->v[0].str;
	int early = (int)s->v[1].num;
	char cwd[PATH_MAX];
	if (!early && cwd_reached)
		return;
	if (chdir(path) < 0) {
		/* root may be refused where the container's user is let in */
		if (early && (errno == EACCES || errno == EPERM))
			return;
		fail(s->index, errno, "chdir to %s", path);
	}
	cwd_reached = early;
	/* getcwd may be denied by a seccomp profile already loaded (no
	 * no_new_privs): then walk ".." instead (steps_security.c) */
	if (!getcwd(cwd, sizeof cwd)) {
		int inside = errno == ENOENT ? 0 : cwd_inside_root();
		if (inside < 0)
			fail(s->index, errno, "check that cwd %s is inside the root", path);
		if (!inside)
			fail(s->index, 0, "cwd %s is outside the root", path);
		return;
	}
	if (cwd[0] != '/')
		fail(s->index, 0, "cwd %s is outside the root (%s)", path, cwd);
}
