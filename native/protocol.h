/*
 * protocol.h - the wire contract between runts (TypeScript) and runts-init (C).
 *
 * Twin: src/protocol/protocol.ts. Every constant here has the same name and value
 * there; test/unit/protocol.test.ts parses this file and checks that they agree.
 * Change both, and bump RUNTS_PROTOCOL_VERSION, or neither.
 *
 * The book: docs/09-writing-runtime.md, "The plan and the C stage".
 *
 * WHY A PLAN
 *   Node is multi-threaded; a multi-threaded process cannot unshare a user
 *   namespace, setns into a mount namespace, or safely run code between fork
 *   and exec. So TypeScript decides everything and encodes it as a PLAN: a
 *   flat list of typed steps. runts-init executes the steps in order and knows
 *   nothing about OCI: no JSON, no defaults, no field names.
 *
 * CHANNEL
 *   runts spawns runts-init with the environment variable RUNTS_SYNC_FD set to
 *   the number of a connected AF_UNIX SOCK_STREAM socket. Every message on it,
 *   in both directions, is framed as
 *       u32 type | u32 length | length bytes of payload     (host byte order)
 *
 * MESSAGE SEQUENCE
 *
 *   runts (TS)                  runts:[0:PARENT]              runts:[1:INIT]
 *   ----------                  ----------------              --------------
 *             <-- MSG_HELLO(version)
 *   MSG_PLAN(plan) -->
 *                               (EXIT_FILE without SUPERVISE:
 *                               setsid, see STEP_EXIT_FILE)
 *                               parent steps (mkfifo, join ns)
 *                               CLONE ---------------------->  (born, waits for GO)
 *                               parent-post steps (id maps,
 *                               cgroup placement)
 *             <-- MSG_PID(host pid of INIT)
 *                               GO -------------------------->
 *                               exits, or with STEP_SUPERVISE  init steps ...
 *                               or STEP_EXIT_FILE waits for    HOOKS_SYNC:
 *                               INIT
 *             <------------------------------------------------ MSG_HOOKS
 *   runs createRuntime hooks
 *   MSG_HOOKS_DONE(state json) ---------------------------------->
 *     (or MSG_ABORT: INIT exits 1)                              ... more steps
 *                                                              REPORT_CREATED:
 *             <------------------------------------------------ MSG_CREATED
 *                                                              WAIT_START (fifo)
 *   `runts start` writes one byte to the fifo ------------------->  EXEC
 *                               INIT exits: writes the exit file (STEP_EXIT_FILE)
 *             <-- MSG_EXIT(wait status)    (STEP_SUPERVISE only)
 *
 *   Any failing step sends MSG_ERROR and the process exits 1. Reading EOF on
 *   the channel with no MSG_CREATED means INIT died; runts treats it as failure.
 *
 *   INIT writes to the channel directly (it inherited the socket); PARENT
 *   sends MSG_PID before GO, so MSG_PID always arrives first.
 */
#ifndef RUNTS_PROTOCOL_H
#define RUNTS_PROTOCOL_H

#define RUNTS_PROTOCOL_VERSION 12
#define RUNTS_PLAN_MAGIC 0x53544e52u /* "RNTS" little-endian */

/* ---- messages (u32 type) ---------------------------------------------- */
#define MSG_HELLO 1      /* C->TS  u32 protocol version                     */
#define MSG_PLAN 2       /* TS->C  the encoded plan                         */
#define MSG_PID 3        /* C->TS  u32 pid of INIT in runts's pid namespace */
#define MSG_HOOKS 4      /* C->TS  empty: run createRuntime/prestart hooks  */
#define MSG_HOOKS_DONE 5 /* TS->C  state JSON documents, NUL-separated     */
#define MSG_ABORT 6      /* TS->C  empty: a hook failed, INIT must exit     */
#define MSG_CREATED 7    /* C->TS  empty: INIT waits on the exec fifo       */
#define MSG_ERROR 8      /* C->TS  i32 step index, i32 errno, UTF-8 message */
#define MSG_EXIT 9       /* C->TS  i32 wait status of INIT (SUPERVISE only) */

