/*
 * runts-fast - `runts state`, `start`, `kill` and `delete` without Node.
 *
 * Engines call these verbs for every container, and an empty Node process
 * costs more than runc's whole `start`. So `runts create` (TypeScript)
 * decides ahead what each of them may do for the container and writes it
 * into the record `fast-verbs` beside state.json (format: fast-verbs.h;
 * compiler: src/runtime/fast-verbs.ts). This program only carries that
 * record out. It chooses nothing and prints nothing of its own making:
 * `state` prints one of the documents TypeScript wrote, the other verbs
 * print nothing when they succeed.
 *
 * Everything else is Node's: bin/runts runs
 *
 *   runts-fast NODE SCRIPT [runts arguments...]
 *
 * and on any case the record does not settle (another verb, an unknown
 * flag, --debug, a missing or stale record, a lock held, a status the verb
 * does not take, any failed system call) this program execs NODE SCRIPT
 * with the same arguments, before it has changed anything: errors, usage
 * and unusual cases come from the TypeScript path, byte for byte. The one
 * exceptions are failures after the point where Node could no longer do
 * the same thing (the fifo's removal once `start` released INIT, the state
 * directory's once `delete` removed state.json): runts-fast reports those.
 *
 * Design, invariants and races: docs/design/fast-verbs.md.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fast-verbs.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define MAX_RECORD (1 << 20)
#define MAX_LIST 64
#define MAX_SIGNALS 512

/* NODE SCRIPT args...: what to exec when Node must do the job. */
static char **node_argv;

/* Hand the command to Node, unchanged. Called only while nothing has changed. */
static _Noreturn void to_node(void) {
    signal(SIGPIPE, SIG_DFL);
    execvp(node_argv[0], node_argv);
    fprintf(stderr, "runts: cannot run %s: %s\n", node_argv[0], strerror(errno));
    exit(1);
}

/* ---- files ---- */

/* The whole file, NUL-terminated; NULL (errno set) if unreadable or larger than max. */
static char *read_file(const char *path, size_t max, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char *buf = malloc(max + 1);
    size_t n = 0;
    while (buf && n <= max) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { free(buf); buf = NULL; break; }
        if (r == 0) break;
        n += (size_t)r;
    }
    int saved = errno;
    close(fd);
    if (buf && n > max) { free(buf); buf = NULL; saved = EFBIG; }
    if (!buf) { errno = saved; return NULL; }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* The file's content without trailing whitespace, in buf; -1 if unreadable. */
static int read_trimmed(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, size - 1);
    int saved = errno;
    close(fd);
    if (n < 0) { errno = saved; return -1; }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t')) n--;
    buf[n] = '\0';
    return 0;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- the record (fast-verbs.h) ---- */

struct freezer { const char *path, *frozen, *thawed; };
/* A value of NUL-separated names; absent: empty. */
struct list { const char *names, *end; };
struct signame { const char *name; int number; };

struct record {
    char *data, *state_json;
    size_t state_json_len;
    const char *dir, *lock, *fifo, *pid_start, *init_comm;
    long pid;
    struct freezer freezer[MAX_LIST];
    int nfreezer;
    const char *out[4];
    size_t out_len[4];
    struct list start, kill, kill_all, delete, delete_force;
    struct signame signal[MAX_SIGNALS];
    int nsignal;
    long kill_default;
    const char *cgroup[MAX_LIST];
    int ncgroup;
    const char *frontend_file, *frontend_env;
};

enum status { CREATED, RUNNING, PAUSED, STOPPED, UNSETTLED };
static const char *const status_name[] = { "created", "running", "paused", "stopped", "" };

static long number(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (errno || end == s || *end) ? -1 : v;
}

/* The NUL-separated fields of a value: the next one after *p, or NULL. */
static const char *field(const char **p, const char *end) {
    if (*p >= end) return NULL;
    const char *f = *p;
    *p += strlen(f) + 1;
    return f;
}

