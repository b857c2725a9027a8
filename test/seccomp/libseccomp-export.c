/*
 * libseccomp-export.c - the reference side of the seccomp differential test
 * (test/unit/seccomp-libseccomp.test.ts): builds a filter with libseccomp,
 * the library runc uses, and writes its BPF program (struct sock_filter[])
 * to stdout with seccomp_export_bpf.
 *
 * Input on stdin, one directive per line, already reduced the way runc
 * reduces an OCI profile (the test does that):
 *   default RET            the default action, as a SECCOMP_RET_* value
 *   arch NAME              an extra ABI, libseccomp's name (x86, x32, ...)
 *   rule RET NAME N [INDEX OP VALUE VALUETWO]*N
 *                          OP is libseccomp's enum scmp_compare number
 * A syscall ABI the filter does not list is killed (KILL_PROCESS), as runts
 * does, so both filters can be compared verdict for verdict.
 *
 * The book: docs/08-security.md, "seccomp".
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, int err)
{
	fprintf(stderr, "libseccomp-export: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

int main(void)
{
	char line[4096];
	scmp_filter_ctx ctx = NULL;
	int r;
	while (fgets(line, sizeof line, stdin)) {
		char name[128];
		unsigned long long ret;
		int n, off;
		if (sscanf(line, "default %llu", &ret) == 1) {
			if (!(ctx = seccomp_init((uint32_t)ret)))
				die("seccomp_init", EINVAL);
			if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)))
				die("set the bad-arch action", r);
		} else if (sscanf(line, "arch %127s", name) == 1) {
			uint32_t arch = seccomp_arch_resolve_name(name);
			if (!arch)
				die(name, EINVAL);
			if ((r = seccomp_arch_add(ctx, arch)) && r != -EEXIST)
				die("seccomp_arch_add", r);
		} else if (sscanf(line, "rule %llu %127s %d%n", &ret, name, &n, &off) == 3) {
			struct scmp_arg_cmp cmp[6];
			char *p = line + off;
			for (int i = 0; i < n && i < 6; i++) {
				unsigned int index, op;
				unsigned long long a, b;
				int used;
				if (sscanf(p, " %u %u %llu %llu%n", &index, &op, &a, &b, &used) != 4)
					die("bad rule line", EINVAL);
				cmp[i] = (struct scmp_arg_cmp){index, (enum scmp_compare)op, a, b};
				p += used;
			}
			int nr = seccomp_syscall_resolve_name(name);
			if (nr == __NR_SCMP_ERROR)
				continue; /* not a syscall of the native ABI */
			if ((r = seccomp_rule_add_array(ctx, (uint32_t)ret, nr, (unsigned)n, cmp)))
				die(name, r);
		}
	}
	if (!ctx)
		die("no default line", EINVAL);
	if ((r = seccomp_export_bpf(ctx, 1)))
		die("seccomp_export_bpf", r);
	seccomp_release(ctx);
	return 0;
}
