/*
 * steps_cgroup.c - cgroup v2 device rules: load the eBPF program runts
 * compiled (src/cgroups/device-bpf.ts) and attach it to the container's
 * cgroup. cgroup v2 has no devices.allow/deny files; the kernel asks a
 * BPF_PROG_TYPE_CGROUP_DEVICE program instead, on every open and mknod of a
 * device node by a process of the cgroup.
 *
 * Contract: native/protocol.h (STEP_CGROUP_DEVICE_FILTER).
 * The book: docs/05-cgroups.md, "Devices".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runts-init.h"

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

void step_cgroup_device_filter(const struct step *s)
{
	const char *dir = s->v[0].str;
	uint32_t len = s->v[1].len;
	if (len == 0 || len % sizeof(struct bpf_insn))
		fail(s->index, EINVAL, "device program of %u bytes is not eBPF", len);

	int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		fail(s->index, errno, "open cgroup %s", dir);

	union bpf_attr load;
	memset(&load, 0, sizeof(load));
	load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	load.insns = (uint64_t)(uintptr_t)s->v[1].str; /* malloc'd: aligned */
	load.insn_cnt = len / sizeof(struct bpf_insn);
	load.license = (uint64_t)(uintptr_t)"Apache";
	int prog = sys_bpf(BPF_PROG_LOAD, &load);
	if (prog < 0) {
		/* Load again with the verifier's log, which says why (a log that
		 * fills up fails with ENOSPC: keep the first error). */
		int err = errno;
		static char log[8192];
		load.log_buf = (uint64_t)(uintptr_t)log;
		load.log_size = sizeof(log);
		load.log_level = 1;
		sys_bpf(BPF_PROG_LOAD, &load);
		log[sizeof(log) - 1] = 0;
		char *last = strrchr(log, '\n');
		while (last && last > log && last[1] == 0) {
			*last = 0;
			last = strrchr(log, '\n');
		}
		fail(s->index, err, "load the device program (%u instructions): %.200s", load.insn_cnt, last ? last + 1 : log);
	}

	/* ALLOW_MULTI: a parent cgroup's program (systemd's, ...) still runs too.
	 * The attachment holds the program; both go away with the cgroup. */
	union bpf_attr attach;
	memset(&attach, 0, sizeof(attach));
	attach.target_fd = (uint32_t)cg;
	attach.attach_bpf_fd = (uint32_t)prog;
	attach.attach_type = BPF_CGROUP_DEVICE;
	attach.attach_flags = BPF_F_ALLOW_MULTI;
	if (sys_bpf(BPF_PROG_ATTACH, &attach) < 0)
		fail(s->index, errno, "attach the device program to %s", dir);
	close(prog);
	close(cg);
}