/* Parse the record in r->data (len bytes); -1 if it is not one this program knows. */
static int parse_record(struct record *r, size_t len) {
    char *p = r->data, *end = r->data + len;
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char header[64];
    snprintf(header, sizeof header, "%s %d", FAST_MAGIC, FAST_VERSION);
    if (!nl || (size_t)(nl - p) != strlen(header) || memcmp(p, header, strlen(header))) return -1;
    r->pid = -1;
    r->kill_default = -1;
    for (p = nl + 1; p < end;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        char *sp = nl ? memchr(p, ' ', (size_t)(nl - p)) : NULL;
        if (!sp) return -1;
        *sp = *nl = '\0';
        const char *key = p;
        long n = number(sp + 1);
        char *val = nl + 1;
        if (n < 0 || n >= end - val || val[n] != '\n') return -1;
        val[n] = '\0';
        const char *vend = val + n;
        p = val + n + 1;
        if (!strcmp(key, FAST_KEY_STATE_JSON)) { r->state_json = val; r->state_json_len = (size_t)n; }
        else if (!strcmp(key, FAST_KEY_DIR)) r->dir = val;
        else if (!strcmp(key, FAST_KEY_LOCK)) r->lock = val;
        else if (!strcmp(key, FAST_KEY_FIFO)) r->fifo = val;
        else if (!strcmp(key, FAST_KEY_PID)) r->pid = number(val);
        else if (!strcmp(key, FAST_KEY_PID_START)) r->pid_start = val;
        else if (!strcmp(key, FAST_KEY_INIT_COMM)) r->init_comm = val;
        else if (!strcmp(key, FAST_KEY_START)) r->start = (struct list){ val, vend };
        else if (!strcmp(key, FAST_KEY_KILL)) r->kill = (struct list){ val, vend };
        else if (!strcmp(key, FAST_KEY_KILL_ALL)) r->kill_all = (struct list){ val, vend };
        else if (!strcmp(key, FAST_KEY_DELETE)) r->delete = (struct list){ val, vend };
        else if (!strcmp(key, FAST_KEY_DELETE_FORCE)) r->delete_force = (struct list){ val, vend };
        else if (!strcmp(key, FAST_KEY_KILL_DEFAULT)) r->kill_default = number(val);
        else if (!strcmp(key, FAST_KEY_OUT_CREATED)) { r->out[CREATED] = val; r->out_len[CREATED] = (size_t)n; }
        else if (!strcmp(key, FAST_KEY_OUT_RUNNING)) { r->out[RUNNING] = val; r->out_len[RUNNING] = (size_t)n; }
        else if (!strcmp(key, FAST_KEY_OUT_PAUSED)) { r->out[PAUSED] = val; r->out_len[PAUSED] = (size_t)n; }
        else if (!strcmp(key, FAST_KEY_OUT_STOPPED)) { r->out[STOPPED] = val; r->out_len[STOPPED] = (size_t)n; }
        else if (!strcmp(key, FAST_KEY_FREEZER)) {
            if (r->nfreezer == MAX_LIST) return -1;
            struct freezer *f = &r->freezer[r->nfreezer++];
            const char *q = val;
            if (!(f->path = field(&q, vend)) || !(f->frozen = field(&q, vend)) || !(f->thawed = field(&q, vend))) return -1;
        } else if (!strcmp(key, FAST_KEY_SIGNAL)) {
            if (r->nsignal == MAX_SIGNALS) return -1;
            struct signame *s = &r->signal[r->nsignal++];
            const char *q = val, *num;
            if (!(s->name = field(&q, vend)) || !(num = field(&q, vend)) || (s->number = (int)number(num)) < 0) return -1;
        } else if (!strcmp(key, FAST_KEY_CGROUP)) {
            if (r->ncgroup == MAX_LIST) return -1;
            r->cgroup[r->ncgroup++] = val;
        } else if (!strcmp(key, FAST_KEY_FRONTEND_FILE)) r->frontend_file = val;
        else if (!strcmp(key, FAST_KEY_FRONTEND_ENV)) r->frontend_env = val;
        else return -1; /* a key this program does not know: a newer runts wrote it */
    }
    for (int s = CREATED; s <= STOPPED; s++) if (!r->out[s]) return -1;
    return r->state_json && r->dir && r->lock && r->fifo && r->pid > 0 && r->pid_start && r->init_comm && r->kill_default >= 0 &&
        r->frontend_file && r->frontend_env ? 0 : -1;
}

