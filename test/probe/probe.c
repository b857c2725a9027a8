/*
 * probe.c - runs inside a container under test and prints ONE JSON object
 * (one line, then '\n') describing what the process sees. Built static by
 * test/lib/probe.ts (`cc -static -O2`), copied into every test bundle at /probe.
 * The shape of the output is typed in test/lib/probe.ts (ProbeReport); keep
 * the two in step.
 *
 *   probe [-- ARG...]       everything (extra ARGs only show up in "argv")
 *   probe stat PATH...      {"stat":{PATH:{type,mode,major,minor,uid,gid,size[,target]}|{error}}}
 *   probe write PATH [DATA] {"write":"ok"} or {"write":"EROFS"} (errno name)
 *   probe read PATH [MAX]   {"read":"<text>"} or {"error":"ENOENT"}; at most MAX bytes (4096)
 *   probe ls DIR            {"ls":[names in readdir order]} or {"error":...}
 *   probe sleep N           prints {"sleeping":N} once its handlers are in place, sleeps
 *                           N seconds, exit 0; SIGTERM/INT/HUP/USR1/USR2 print
 *                           {"signal":N} and exit 0 (pid 1 of a pid namespace only
 *                           receives signals it has a handler for: signal it only
 *                           after "sleeping" appeared, or the signal is lost)
 *   probe exit N            exit status N, prints nothing
 *   probe udp-echo PORT     binds UDP PORT on every address, prints {"listening":PORT},
 *                           then answers every datagram with "echo:" and its bytes,
 *                           until killed (busybox has no UDP server)
 *   probe keyring [clear]   {"keyring":{"session":DESCRIPTION,"keys":[{"description","payload"}]
 *                           [,"clear":"ok"|ERRNO]}}: the session keyring and what it holds
 *                           (after reading it, KEYCTL_CLEAR with "clear")
 *   probe with-key DATA -- CMD...
 *                           on the host: joins a new session keyring, adds the user key
 *                           "probe-key" holding DATA, runs CMD (stdio inherited), then
 *                           prints {"withKey":{"status":N,"after":DATA|null[,"afterError"]}}:
 *                           whether CMD left the key alone
 *
 * Conventions: a value the probe could not read is JSON null, with the errno
 * name in a sibling "<field>Error" where that helps. "unlimited" rlimits are -1.
 * Strings are emitted byte for byte except JSON escapes (no octal unescaping of
 * mountinfo fields, so a mount point with a space reads "\040").
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/keyctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

extern char **environ;

/* ---- output buffer: everything is written with one write() at the end ---- */
static char *out;
static size_t out_len, out_cap;
static int need_comma;

