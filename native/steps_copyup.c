/*
 * steps_copyup.c - "tmpcopyup": a tmpfs that starts with what the image had
 * at its mount point.
 *
 * runc and crun take "tmpcopyup" on a tmpfs mount (podman asks for it with
 * --tmpfs and --read-only): the directory the tmpfs will shadow is copied
 * into it, so /etc on a tmpfs still holds the image's passwd. Whether a
 * mount wants it is a TypeScript decision (src/rootfs/mounts.ts); this file
 * copies.
 *
 * NO TEMPORARY DIRECTORY. runc mounts the tmpfs on a scratch directory of
 * the host, copies into it and moves it into place. Here the directory
 * stays reachable after the tmpfs covers it, through a descriptor:
 *   STEP_HOLD_DIR   before the mount: open the destination (in root, as
 *                   every mount target is resolved) into a slot;
 *   STEP_MOUNT      the tmpfs, as any other;
 *   STEP_COPY_UP    resolve the destination again (now the tmpfs's root)
 *                   and copy the held tree into it; close the slot.
 * A failure exits INIT, whose mount namespace, and the tmpfs in it, die
 * with it: nothing is left on the host.
 *
 * WHAT IS COPIED. Directories, regular files (their bytes), symlinks (their
 * target text, never followed), device nodes, fifos and sockets (mknod, as
 * crun; in a user namespace the kernel refuses device nodes: that is an
 * error naming the file); for each, the owner and the mode bits (07777,
 * setuid and sticky too), set explicitly, so the umask plays no part (runc
 * issue 3991). The owners are the ones INIT sees: inside a user namespace,
 * the container's ids. Not copied, as runc: times (the copy is a new file
 * system, made now), extended attributes (tmpfs takes user.* only since
 * Linux 6.6 and trusted.* only from the host's root: copying them would
 * work on some hosts and fail on others; SELinux labels come from the
 * mount's context= instead), and hard links (each name gets its own copy).
 * The tmpfs's root takes the mode bits of the directory it covers when the
 * plan says so (the config gave no mode=: runc puts the covered directory's
 * mode first in every tmpfs's options); its owner stays the mount's. A
 * tmpfs without "tmpcopyup" and without mode= uses the same two steps with
 * nothing to copy: only the mode is taken.
 *
 * THE SOURCE IS THE IMAGE'S, SO IT IS HOSTILE. Every name is opened with
 * openat(O_NOFOLLOW) relative to its directory's descriptor: a symlink is
 * copied as a symlink and never walked through. A directory or a file is
 * described by fstat of what was opened, not by a name looked up again,
 * and a file must still be a regular file once open (O_NONBLOCK: a fifo
 * swapped in cannot block us). The destination is the fresh tmpfs: each
 * entry is created there with O_EXCL / mkdirat / mknodat / symlinkat, so
 * nothing is written through an existing link.
 *
 * The contract: protocol.h, STEP_HOLD_DIR and STEP_COPY_UP. The book:
 * docs/03-building-rootfs.md, "tmpcopyup".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "runts-init.h"

/* The directory being copied, below the mount point ("" at the top): one
 * buffer for the whole walk, so a deep tree costs no stack per level. */
static char rel[PATH_MAX];
/* Where a copy failed, the same way, and the errno. */
static char failed_at[PATH_MAX];
static int failed_err;

static int copy_failed(const char *name)
{
	failed_err = errno;
	snprintf(failed_at, sizeof failed_at, "%s%s%s", rel, *rel && *name ? "/" : "", name);
	return -1;
}

/* Owner, then mode: chown(2) clears setuid and setgid of a file. */
static int set_owner_mode(int fd, const struct stat *st)
{
	if (fchown(fd, st->st_uid, st->st_gid) < 0)
		return -1;
	return fchmod(fd, st->st_mode & 07777);
}

static int copy_bytes(int from, int to)
{
	static char buf[1 << 16];
	for (;;) {
		ssize_t n = read(from, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -1;
			off += w;
		}
	}
}

static int copy_tree(int src, int dst);