/* Is path a file directly in dir (DIR/NAME)? */
static int directly_in(const char *path, const char *dir) {
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && path[n] == '/' && path[n + 1] && !strchr(path + n + 1, '/');
}

/*
 * The record of container id under root, valid for its state.json as it is
 * now; Node's job otherwise. The files it names for start and delete to
 * change must be the state directory it was read from, and files in it.
 */
static void load_record(struct record *r, const char *root, const char *id) {
    char path[4096];
    size_t len, json_len;
    struct stat here, named;
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/%s/%s", root, id, FAST_RECORD);
    if (!(r->data = read_file(path, MAX_RECORD, &len)) || parse_record(r, len) < 0) to_node();
    snprintf(path, sizeof path, "%s/%s", root, id);
    if (stat(path, &here) < 0 || stat(r->dir, &named) < 0 || here.st_dev != named.st_dev || here.st_ino != named.st_ino) to_node();
    if (!directly_in(r->lock, r->dir) || !directly_in(r->fifo, r->dir)) to_node();
    snprintf(path, sizeof path, "%s/%s/state.json", root, id);
    char *json = read_file(path, r->state_json_len, &json_len);
    if (!json || json_len != r->state_json_len || memcmp(json, r->state_json, json_len)) to_node();
    free(json);
}

/* Does the record let a verb go fast from status s? */
static int allows(struct list l, enum status s) {
    for (const char *name; (name = field(&l.names, l.end));) if (s != UNSETTLED && !strcmp(name, status_name[s])) return 1;
    return 0;
}

/* The tests' crash points (src/sys/fault.ts): with RUNTS_FAULT=NAME, die here as a kill -9 would. */
static void fault_point(const char *name) {
    const char *armed = getenv(FAST_FAULT_ENV);
    if (armed && !strcmp(armed, name)) raise(SIGKILL);
}

/* ---- processes ---- */

/* From /proc/PID/stat: the name, the state letter and the start time (field 22). -1 if gone. */
static int proc_stat(long pid, char *comm, size_t comm_size, char *state, char *start, size_t start_size) {
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    /* The name may hold spaces and parentheses: it ends at the last ')'. */
    char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
    if (!open_paren || !close_paren || close_paren < open_paren || close_paren[1] != ' ') return -1;
    snprintf(comm, comm_size, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
    char *f = close_paren + 2;
    *state = *f;
    for (int i = 0; i < 19; i++) {
        f = strchr(f, ' ');
        if (!f) return -1;
        f++;
    }
    size_t len = strcspn(f, " ");
    if (len >= start_size) return -1;
    memcpy(start, f, len);
    start[len] = '\0';
    return 0;
}

/* Is INIT still the process the record names (alive, not a zombie, same start time)? */
static int init_alive(const struct record *r, char *comm, size_t comm_size) {
    char state, start[32];
    if (proc_stat(r->pid, comm, comm_size, &state, start, sizeof start) < 0) return 0;
    return state != 'Z' && state != 'X' && !strcmp(start, r->pid_start);
}

/* The status, as src/runtime/store.ts reads it off the kernel; UNSETTLED when a read fails. */
static enum status status_of(const struct record *r) {
    char comm[64], buf[64];
    struct stat st;
    if (!init_alive(r, comm, sizeof comm)) return STOPPED;
    if (stat(r->fifo, &st) == 0) return strcmp(comm, r->init_comm) ? RUNNING : CREATED;
    if (errno != ENOENT) return UNSETTLED;
    for (int i = 0; i < r->nfreezer; i++) {
        if (read_trimmed(r->freezer[i].path, buf, sizeof buf) < 0) return UNSETTLED;
        if (!strcmp(buf, r->freezer[i].frozen)) return PAUSED;
    }
    return RUNNING;
}

/*
 * A pidfd for INIT, opened before its start time is checked: if the check
 * passes, the pidfd holds that very process, and no reused pid can be
 * signalled through it. -1 with errno ESRCH when INIT is gone.
 */
static int open_init(const struct record *r) {
    char comm[64];
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)r->pid, 0);
    if (pidfd < 0) return -1;
    if (!init_alive(r, comm, sizeof comm)) {
        close(pidfd);
        errno = ESRCH;
        return -1;
    }
    return pidfd;
}

