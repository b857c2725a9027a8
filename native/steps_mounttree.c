/*
 * steps_mounttree.c - steps on whole mount trees.
 *
 * mount(2) with MS_REMOUNT changes one mount; a recursive bind ("rbind")
 * brings the mounts below it along, each keeping its own flags. The "r"
 * options of runc ("rro", "rnosuid", ...) reach every mount of the tree:
 * mount_setattr(2) with AT_RECURSIVE (Linux 5.12). Which attributes is a
 * TypeScript decision (src/rootfs/mount-options.ts); this file applies them.
 *
 * --no-pivot keeps the host's mount tree under the container's root. The
 * kernel lets a process mount a fresh proc or sysfs only where a full one is
 * visible in its mount namespace, and the host's are: they are detached
 * first (which ones: src/rootfs/no-pivot.ts).
 *
 * The contract: protocol.h, STEP_MOUNT_SETATTR and STEP_DETACH_MOUNT. The
 * book: docs/09-writing-runtime.md, "The plan and the C stage".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runts-init.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

void step_mount_setattr(const struct step *s)
{
	const char *path = s->v[0].str;
	struct mount_attr attr = {
		.attr_set = s->v[1].num,
		.attr_clr = s->v[2].num,
	};
	int fd = open_in_root(path, O_PATH | O_DIRECTORY);
	if (fd < 0)
		fail(s->index, errno, "open %s in the root", path);
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
		fail(s->index, errno, "set attributes of every mount under %s (mount_setattr, Linux 5.12)", path);
	close(fd);
}

void step_detach_mount(const struct step *s)
{
	const char *path = s->v[0].str;
	/* the detach must not reach the host: this copy of the tree is a slave */
	if (mount("", path, "", MS_SLAVE | MS_REC, "") < 0) {
		if (errno == ENOENT) /* under a mount detached already */
			return;
		fail(s->index, errno, "make %s a slave", path);
	}
	if (umount2(path, MNT_DETACH) == 0)
		return;
	/* locked (a user namespace): cover it instead */
	if ((errno != EINVAL && errno != EPERM) || mount("tmpfs", path, "tmpfs", 0, "") < 0)
		fail(s->index, errno, "detach %s (or cover it with a tmpfs)", path);
}