/* ---- plan ---------------------------------------------------------------
 *   header: u32 magic | u32 version | u32 step count | u32 flags (0)
 *   step:   u32 op | u32 payload length | payload
 *   payload: a sequence of tagged values, in the order each op lists below:
 *     VAL_INT  u8 tag=1 | u64 value               (masks, ids, flags)
 *     VAL_STR  u8 tag=2 | u32 length | bytes       (no NUL inside; the C
 *                                                   reader appends one)
 *     VAL_STRS u8 tag=3 | u32 count  | count x (u32 length | bytes)
 *     VAL_INTS u8 tag=4 | u32 count  | count x u64
 *   Paths marked "in root" are absolute paths inside the container root; the
 *   executor resolves them with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
 *   against the root it opened in STEP_ROOTFS (or "/" after pivot), never by
 *   joining strings, and mounts onto /proc/self/fd/N.
 *   "slot" is an index 0..RUNTS_SLOTS-1 into the executor's table of open
 *   descriptors: what PARENT opens for INIT to use later.
 */
#define RUNTS_SLOTS 16
#define VAL_INT 1
#define VAL_STR 2
#define VAL_STRS 3
#define VAL_INTS 4

/* Who runs a step is fixed by its op: P = PARENT before clone, Q = PARENT
 * after clone, I = INIT. */

/* P: mkfifo(path, 0600) and open it O_RDWR|O_CLOEXEC into slot (INIT keeps
 *    the read side; `start` opens O_WRONLY|O_NONBLOCK, so a dead INIT gives
 *    ENXIO instead of a hang).                          INT slot, STR path */
#define STEP_MKFIFO 1
/* P: connect to an AF_UNIX stream socket, fd into slot.  INT slot, STR path */
#define STEP_CONSOLE_CONNECT 2
/* P: setns(fd, nstype) on path, which PARENT opens (with every other
 *    JOIN_NS path) before the first P step.           INT nstype, STR path */
#define STEP_JOIN_NS 3
/* P: clone(flags | SIGCHLD); INIT starts after GO.          INT clone flags */
#define STEP_CLONE 4
/* Q: write content to /proc/<init>/uid_map (kind 0) or gid_map (kind 1).
 *                                                   INT kind, STR content */
#define STEP_WRITE_ID_MAP 5
/* Q: write INIT's pid to a cgroup.procs (or tasks) file.        STR path  */
#define STEP_CGROUP_ADD 6
/* Q: stay alive after GO, wait for INIT, send MSG_EXIT(status), exit 0.
 *    Without this step PARENT exits 0 right after GO.          (no values) */
#define STEP_SUPERVISE 7
/* Q: record INIT's end: when INIT exits, PARENT reaps it and writes one line
 *    "<wait status> <seconds> <nanoseconds>\n" (the wait status in decimal,
 *    CLOCK_REALTIME at the reap) to path.tmp, then renames it over path, so
 *    a reader sees the whole line or no file. With STEP_SUPERVISE: written
 *    before MSG_EXIT. Without it PARENT becomes a detached supervisor that
 *    outlives runts: it calls setsid() before the P steps (INIT is born in
 *    that session too, so a closing terminal signals neither), opens
 *    /dev/null and moves to "/" before GO, and after GO closes the channel
 *    and puts /dev/null on 0, 1 and 2, so it holds nothing of runts's and
 *    none of the container's output; it ignores SIGPIPE, waits for INIT,
 *    writes the file and exits. Killed first, it leaves no file: INIT goes
 *    on, adopted by whoever reaps orphans.                     STR path  */
#define STEP_EXIT_FILE 8
/* P: an idmapped copy of a host tree, for STEP_MOUNT_TREE. The tree at
 *    source is cloned detached (open_tree OPEN_TREE_CLONE, with AT_RECURSIVE
 *    when recursive & 1); a child is cloned into a new user namespace, its
 *    uid_map and gid_map written with the contents given, its namespace
 *    opened and the child let go; then mount_setattr gives the tree that
 *    namespace's mapping, MOUNT_ATTR_IDMAP | attr set, minus attr clear
 *    (MOUNT_ATTR_* bits; AT_RECURSIVE when recursive & 2). Done here, on the
 *    host side, because only a process privileged over the filesystem may
 *    idmap a mount. The tree's fd goes into slot.
 *    INT slot, STR source, INT recursive, STR uid map, STR gid map,
 *    INT attr set, INT attr clear                                         */