static int pidfd_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Wait for the process to exit (its pidfd turns readable), up to ms. */
static void wait_exit(int pidfd, int ms) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int left = ms; left > 0;) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int n = poll(&p, 1, left);
        if (n != 0 && !(n < 0 && errno == EINTR)) return;
        clock_gettime(CLOCK_MONOTONIC, &t);
        left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
    }
}

/* ---- the lock (src/sys/lock.ts: flock on the lock file, the holder's pid written in it) ---- */

/* The container's lock, taken now or never: a held lock is Node's to wait for. */
static void take_lock(const char *path) {
    int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) to_node();
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) to_node(); /* fd is close-on-exec: Node does not inherit it */
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) to_node();
    /* held until this process exits */
}

/* ---- the verbs ---- */

struct args {
    const char *root, *verb, *id, *signal;
    int all, force;
};

static _Noreturn void verb_state(const struct args *a) {
    struct record r;
    load_record(&r, a->root, a->id);
    enum status s = status_of(&r);
    if (s == UNSETTLED || write_all(1, r.out[s], r.out_len[s]) < 0) to_node();
    exit(0);
}

static _Noreturn void verb_start(const struct args *a) {
    struct record r;
    load_record(&r, a->root, a->id);
    take_lock(r.lock);
    free(r.data);
    load_record(&r, a->root, a->id); /* again, now that no other verb can change it */
    if (!allows(r.start, status_of(&r))) to_node();
    int fd = open(r.fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) to_node(); /* ENXIO: INIT is gone */
    signal(SIGPIPE, SIG_IGN);
    if (write(fd, "0", 1) != 1) to_node(); /* EPIPE: INIT died first; nothing was released */
    /* INIT runs. From here on, Node could not do the same: errors are ours to report. */
    close(fd);
    fault_point(FAST_FAULT_START_SIGNALLED);
    if (unlink(r.fifo) < 0) {
        fprintf(stderr, "runts: start container %s: remove %s: %s\n", a->id, r.fifo, strerror(errno));
        exit(1);
    }
    exit(0);
}

/*
 * kill --all with nothing to signal: no cgroup.procs of the container lists
 * a process (typically: INIT, pid 1 of its own pid namespace, is gone, and
 * the kernel took the rest with it). Node's path would freeze, find no
 * member, thaw, and succeed silently. Anything listed is Node's to signal.
 */
static _Noreturn void kill_all_none(const struct record *r) {
    char path[4096], procs[64];
    if (!allows(r->kill_all, status_of(r)) || r->ncgroup == 0) to_node();
    for (int i = 0; i < r->ncgroup; i++) {
        snprintf(path, sizeof path, "%s/cgroup.procs", r->cgroup[i]);
        if (read_trimmed(path, procs, sizeof procs) < 0 ? errno != ENOENT : procs[0] != '\0') to_node();
    }
    exit(0);
}

static _Noreturn void verb_kill(const struct args *a) {
    struct record r;
    load_record(&r, a->root, a->id);
    long sig = -1;
    if (!a->signal) sig = r.kill_default;
    for (int i = 0; a->signal && i < r.nsignal && sig < 0; i++)
        if (!strcmp(r.signal[i].name, a->signal)) sig = r.signal[i].number;
    if (sig < 0) to_node();
    if (a->all) kill_all_none(&r);
    if (!allows(r.kill, status_of(&r))) to_node();
    int pidfd = open_init(&r);
    if (pidfd < 0 || pidfd_signal(pidfd, (int)sig) < 0) to_node();
    exit(0);
}