static void put(const char *s, size_t n) {
  if (out_len + n + 1 > out_cap) {
    out_cap = (out_len + n + 1) * 2 + 4096;
    out = realloc(out, out_cap);
    if (!out) _exit(99);
  }
  memcpy(out + out_len, s, n);
  out_len += n;
}
static void puts_(const char *s) { put(s, strlen(s)); }
static void putf(const char *fmt, ...) {
  char b[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  put(b, (size_t)n);
}
static void jstr(const char *s) {
  if (!s) { puts_("null"); return; }
  put("\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') { put("\\", 1); put((const char *)p, 1); }
    else if (*p == '\n') puts_("\\n");
    else if (*p == '\t') puts_("\\t");
    else if (*p < 0x20 || *p == 0x7f) putf("\\u%04x", *p);
    else put((const char *)p, 1);
  }
  put("\"", 1);
}
/* object/array punctuation: sep() before every member or element */
static void sep(void) { if (need_comma) put(",", 1); need_comma = 0; }
static void open_(char c) { sep(); put(&c, 1); need_comma = 0; }
static void close_(char c) { put(&c, 1); need_comma = 1; }
static void key(const char *k) { sep(); jstr(k); put(":", 1); need_comma = 0; }
static void vstr(const char *s) { sep(); jstr(s); need_comma = 1; }
static void vnum(long long n) { sep(); putf("%lld", n); need_comma = 1; }
static void vnull(void) { sep(); puts_("null"); need_comma = 1; }
static void kstr(const char *k, const char *v) { key(k); vstr(v); }
static void knum(const char *k, long long v) { key(k); vnum(v); }
static void kerr(const char *k, int e) {
  char b[64];
  snprintf(b, sizeof b, "%sError", k);
  key(b); vstr(strerrorname_np(e) ? strerrorname_np(e) : "E?");
}
static void flush_exit(int code) {
  put("\n", 1);
  for (size_t off = 0; off < out_len;) {
    ssize_t n = write(1, out + off, out_len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(98);
    off += (size_t)n;
  }
  _exit(code);
}

/* whole file into a NUL-terminated heap buffer; NULL (errno set) on failure */
static char *slurp(const char *path, size_t max) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t len = 0, cap = 4096;
  char *b = malloc(cap + 1);
  for (;;) {
    if (len == cap) { if (cap >= max) break; cap *= 2; b = realloc(b, cap + 1); }
    ssize_t n = read(fd, b + len, (cap < max ? cap : max) - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { int e = errno; free(b); close(fd); errno = e; return NULL; }
    if (n == 0) break;
    len += (size_t)n;
    if (len >= max) break;
  }
  close(fd);
  b[len] = 0;
  return b;
}

/* "Name:\tvalue" from /proc/self/status, value copied into buf */
static const char *status_field(const char *status, const char *name, char *buf, size_t n) {
  size_t l = strlen(name);
  for (const char *p = status; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
    if (strncmp(p, name, l) == 0 && p[l] == ':') {
      p += l + 1;
      while (*p == ' ' || *p == '\t') p++;
      size_t i = 0;
      while (p[i] && p[i] != '\n' && i + 1 < n) { buf[i] = p[i]; i++; }
      buf[i] = 0;
      return buf;
    }
  }
  return NULL;
}

static void emit_file(const char *k, const char *path) {
  char *s = slurp(path, 1 << 20);
  key(k);
  if (s) vstr(s); else vnull();
  free(s);
}

static void emit_status(void) {
  static const char *caps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
  char *st = slurp("/proc/self/status", 1 << 16);
  char b[256];
  key("caps"); open_('{');
  for (unsigned i = 0; i < sizeof caps / sizeof *caps; i++) {
    key(caps[i]);
    vstr(st ? status_field(st, caps[i], b, sizeof b) : NULL);
  }
  close_('}');
  const char *v;
  key("noNewPrivs");
  if (st && (v = status_field(st, "NoNewPrivs", b, sizeof b))) vnum(atoll(v)); else vnull();
  key("seccomp");
  if (st && (v = status_field(st, "Seccomp", b, sizeof b))) vnum(atoll(v)); else vnull();
  free(st);
}

static void emit_rlimits(void) {
  static const struct { const char *name; int res; } rl[] = {
    {"RLIMIT_CPU", RLIMIT_CPU}, {"RLIMIT_FSIZE", RLIMIT_FSIZE}, {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_STACK", RLIMIT_STACK}, {"RLIMIT_CORE", RLIMIT_CORE}, {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC}, {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_AS", RLIMIT_AS}, {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE}, {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
  };
  key("rlimits"); open_('{');
  for (unsigned i = 0; i < sizeof rl / sizeof *rl; i++) {
    struct rlimit r;
    key(rl[i].name);
    if (getrlimit(rl[i].res, &r) != 0) { vnull(); continue; }
    open_('[');
    vnum(r.rlim_cur == RLIM_INFINITY ? -1 : (long long)r.rlim_cur);
    vnum(r.rlim_max == RLIM_INFINITY ? -1 : (long long)r.rlim_max);
    close_(']');
  }
  close_('}');
}

static void emit_namespaces(void) {
  static const char *ns[] = {"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children",
                             "time", "time_for_children", "user", "uts"};
  key("ns"); open_('{');
  for (unsigned i = 0; i < sizeof ns / sizeof *ns; i++) {
    char path[64], target[256];
    snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i]);
    ssize_t n = readlink(path, target, sizeof target - 1);
    key(ns[i]);
    if (n < 0) { vnull(); continue; }
    target[n] = 0;
    vstr(target);
  }
  close_('}');
}

/* mountinfo: id parent major:minor root mountpoint options [optional...] - fstype source super */
static void emit_mounts(void) {
  char *mi = slurp("/proc/self/mountinfo", 1 << 22);
  key("mounts");
  if (!mi) { vnull(); kerr("mounts", errno); return; }
  open_('[');
  for (char *line = strtok(mi, "\n"); line; line = strtok(NULL, "\n")) {
    char *f[64];
    int n = 0;
    for (char *save, *w = strtok_r(line, " ", &save); w && n < 64; w = strtok_r(NULL, " ", &save))
      f[n++] = w;
    int dash = 6;
    while (dash < n && strcmp(f[dash], "-") != 0) dash++;
    if (n < 7 || dash >= n) continue;
    open_('{');
    knum("id", atoll(f[0]));
    knum("parent", atoll(f[1]));
    kstr("dev", f[2]);
    kstr("root", f[3]);
    kstr("mountPoint", f[4]);
    kstr("options", f[5]);
    key("optional"); open_('[');
    for (int i = 6; i < dash; i++) vstr(f[i]);
    close_(']');
    kstr("fsType", dash + 1 < n ? f[dash + 1] : NULL);
    kstr("source", dash + 2 < n ? f[dash + 2] : NULL);
    kstr("superOptions", dash + 3 < n ? f[dash + 3] : NULL);
    close_('}');
  }
  close_(']');
  free(mi);
}

static void emit_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  key("fds");
  if (!d) { vnull(); kerr("fds", errno); return; }
  open_('{');
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
    char path[300], target[4096];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    key(e->d_name);
    if (n < 0) { vnull(); continue; }
    target[n] = 0;
    vstr(target);
  }
  closedir(d);
  close_('}');
}

