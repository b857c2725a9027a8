/*
 * landlock.c - an unprivileged program that takes away its own right to read
 * anything outside DIR, then tries to read each FILE.
 *
 *   landlock DIR FILE...
 *
 * Landlock is a stackable LSM any process may use on itself, with no
 * privilege: it builds a ruleset (the access rights it wants to control:
 * here reading files and listing directories), adds a rule (those rights
 * are allowed beneath DIR), sets no_new_privs, and restricts itself. The
 * restriction holds for the rest of its life and is inherited by every
 * child. Rights the ruleset does not name (writing, say) are untouched.
 *
 * Containers From Scratch, chapter 11.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int die(const char *what) {
  fprintf(stderr, "landlock: %s: %s\n", what, strerror(errno));
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s DIR FILE...\n", argv[0]);
    return 2;
  }
  int abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 0) return die("the kernel has no Landlock (is it in /sys/kernel/security/lsm?)");

  struct landlock_ruleset_attr ruleset = {
    .handled_access_fs = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR,
  };
  int fd = syscall(SYS_landlock_create_ruleset, &ruleset, sizeof ruleset, 0);
  if (fd < 0) return die("landlock_create_ruleset");

  struct landlock_path_beneath_attr beneath = {
    .allowed_access = ruleset.handled_access_fs,
    .parent_fd = open(argv[1], O_PATH | O_CLOEXEC),
  };
  if (beneath.parent_fd < 0) return die(argv[1]);
  if (syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) < 0) return die("landlock_add_rule");
  close(beneath.parent_fd);

  /* as for a seccomp filter: no gaining privileges (setuid programs) after this */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return die("no_new_privs");
  if (syscall(SYS_landlock_restrict_self, fd, 0) < 0) return die("landlock_restrict_self");
  close(fd);
  printf("Landlock ABI %d: uid %d may read only beneath %s now\n", abi, (int)getuid(), argv[1]);

  int failed = 0;
  for (int i = 2; i < argc; i++) {
    FILE *f = fopen(argv[i], "r");
    if (!f) {
      printf("%s: %s\n", argv[i], strerror(errno));
      failed = 1;
      continue;
    }
    char line[200] = "";
    if (!fgets(line, sizeof line, f)) line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    printf("%s: read \"%s\"\n", argv[i], line);
    fclose(f);
  }
  return failed;
}
