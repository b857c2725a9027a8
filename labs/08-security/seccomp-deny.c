/*
 * seccomp-deny.c - a seccomp filter written by hand: six classic BPF
 * instructions that make one system call fail, and let every other through.
 *
 *   seccomp-deny [-e ERRNO] [-d] [-n] NR COMMAND [ARG...]
 *
 * NR is the syscall number to refuse (x86_64 numbers: uname is 63, mkdir 83,
 * clone3 435); ERRNO the error it returns (default 1, EPERM; 38 is ENOSYS).
 * -d prints the program before loading it; -n skips no_new_privs (see
 * below). The filter:
 *
 *   0: A = seccomp_data.arch
 *   1: if A != AUDIT_ARCH_X86_64 goto 5 (kill)
 *   2: A = seccomp_data.nr
 *   3: if A == NR goto 6 (errno)  else goto 4
 *   4: return ALLOW
 *   5: return KILL_PROCESS
 *   6: return ERRNO | errno
 *
 * (x32 calls arrive with x86_64's arch and bit 30 set in nr: they never
 * equal a plain NR, so this filter lets them all through. Exercise 3 of
 * docs/08-security.md closes that hole.)
 *
 * It sets no_new_privs first: without it only a process with CAP_SYS_ADMIN
 * may load a filter (-n shows the kernel refusing with EACCES). The filter is inherited by COMMAND and by everything it
 * starts, and can never be removed.
 *
 * The book: docs/08-security.md, "seccomp by hand".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned err = EPERM;
	int dump = 0, keep_privs = 0, opt;
	while ((opt = getopt(argc, argv, "+e:dn")) != -1) {
		if (opt == 'e')
			err = (unsigned)atoi(optarg);
		else if (opt == 'd')
			dump = 1;
		else if (opt == 'n')
			keep_privs = 1;
		else
			return 2;
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: %s [-e ERRNO] [-d] [-n] NR COMMAND [ARG...]\n", argv[0]);
		return 2;
	}
	unsigned nr = (unsigned)atoi(argv[optind]);

	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 2, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
	};
	struct sock_fprog fprog = { .len = sizeof prog / sizeof prog[0], .filter = prog };

	if (dump) {
		for (unsigned i = 0; i < fprog.len; i++)
			fprintf(stderr, "%u: code=0x%02x jt=%u jf=%u k=0x%08x\n", i, prog[i].code, prog[i].jt,
				prog[i].jf, prog[i].k);
	}
	if (!keep_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		perror("prctl(PR_SET_NO_NEW_PRIVS)");
		return 1;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0) {
		perror("seccomp(SECCOMP_SET_MODE_FILTER)");
		return 1;
	}
	execvp(argv[optind + 1], argv + optind + 1);
	perror(argv[optind + 1]);
	return 127;
}
