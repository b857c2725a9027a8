/*
 * attempt.c - tries one thing a container must not be able to do, with the
 * raw system call, and prints ONE JSON line: {"attempt":NAME,"result":R},
 * R being "ok" or the errno name. Built static by
 * test/integration/escapes.test.ts and copied into the bundle as /attempt.
 *
 *   attempt mount FSTYPE TARGET        mount(2) a fresh filesystem
 *   attempt mknod PATH MAJOR MINOR     a block device node
 *   attempt open PATH                  open(2) read-write, then read one byte
 *   attempt settime                    clock_settime(CLOCK_REALTIME) to now
 *   attempt module                     init_module(2) with an empty image
 *   attempt reboot                     reboot(2) with CAD_OFF (harmless if allowed)
 *   attempt ptrace PID                 PTRACE_ATTACH (detached at once if it works)
 *   attempt write-exe PID              open /proc/PID/exe for writing (CVE-2019-5736)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case EBADF: return "EBADF";
	case EACCES: return "EACCES";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EINVAL: return "EINVAL";
	case ETXTBSY: return "ETXTBSY";
	case EROFS: return "EROFS";
	case ENOSYS: return "ENOSYS";
	case ENOEXEC: return "ENOEXEC";
	case EFAULT: return "EFAULT";
	default: return "EOTHER";
	}
}

static int report(const char *what, long r)
{
	printf("{\"attempt\":\"%s\",\"result\":\"%s\"}\n", what, r < 0 ? errname(errno) : "ok");
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	if (!strcmp(what, "mount") && argc == 4)
		return report(what, mount("none", argv[3], argv[2], 0, NULL));
	if (!strcmp(what, "mknod") && argc == 5)
		return report(what, mknod(argv[2], S_IFBLK | 0600, makedev(atoi(argv[3]), atoi(argv[4]))));
	if (!strcmp(what, "open") && argc == 3) {
		char c;
		int fd = open(argv[2], O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return report(what, -1);
		return report(what, read(fd, &c, 1));
	}
	if (!strcmp(what, "settime")) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		return report(what, clock_settime(CLOCK_REALTIME, &now));
	}
	if (!strcmp(what, "module")) {
		static char image[64];
		return report(what, syscall(SYS_init_module, image, sizeof image, ""));
	}
	if (!strcmp(what, "reboot"))
		return report(what, syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
					    LINUX_REBOOT_CMD_CAD_OFF, NULL));
	if (!strcmp(what, "ptrace") && argc == 3) {
		pid_t pid = atoi(argv[2]);
		long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
		int e = errno;
		if (r == 0) {
			waitpid(pid, NULL, __WALL);
			ptrace(PTRACE_DETACH, pid, 0, 0);
		}
		errno = e;
		return report(what, r);
	}
	if (!strcmp(what, "write-exe") && argc == 3) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%s/exe", argv[2]);
		return report(what, open(path, O_WRONLY | O_CLOEXEC));
	}
	fprintf(stderr, "attempt: unknown attempt %s\n", what);
	return 2;
}