/* A cgroup directory delete may remove: no sub-cgroups, no processes. 0 if so (or already gone). */
static int cgroup_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -1;
    int ok = 0;
    for (struct dirent *e; ok == 0 && (e = readdir(d));) {
        struct stat st;
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        if (e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))) ok = -1;
    }
    closedir(d);
    if (ok < 0) return -1;
    char path[4096], procs[64];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    if (read_trimmed(path, procs, sizeof procs) < 0) return errno == ENOENT ? 0 : -1;
    return procs[0] ? -1 : 0;
}

/* rmdir, waiting (as src/cgroups/cgroup.ts does) while zombies keep the cgroup busy. */
static int remove_cgroup(const char *dir) {
    for (int attempt = 0; rmdir(dir) < 0; attempt++) {
        if (errno == ENOENT) return 0;
        if (errno != EBUSY || attempt >= 200) return -1;
        usleep(5000);
    }
    return 0;
}

/* Remove the state directory: the record first, state.json last, so that until the end Node can finish the job. */
static int remove_state_dir(const struct record *r) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->dir, FAST_RECORD);
    if (unlink(path) < 0 && errno != ENOENT) to_node();
    DIR *d = opendir(r->dir);
    if (!d) to_node();
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "state.json")) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) to_node(); /* a directory: Node's rm -r */
    }
    closedir(d);
    snprintf(path, sizeof path, "%s/state.json", r->dir);
    if (unlink(path) < 0 && errno != ENOENT) to_node();
    return rmdir(r->dir);
}

/* Root, but maybe only of a user namespace (rootless podman's: $XDG_RUNTIME_DIR set, $USER not root). */
static int rootless_hint(void) {
    const char *xdg = getenv("XDG_RUNTIME_DIR"), *user = getenv("USER");
    return xdg && *xdg && (!user || strcmp(user, "root"));
}

/*
 * `delete --force` of an id that has no state directory: Node's path
 * removes nothing and succeeds silently (as runc does), and containerd's
 * shim asks for exactly that after every delete. Only as root, whose front
 * end store is known here: a front-end container of that name is Node's.
 */
static void delete_missing(const struct args *a) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", a->root, a->id);
    if (!a->force || lstat(path, &st) == 0 || errno != ENOENT) return;
    if (geteuid() != 0 || rootless_hint() || getenv(FAST_FRONTEND_STORE_ENV)) to_node();
    int n = snprintf(path, sizeof path, FAST_FRONTEND_STORE "/" FAST_FRONTEND_CONTAINER, a->id);
    if (n < 0 || (size_t)n >= sizeof path || stat(path, &st) == 0 || errno != ENOENT) to_node();
    exit(0);
}

static _Noreturn void verb_delete(const struct args *a) {
    struct record r;
    delete_missing(a);
    load_record(&r, a->root, a->id);
    take_lock(r.lock);
    free(r.data);
    load_record(&r, a->root, a->id);
    enum status s = status_of(&r);
    struct stat st;
    if (!allows(a->force ? r.delete_force : r.delete, s) || getenv(r.frontend_env) || stat(r.frontend_file, &st) == 0 || errno != ENOENT) to_node();
    if (s != STOPPED) {
        int pidfd = open_init(&r);
        if (pidfd < 0 && errno != ESRCH) to_node(); /* no pidfd_open: Node kills the old way */
        if (pidfd >= 0) {
            if (pidfd_signal(pidfd, SIGKILL) < 0 && errno != ESRCH) to_node();
            wait_exit(pidfd, 10000);
            close(pidfd);
        }
    }
    /*
     * INIT is gone. Falling back to Node stays correct from here on: it
     * finds the container stopped, and delete of a stopped container ends
     * exactly as delete --force of a live one (docs/design/fast-verbs.md).
     */
    char buf[64];
    for (int i = 0; i < r.nfreezer; i++) {
        if (read_trimmed(r.freezer[i].path, buf, sizeof buf) < 0 ? errno != ENOENT : strcmp(buf, r.freezer[i].thawed)) to_node();
    }
    for (int i = 0; i < r.ncgroup; i++) if (cgroup_empty(r.cgroup[i]) < 0) to_node();
    fault_point(FAST_FAULT_DELETE_KILLED);
    for (int i = 0; i < r.ncgroup; i++) if (remove_cgroup(r.cgroup[i]) < 0) to_node();
    fault_point(FAST_FAULT_DELETE_UNCGROUPED);
    for (int attempt = 0; remove_state_dir(&r) < 0; attempt++) {
        if (errno == ENOENT) break;
        if (errno != ENOTEMPTY || attempt >= 3) {
            fprintf(stderr, "runts: delete container %s: remove %s: %s\n", a->id, r.dir, strerror(errno));
            exit(1);
        }
    }
    exit(0);
}