static void emit_everything(int argc, char **argv) {
  struct utsname u;
  char buf[4096];
  gid_t groups[256];
  open_('{');
  emit_fds(); /* first, before anything else opens a descriptor */
  knum("pid", getpid());
  knum("ppid", getppid());
  knum("uid", getuid()); knum("gid", getgid());
  knum("euid", geteuid()); knum("egid", getegid());
  int ng = getgroups(256, groups);
  key("groups"); open_('[');
  for (int i = 0; i < ng; i++) vnum(groups[i]);
  close_(']');
  mode_t m = umask(0); umask(m);
  knum("umask", m);
  key("cwd");
  if (getcwd(buf, sizeof buf)) vstr(buf); else { vnull(); kerr("cwd", errno); }
  if (uname(&u) == 0) { kstr("hostname", u.nodename); kstr("domainname", u.domainname); }
  emit_status();
  char *oom = slurp("/proc/self/oom_score_adj", 64);
  key("oomScoreAdj");
  if (oom) vnum(atoll(oom)); else vnull();
  free(oom);
  emit_rlimits();
  key("env"); open_('[');
  for (char **e = environ; e && *e; e++) vstr(*e);
  close_(']');
  key("argv"); open_('[');
  for (int i = 0; i < argc; i++) vstr(argv[i]);
  close_(']');
  emit_namespaces();
  emit_mounts();
  emit_file("cgroup", "/proc/self/cgroup");
  emit_file("uidMap", "/proc/self/uid_map");
  emit_file("gidMap", "/proc/self/gid_map");
  close_('}');
}

static void emit_stat(const char *path) {
  struct stat st;
  key(path);
  if (lstat(path, &st) != 0) { open_('{'); kstr("error", strerrorname_np(errno)); close_('}'); return; }
  const char *type = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir"
                   : S_ISCHR(st.st_mode) ? "char" : S_ISBLK(st.st_mode) ? "block"
                   : S_ISFIFO(st.st_mode) ? "fifo" : S_ISLNK(st.st_mode) ? "symlink" : "socket";
  open_('{');
  kstr("type", type);
  knum("mode", st.st_mode & 07777);
  knum("major", major(st.st_rdev));
  knum("minor", minor(st.st_rdev));
  knum("uid", st.st_uid);
  knum("gid", st.st_gid);
  knum("size", st.st_size);
  if (S_ISLNK(st.st_mode)) {
    char t[4096];
    ssize_t n = readlink(path, t, sizeof t - 1);
    if (n >= 0) { t[n] = 0; kstr("target", t); }
  }
  close_('}');
}

static void on_signal(int sig) {
  char b[32];
  int n = snprintf(b, sizeof b, "{\"signal\":%d}\n", sig);
  if (write(1, b, (size_t)n) < 0) _exit(97);
  _exit(0);
}

static int udp_echo(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr = {htonl(INADDR_ANY)}};
  if (fd < 0 || bind(fd, (struct sockaddr *)&at, sizeof at) != 0) return 98;
  char b[48];
  int n = snprintf(b, sizeof b, "{\"listening\":%d}\n", port);
  if (write(1, b, (size_t)n) < 0) return 97;
  for (;;) {
    char msg[1024] = "echo:";
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t got = recvfrom(fd, msg + 5, sizeof msg - 5, 0, (struct sockaddr *)&from, &len);
    if (got >= 0) sendto(fd, msg, (size_t)got + 5, 0, (struct sockaddr *)&from, len);
  }
}

/* ---- keyrings ---- */
static long keyctl_(int op, long a, long b, long c) { return syscall(SYS_keyctl, op, a, b, c); }

/* A key's describe string or payload; NULL (errno set) when it cannot be read. */
static char *key_text(int op, long id) {
  static char buf[4096];
  long n = keyctl_(op, id, (long)buf, sizeof buf - 1);
  if (n < 0) return NULL;
  buf[n < (long)sizeof buf - 1 ? n : (long)sizeof buf - 1] = 0;
  return buf;
}

