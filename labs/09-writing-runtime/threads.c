/*
 * threads.c - why a runtime's namespace work is done by a single-threaded
 * program: unshare(CLONE_NEWUSER) refuses a process with more than one
 * thread (EINVAL), as Node's and Go's processes always are.
 *
 *   threads [N]    start N-1 extra threads (default none), then unshare
 *
 * Containers From Scratch, chapter 9. Build: cc -pthread -o threads threads.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *idle(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	for (int i = 1; i < n; i++) {
		pthread_t t;
		pthread_create(&t, NULL, idle, NULL);
	}
	int r = unshare(CLONE_NEWUSER);
	printf("%d thread%s: unshare(CLONE_NEWUSER): %s\n", n, n > 1 ? "s" : "", r == 0 ? "ok" : strerror(errno));
	return r == 0 ? 0 : 1;
}