#define STEP_IDMAP_TREE 9
/* Q: record the system calls of the container (native/steps_record.c):
 *    needs STEP_SUPERVISE, and a STEP_SECCOMP with
 *    SECCOMP_FILTER_FLAG_NEW_LISTENER whose filter answers USER_NOTIF. After
 *    GO, PARENT waits for INIT's byte on the go socket (it is about to load
 *    that filter), takes the listener from INIT with pidfd_getfd, lets
 *    every call run (SECCOMP_USER_NOTIF_FLAG_CONTINUE) and notes each
 *    (arch, number) until INIT exits; then writes them, first seen first,
 *    as "<arch in hex> <nr>" lines to path.tmp, renamed to path.  STR path */
#define STEP_SECCOMP_RECORD 10
/* P: unshare(CLONE_NEWTIME): PARENT's children, INIT first, are born in a
 *    new time namespace (clone(2) cannot ask for one); then, unless
 *    offsets is empty, write it to /proc/self/timens_offsets in one write,
 *    which the kernel allows only before a process enters the namespace.
 *    Lines "<monotonic|boottime> <secs> <nanosecs>".       STR offsets */
#define STEP_UNSHARE_TIME 11
/* Q: write "deny" to /proc/<init>/setgroups: an unprivileged writer may
 *    write a gid map only after it (user_namespaces(7)).      (no values) */
#define STEP_DENY_SETGROUPS 12
/* Q: run the setuid helper newuidmap or newgidmap as "tool <init pid>
 *    args...", with an empty environment and its stderr captured; any exit
 *    status but 0 fails the step, with the first line the helper wrote.
 *                                                 STR tool, STRS args   */
#define STEP_ID_MAP_TOOL 13
/* P: connect to the AF_UNIX stream socket of --pidfd-socket, fd into slot
 *    (for STEP_SEND_PIDFD).                               INT slot, STR path */
#define STEP_PIDFD_CONNECT 14
/* Q: prctl(PR_SET_CHILD_SUBREAPER, 1): processes orphaned in the container
 *    (one without a pid namespace of its own) are re-parented to PARENT,
 *    not to the host's init; supervising, PARENT reaps them while it waits
 *    for INIT (foreground run, as runc's subreaper).             (no values) */
#define STEP_SUBREAPER 15
/* P: a detached copy of a host tree, for STEP_MOUNT_TREE: the tree at
 *    source cloned (open_tree OPEN_TREE_CLONE, with AT_RECURSIVE when
 *    recursive), its top mount given attr set minus attr clear (MOUNT_ATTR_*
 *    bits) with mount_setattr, the fd into slot. A bind mount whose source
 *    the container's user namespace cannot reach: PARENT, still root of the
 *    host, opens it before INIT is in that namespace, as runc opens mount
 *    sources before it joins one.
 *              INT slot, STR source, INT recursive, INT attr set, INT attr clear */
#define STEP_CLONE_TREE 16

/* I: setresgid(0,0,0) and setresuid(0,0,0) inside a user namespace, new or
 *    joined (the ids runts had are not mapped there).                    */
#define STEP_BECOME_ROOT 20
/* I: unshare(flags) (the cgroup namespace, after cgroup placement). INT  */
#define STEP_UNSHARE 21
/* I: mount(NULL, path, NULL, flags, NULL) on a path of the current mount
 *    tree (not in root): root propagation.          STR path, INT flags   */
#define STEP_SET_PROPAGATION 22
/* I: bind path onto itself (MS_BIND|MS_REC) and keep an O_PATH fd of it as
 *    the root for all "in root" paths.                          STR path  */
#define STEP_ROOTFS 23
/* I: mount something at a path in root.
 *    STR source, STR target (in root), STR fstype, INT flags (MS_*, no
 *    propagation bits), STR data, INT create (0 none, 1 dir, 2 file: create
 *    the target and missing parents, dirs 0755, files 0644; 3 an ordinary
 *    dir: made if missing, and ENOTDIR if it is anything else, a symlink
 *    too, as runc requires of proc and sysfs),
 *    INT bind (1: source is a host path, opened O_PATH and bind-mounted
 *    with MS_BIND plus flags&MS_REC; then, if flags carry any of
 *    RDONLY|NOSUID|NODEV|NOEXEC|NOATIME|NODIRATIME|RELATIME|STRICTATIME,
 *    remounted MS_REMOUNT|MS_BIND|those; if that remount fails with EPERM,
 *    retried with the flags the existing mount has locked (statvfs)).    */