static void emit_keyring(int clear) {
  key("keyring"); open_('{');
  char *desc = key_text(KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING);
  if (desc) kstr("session", desc); else { key("session"); vnull(); kerr("session", errno); }
  int32_t ids[256];
  long n = keyctl_(KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, (long)ids, sizeof ids);
  key("keys"); open_('[');
  for (long i = 0; n > 0 && i < n / 4 && i < 256; i++) {
    open_('{');
    char *d = key_text(KEYCTL_DESCRIBE, ids[i]);
    if (d) kstr("description", d); else kerr("description", errno);
    char *p = key_text(KEYCTL_READ, ids[i]);
    if (p) kstr("payload", p); else kerr("payload", errno);
    close_('}');
  }
  close_(']');
  if (clear) kstr("clear", keyctl_(KEYCTL_CLEAR, KEY_SPEC_SESSION_KEYRING, 0, 0) < 0 ? strerrorname_np(errno) : "ok");
  close_('}');
}

static int with_key(const char *data, char **cmd) {
  if (keyctl_(KEYCTL_JOIN_SESSION_KEYRING, (long)"probe-session", 0, 0) < 0) return 96;
  long id = syscall(SYS_add_key, "user", "probe-key", data, strlen(data), KEY_SPEC_SESSION_KEYRING);
  if (id < 0) return 96;
  pid_t pid = fork();
  if (pid < 0) return 96;
  if (pid == 0) { execvp(cmd[0], cmd); _exit(127); }
  int status;
  while (waitpid(pid, &status, 0) < 0) if (errno != EINTR) return 96;
  open_('{'); key("withKey"); open_('{');
  knum("status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  char *after = key_text(KEYCTL_READ, id);
  if (after) kstr("after", after); else { key("after"); vnull(); kerr("after", errno); }
  close_('}'); close_('}');
  return 0;
}

static int usage(void) {
  static const char msg[] = "usage: probe [-- ARG...] | stat PATH... | write PATH [DATA] | "
                            "read PATH [MAX] | ls DIR | sleep N | exit N | udp-echo PORT | "
                            "keyring [clear] | with-key DATA -- CMD...\n";
  if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
  return 2;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "--";
  if (strcmp(cmd, "--") == 0) {
    emit_everything(argc, argv);
  } else if (strcmp(cmd, "stat") == 0) {
    open_('{'); key("stat"); open_('{');
    for (int i = 2; i < argc; i++) emit_stat(argv[i]);
    close_('}'); close_('}');
  } else if (strcmp(cmd, "write") == 0 && argc >= 3) {
    const char *data = argc > 3 ? argv[3] : "probe\n";
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    int e = fd < 0 ? errno : (write(fd, data, strlen(data)) < 0 ? errno : 0);
    if (fd >= 0 && close(fd) != 0 && !e) e = errno;
    open_('{'); kstr("write", e ? strerrorname_np(e) : "ok"); close_('}');
  } else if (strcmp(cmd, "read") == 0 && argc >= 3) {
    char *s = slurp(argv[2], argc > 3 ? (size_t)atoll(argv[3]) : 4096);
    open_('{');
    if (s) kstr("read", s); else kstr("error", strerrorname_np(errno));
    close_('}');
  } else if (strcmp(cmd, "ls") == 0 && argc == 3) {
    DIR *d = opendir(argv[2]);
    open_('{');
    if (!d) { kstr("error", strerrorname_np(errno)); }
    else {
      key("ls"); open_('[');
      for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) vstr(e->d_name);
      close_(']');
      closedir(d);
    }
    close_('}');
  } else if (strcmp(cmd, "sleep") == 0 && argc == 3) {
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], on_signal);
    unsigned left = (unsigned)atoi(argv[2]);
    char b[48];
    int n = snprintf(b, sizeof b, "{\"sleeping\":%u}\n", left);
    if (write(1, b, (size_t)n) < 0) return 97;
    while (left) left = sleep(left);
    return 0;
  } else if (strcmp(cmd, "udp-echo") == 0 && argc == 3) {
    return udp_echo(atoi(argv[2]));
  } else if (strcmp(cmd, "keyring") == 0 && argc <= 3) {
    open_('{'); emit_keyring(argc == 3 && strcmp(argv[2], "clear") == 0); close_('}');
  } else if (strcmp(cmd, "with-key") == 0 && argc >= 5 && strcmp(argv[3], "--") == 0) {
    if (with_key(argv[2], argv + 4)) return 96;
  } else if (strcmp(cmd, "exit") == 0 && argc == 3) {
    return atoi(argv[2]);
  } else {
    return usage();
  }
  flush_exit(0);
}