/* ---- the command line, as src/cli/main.ts parses it; anything else is Node's ---- */

/* A global option's value: --opt VALUE or --opt=VALUE. */
static const char *option_value(char **argv, int argc, int *i, const char *name) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n)) return NULL;
    const char *v;
    if (argv[*i][n] == '=') v = argv[*i] + n + 1;
    else if (argv[*i][n] == '\0' && *i + 1 < argc) v = argv[++*i];
    else return NULL;
    if (!*v || *v == '-') to_node();
    return v;
}

static int valid_id(const char *id) {
    size_t n = strlen(id);
    if (!n || n > FAST_MAX_ID || !strcmp(id, ".") || !strcmp(id, "..")) return 0;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("_+.-", *c))) return 0;
    return 1;
}

static void parse(int argc, char **argv, struct args *a) {
    const char *log = NULL, *v;
    int i = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((v = option_value(argv, argc, &i, "--root"))) a->root = v;
        else if ((v = option_value(argv, argc, &i, "--log-format"))) { if (strcmp(v, "text") && strcmp(v, "json")) to_node(); }
        else if ((v = option_value(argv, argc, &i, "--log"))) log = v;
        else if (strcmp(argv[i], "--systemd-cgroup")) to_node(); /* --debug, --help, -v, ... */
    }
    if (i == argc) to_node();
    a->verb = argv[i++];
    if (strcmp(a->verb, "state") && strcmp(a->verb, "start") && strcmp(a->verb, "kill") && strcmp(a->verb, "delete") && strcmp(a->verb, "rm")) to_node();
    int positional = 0;
    for (; i < argc; i++) {
        const char *s = argv[i];
        if (s[0] == '-') {
            if (!strcmp(a->verb, "kill") && (!strcmp(s, "-a") || !strcmp(s, "--all"))) a->all = 1;
            else if ((!strcmp(a->verb, "delete") || !strcmp(a->verb, "rm")) && (!strcmp(s, "-f") || !strcmp(s, "--force"))) a->force = 1;
            else to_node();
        } else if (positional++ == 0) a->id = s;
        else if (positional == 2 && !strcmp(a->verb, "kill")) a->signal = s;
        else to_node();
    }
    if (!a->id || !valid_id(a->id)) to_node();
    if (!a->root) {
        /* The default root is Node's to find (src/rootless/detect.ts) for an
         * unprivileged user, and for root where it may be root only of a user
         * namespace (rootless podman's: $XDG_RUNTIME_DIR set, $USER not root). */
        if (geteuid() != 0 || rootless_hint()) to_node();
        a->root = FAST_DEFAULT_ROOT;
    }
    /* As Node does before any verb: a log file that cannot be written is an error now (Node reports it). */
    if (log) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) to_node();
        close(fd);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: runts-fast NODE SCRIPT [runts arguments...] (bin/runts runs it)\n");
        return 2;
    }
    node_argv = argv + 1;
    struct args a = { 0 };
    parse(argc - 3, argv + 3, &a);
    if (!strcmp(a.verb, "state")) verb_state(&a);
    if (!strcmp(a.verb, "start")) verb_start(&a);
    if (!strcmp(a.verb, "kill")) verb_kill(&a);
    if (!strcmp(a.verb, "delete") || !strcmp(a.verb, "rm")) verb_delete(&a);
    to_node();
}