#define STEP_MOUNT 24
/* I: mount(NULL, target in root, NULL, flags) for each propagation flag.
 *                                                STR target, INT flags     */
#define STEP_MOUNT_PROPAGATION 25
/* I: mknod in root; unlink a pre-existing entry first; then chown.
 *    STR path, INT mode (S_IFCHR/S_IFBLK/S_IFIFO | perms), INT major,
 *    INT minor, INT uid, INT gid                                         */
#define STEP_MKNOD 26
/* I: create an empty file at path in root and bind the host device onto it
 *    (used in a user namespace, where mknod is not allowed).
 *                                              STR host path, STR path    */
#define STEP_BIND_DEVICE 27
/* I: symlinkat(target, root, linkpath); EEXIST is not an error.
 *                                                STR target, STR linkpath */
#define STEP_SYMLINK 28
/* I: write value to a file of the current mount tree (before pivot: the
 *    host's /proc, seen from INIT's namespaces), refusing it unless the file
 *    is on procfs (fstatfs magic).             STR path, STR value         */
#define STEP_WRITE_PROC 29
/* I: send MSG_HOOKS, wait for MSG_HOOKS_DONE (keep its payload: the state
 *    JSON documents, separated by NUL bytes, that RUN_HOOK hands to hooks)
 *    or MSG_ABORT (exit 1).                                    (no values) */
#define STEP_HOOKS_SYNC 30
/* I: fork; child: cwd = the root (fchdir), stdin = pipe fed with state
 *    document number `state` of MSG_HOOKS_DONE, execve(path, args, env); wait up to timeout seconds
 *    (0 = none), then SIGKILL. Non-zero exit is an error naming the path
 *    and status.       STR path, STRS args, STRS env, INT timeout, INT state */
#define STEP_RUN_HOOK 31
/* I: make root the new "/": fchdir(root); pivot_root(".", "."); make the old
 *    root MS_SLAVE|MS_REC; umount2(".", MNT_DETACH); chdir("/").          */
#define STEP_PIVOT_ROOT 32
/* I: --no-pivot: fchdir(root); mount(".", "/", MS_MOVE); chroot("."). */
#define STEP_CHROOT 33
/* I: mask a path in (the new) root: a directory gets a read-only tmpfs, any
 *    other file gets /dev/null bound on it, after checking that /dev/null
 *    is the char device 1:3. A missing path is skipped.        STR path    */
#define STEP_MASK_PATH 34
/* I: bind a path in root onto itself and remount it read-only, keeping
 *    the nosuid, nodev and noexec the mount has (and locked flags). A
 *    missing path is skipped.                                  STR path    */
#define STEP_READONLY_PATH 35
/* I: remount "/" (the new root) read-only.                    (no values) */
#define STEP_REMOUNT_ROOT_RO 36
/* I: sethostname / setdomainname.                             STR name    */
#define STEP_SET_HOSTNAME 37
#define STEP_SET_DOMAINNAME 38
/* I: setrlimit.                      INT resource, INT soft, INT hard      */
#define STEP_SETRLIMIT 39
/* I: open /dev/ptmx (in root), unlock, open the slave, TIOCSWINSZ when rows
 *    and cols are non-zero, bind the slave onto the console path in root
 *    (unless ""), send the master over the socket in slot with SCM_RIGHTS,
 *    setsid, TIOCSCTTY on the slave, dup2 it onto 0, 1, 2. With owner >= 0
 *    the slave's owner becomes that uid (the process's user; the group
 *    stays devpts' gid=): EINVAL, EPERM and EROFS leave it as it is.
 *            INT slot, INT rows, INT cols, STR console path, INT owner     */
#define STEP_SETUP_CONSOLE 40
/* I: setsid().                                                (no values) */
#define STEP_SETSID 41
/* I: drop from the bounding set every capability up to cap_last_cap that is
 *    not in the mask.                                       INT keep mask  */