/* One directory entry: src and dst are its parent directories. */
static int copy_entry(int src, int dst, const char *name)
{
	static char target[PATH_MAX + 1]; /* a symlink's */
	struct stat st;
	int from = -1, to = -1, r = -1;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_failed(name);
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR: {
		size_t len = strlen(rel);
		if ((from = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
		    fstat(from, &st) < 0 || mkdirat(dst, name, 0700) < 0 ||
		    (to = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			break;
		if (snprintf(rel + len, sizeof rel - len, "%s%s", len ? "/" : "", name) >= (int)(sizeof rel - len)) {
			rel[len] = 0;
			errno = ENAMETOOLONG;
			break;
		}
		/* the walk takes from's descriptor; to's owner and mode once it is full */
		int walked = copy_tree(from, to);
		from = -1;
		rel[len] = 0;
		if (walked < 0) {
			close(to);
			return -1;
		}
		r = set_owner_mode(to, &st);
		break;
	}
	case S_IFREG:
		if ((from = openat(src, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0 ||
		    fstat(from, &st) < 0)
			break;
		if (!S_ISREG(st.st_mode)) {
			errno = ESTALE; /* replaced while we looked */
			break;
		}
		if ((to = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
		    copy_bytes(from, to) < 0)
			break;
		r = set_owner_mode(to, &st);
		break;
	case S_IFLNK: {
		ssize_t n = readlinkat(src, name, target, sizeof target);
		if (n >= (ssize_t)sizeof target)
			errno = ENAMETOOLONG;
		if (n < 0 || n >= (ssize_t)sizeof target)
			break;
		target[n] = 0;
		if (symlinkat(target, dst, name) < 0)
			break;
		r = fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
		break;
	}
	default: /* device nodes, fifos, sockets */
		if (mknodat(dst, name, (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0 ||
		    fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
			break;
		r = fchmodat(dst, name, st.st_mode & 07777, 0);
		break;
	}
	int err = errno;
	if (from >= 0)
		close(from);
	if (to >= 0)
		close(to);
	errno = err;
	return r < 0 ? copy_failed(name) : 0;
}

/* Copy every entry of the directory src (the one rel names) into dst.
 * Takes src (the stream closes it), leaves dst open. */
static int copy_tree(int src, int dst)
{
	DIR *d = fdopendir(src);
	if (!d) {
		close(src);
		return copy_failed("");
	}
	int r = 0;
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e) {
			if (errno)
				r = copy_failed("");
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((r = copy_entry(dirfd(d), dst, e->d_name)) < 0)
			break;
	}
	closedir(d);
	return r;
}

void step_hold_dir(const struct step *s)
{
	const char *path = s->v[1].str;
	int fd = open_in_root(path, O_RDONLY | O_DIRECTORY);
	/* nothing there, or not a directory (the mount itself will say): nothing to copy */
	if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
		fail(s->index, errno, "open %s, to copy what it holds into the tmpfs mounted on it", path);
	slots[s->v[0].num] = fd;
}

void step_copy_up(const struct step *s)
{
	int *held = &slots[s->v[0].num];
	const char *path = s->v[1].str;
	struct stat a, b;
	struct statfs fs;
	if (*held < 0)
		return;
	int to = open_in_root(path, O_RDONLY | O_DIRECTORY);
	if (to < 0)
		fail(s->index, errno, "open the tmpfs at %s", path);
	/* the path must now lead to the new tmpfs, not to what it covers */
	if (fstatfs(to, &fs) < 0 || fstat(to, &a) < 0 || fstat(*held, &b) < 0)
		fail(s->index, errno, "stat the tmpfs at %s", path);
	if (fs.f_type != TMPFS_MAGIC || (a.st_dev == b.st_dev && a.st_ino == b.st_ino))
		fail(s->index, 0, "copy up into %s: no tmpfs is mounted there", path);
	if (s->v[3].num) {
		rel[0] = 0;
		int r = copy_tree(*held, to);
		*held = -1; /* copy_tree closed it */
		if (r < 0)
			fail(s->index, failed_err, "copy %s%s%s into the tmpfs mounted on %s", path,
			     *failed_at ? "/" : "", failed_at, path);
	} else {
		close(*held);
		*held = -1;
	}
	if (s->v[2].num && fchmod(to, b.st_mode & 07777) < 0)
		fail(s->index, errno, "give the tmpfs at %s the mode 0%o of the directory it covers", path,
		     (unsigned)(b.st_mode & 07777));
	close(to);
}
