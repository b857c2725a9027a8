/*
 * pause.c - the program of a pod's sandbox container, as Kubernetes's
 * "pause" image runs one: it holds the pod's namespaces (network, ipc, uts,
 * and pid when the pod shares one) open by being alive in them, and does
 * nothing else. As pid 1 of a shared pid namespace it also reaps the
 * orphans reparented to it. SIGTERM or SIGINT end it, and with it the pod.
 *
 *   cc -static -O2 -o pause pause.c
 *
 * Containers From Scratch, chapter 10.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, 0, WNOHANG) > 0) {
  }
}

static void quit(int sig) {
  (void)sig;
  _exit(0);
}

int main(void) {
  signal(SIGCHLD, reap);
  signal(SIGTERM, quit);
  signal(SIGINT, quit);
  for (;;) pause();
}
