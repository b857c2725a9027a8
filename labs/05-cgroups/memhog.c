/*
 * memhog - allocate memory one MiB at a time, and touch every page of it.
 *
 *   memhog MIB [STEP]
 *
 * Allocates MIB mebibytes in chunks of 1 MiB, writing to each page so the
 * kernel really has to back it with memory (an untouched malloc costs
 * nothing), and prints a line every STEP MiB (default 8), with the time
 * since the start. Then it exits. Under a cgroup's memory.max it is killed
 * by the OOM killer part of the way; under memory.high it slows down, as
 * the kernel makes it reclaim and then sleep.
 *
 * The book: docs/05-cgroups.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: memhog MIB [STEP]\n");
		return 2;
	}
	long mib = atol(argv[1]);
	long step = argc == 3 ? atol(argv[2]) : 8;
	if (mib <= 0 || step <= 0) {
		fprintf(stderr, "memhog: MIB and STEP must be positive\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0); /* each line out before a possible kill */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long page = sysconf(_SC_PAGESIZE);
	for (long i = 1; i <= mib; i++) {
		char *p = malloc(1 << 20);
		if (!p) {
			printf("malloc failed at %ld MiB\n", i);
			return 1;
		}
		for (long off = 0; off < (1 << 20); off += page)
			p[off] = 1; /* never freed: the memory stays charged */
		if (i % step == 0 || i == mib)
			printf("%4ld MiB  %.1f s\n", i, since(&t0));
	}
	return 0;
}