#define STEP_CAP_BOUNDING 42
/* I: PR_SET_KEEPCAPS 1; setgroups(gids) (skipped when setgroups is
 *    "deny"-ed and the list is empty); setresgid(gid); setresuid(uid);
 *    PR_SET_KEEPCAPS 0.                   INT uid, INT gid, INTS gids      */
#define STEP_SET_USER 43
/* I: capset(effective, permitted, inheritable), then raise each ambient
 *    capability. INT effective, INT permitted, INT inheritable, INT ambient */
#define STEP_SET_CAPS 44
/* I: prctl(PR_SET_NO_NEW_PRIVS, 1).                           (no values) */
#define STEP_NO_NEW_PRIVS 45
/* I: seccomp(SECCOMP_SET_MODE_FILTER, flags, prog); the STR holds the
 *    sock_filter array as raw bytes. With SECCOMP_FILTER_FLAG_NEW_LISTENER
 *    (for STEP_SECCOMP_RECORD) INIT first writes one byte on the go socket,
 *    and leaves the listener for PARENT to take.     STR filter, INT flags */
#define STEP_SECCOMP 46
/* I: umask(mask).                                             INT mask    */
#define STEP_UMASK 47
/* I: chdir(path); then refuse a cwd that getcwd() reports as unreachable
 *    (a descriptor leaked from the host, CVE-2024-21626). With early = 1
 *    (before the user switch, as root with every capability): EACCES and
 *    EPERM are not errors, the later CHDIR (early = 0) tries again as the
 *    container's user; that one does nothing when the early one got
 *    there.                                       STR path, INT early     */
#define STEP_CHDIR 48
/* I: resolve args[0] against PATH from env (as execvp would, but in the
 *    container, now) and remember it; ENOENT/EACCES are errors now, not at
 *    start.                                       STRS args, STRS env      */
#define STEP_PREPARE_EXEC 49
/* I: mark every descriptor >= first close-on-exec (close_range).  INT first */
#define STEP_CLOSE_FDS 50
/* I: send MSG_CREATED and close the channel.                  (no values) */
#define STEP_REPORT_CREATED 51
/* I: block reading one byte from the fifo in slot, then close it.  INT slot */
#define STEP_WAIT_START 52
/* I: execve what PREPARE_EXEC resolved.                       (no values) */
#define STEP_EXEC 53
/* I: attach the detached tree in slot (STEP_IDMAP_TREE, STEP_CLONE_TREE) at target in root,
 *    created as STEP_MOUNT's create says, with move_mount(2); close the slot.
 *                                      INT slot, STR target, INT create     */
#define STEP_MOUNT_TREE 54
/* I: pidfd_open(getpid()) and send the pidfd over the socket in slot with
 *    SCM_RIGHTS, message as the data ("standard" for a container's INIT,
 *    "setns" for exec's, as runc sends); close the slot.
 *                                                 INT slot, STR message  */
#define STEP_SEND_PIDFD 55
/* I: open the container's /dev/null (in root, refused unless it is the null
 *    device 1:3) read-write and dup it onto each of descriptors 0-2 that is
 *    a null device, the host's: stdio then holds no file of the host's
 *    mount tree (CRIU can dump only files of the container's), as runc's
 *    reOpenDevNull.                                           (no values) */
#define STEP_REOPEN_DEV_NULL 56
/* I: before the STEP_MOUNT of a tmpfs that copies up ("tmpcopyup") or
 *    takes the mode of what it covers (steps_copyup.c): open the directory
 *    at path in root (O_RDONLY, resolved as a mount target is) into slot,
 *    so that what the tmpfs will cover stays reachable. A missing path, or
 *    one that is not a directory, leaves the slot empty (-1): nothing to
 *    copy, no mode to take.                            INT slot, STR path */
#define STEP_HOLD_DIR 57
/* I: after that STEP_MOUNT: resolve path in root again and refuse it unless
 *    it is now a tmpfs other than the held directory. With copy 1, copy the
 *    held directory's entries into it, recursively: directories, regular
 *    files, symlinks (not followed), device nodes, fifos and sockets, each
 *    with its owner and mode bits 07777; never through a symlink of the
 *    source (openat O_NOFOLLOW), never onto an existing entry (O_EXCL).
 *    Times, xattrs and hard links are not kept. With root mode 1, then
 *    chmod the tmpfs's root to the held directory's mode bits. Close the
 *    slot; an empty slot is nothing to do. An error names the file below
 *    path and its errno.        INT slot, STR path, INT root mode, INT copy */
