/*
 * suid-id.c - the smallest setuid program worth the name: it prints who it
 * runs as, and the effective capabilities that came with it.
 *
 *   cc -static -o suid-id suid-id.c && chown root:root suid-id && chmod u+s suid-id
 *
 * Run by an ordinary user, a setuid-root file starts with euid 0 (and, as
 * root, a full effective capability set): that is how passwd, su and mount
 * get their power. Under no_new_privs the kernel ignores the setuid bit (and
 * file capabilities), and the program runs as whoever started it.
 *
 * Static, so that it also runs in the BusyBox container, which has no libc.
 *
 * The book: docs/08-security.md, "no_new_privs".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void)
{
	char line[256], eff[32] = "?";
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "CapEff: %31s", eff) == 1)
			break;
	if (f)
		fclose(f);
	printf("uid=%d euid=%d CapEff=%s no_new_privs=%d\n", (int)getuid(), (int)geteuid(), eff,
	       prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	return 0;
}