#define STEP_COPY_UP 58

/* ---- steps_ns.c, steps_tty.c: exec into a running container, terminals (60-69) */
/* I: open path (a /proc/<pid>/ns/<type> file, read in the host's mount tree)
 *    and setns(fd, nstype). For exec: the mount namespace (and the cgroup
 *    namespace, after CGROUP_ADD) are joined by INIT, not PARENT, so the Q
 *    steps still see the host's cgroupfs. After a mount namespace, "/" is the
 *    container's root: the root for "in root" paths is reopened there and the
 *    host's is closed.                                   INT nstype, STR path */
#define STEP_ENTER_NS 60
/* P: socketpair(AF_UNIX, SOCK_STREAM): one end into slot, for SETUP_CONSOLE
 *    in INIT to send the pty master over, the other kept by PARENT. With
 *    STEP_SUPERVISE, PARENT receives the master and proxies the terminal
 *    (foreground `run -t` / `exec -t` without --console-socket): the
 *    caller's stdin to the master, the master to the caller's stdout, the
 *    caller's tty in raw mode (restored on exit), window sizes copied on
 *    SIGWINCH, until INIT exits.                                  INT slot */
#define STEP_CONSOLE_PAIR 61

/* ---- steps_security.c: LSM labels, keyrings (70-79) ----------------------- */
/* I: open the first of paths that exists (INIT's own /proc/self/attr/...
 *    exec file) O_WRONLY|O_CLOEXEC into slot, refusing it unless it is on
 *    procfs (fstatfs magic). Runs before pivot_root, through the host's
 *    /proc, so a /proc the container controls can never redirect it.
 *                                                    INT slot, STRS paths */
#define STEP_LSM_OPEN_ATTR 70
/* I: write value ("exec <profile>" for AppArmor, a context for SELinux) to
 *    the attr file in slot in one write(2), then close it. It labels the
 *    next execve. Before no_new_privs: AppArmor refuses most profile
 *    changes once it is set.                         INT slot, STR value   */
#define STEP_LSM_WRITE_ATTR 71
/* I: keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): join the keyring of that
 *    name in INIT's user namespace, or make a new one, as INIT's session
 *    keyring; then add perm bits to its permissions (KEYCTL_DESCRIBE, then
 *    KEYCTL_SETPERM). Without it INIT keeps runts's session keyring, the
 *    host's: its keys readable and clearable from the container. ENOSYS (a
 *    kernel without keys) is not an error: there is nothing to share.
 *                                                    STR name, INT perm    */
#define STEP_SESSION_KEYRING 72

/* ---- steps_cgroup.c: cgroup v2 device rules (80-89) ---------------------- */
/* P: open the cgroup directory, load the program (raw struct bpf_insn
 *    array) as BPF_PROG_TYPE_CGROUP_DEVICE and attach it there
 *    (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI). Runs first, before any setns,
 *    so the path is the host's; INIT joins the cgroup later (CGROUP_ADD),
 *    already confined.                            STR cgroup dir, STR program */
#define STEP_CGROUP_DEVICE_FILTER 80

/* ---- steps_mounttree.c: whole mount trees (90-99) ----------------------- */
/* I: mount_setattr(path in root, AT_RECURSIVE, attr_set, attr_clr): the
 *    MOUNT_ATTR_* bits for the mount at path and every mount below it.
 *                                     STR path, INT attr_set, INT attr_clr */
#define STEP_MOUNT_SETATTR 90
/* I: --no-pivot, before CHROOT, "/" still the host's: make the mount at path
 *    (a host path) MS_SLAVE|MS_REC, then umount2(MNT_DETACH); a locked one
 *    (EINVAL, EPERM) is covered with an empty tmpfs; a path gone already
 *    (ENOENT: under one detached before) is skipped.          STR path     */
#define STEP_DETACH_MOUNT 91

#endif
