/**
 * The one module that calls libc directly, for the parent-side system calls
 * Node lacks: mount/umount2 (a container's OverlayFS root), mknod (device
 * nodes and the 0/0 character devices OverlayFS uses as whiteouts), the
 * xattr calls (file capabilities and `trusted.overlay.opaque` set by unpack,
 * read back by commit and export), the bind mount that pins a CNI
 * container's network namespace, and flock (the lock of the image store and
 * of each network's allocation table, which the kernel drops when its holder
 * dies), and prctl/waitpid for a foreground `restore`, whose process CRIU,
 * not a child runts spawned, made (runtime/checkpoint.ts). Everything else in
 * runts uses Node's own APIs; no other module loads libc.
 *
 * koffi (FFI, prebuilt inside its npm package) is loaded on first use, so the
 * commands that never need it pay nothing at start-up.
 *
 * The book: docs/06-overlayfs.md, "From layer tar to lowerdir".
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { RuntsError } from '../errors.ts';

interface Libc {
  mount: (source: string, target: string, fstype: string, flags: number, data: string | null) => number;
  umount2: (target: string, flags: number) => number;
  mknod: (path: string, mode: number, dev: bigint) => number;
  lsetxattr: (path: string, name: string, value: Buffer, size: number, flags: number) => number;
  llistxattr: (path: string, list: Buffer | null, size: number) => number;
  lgetxattr: (path: string, name: string, value: Buffer | null, size: number) => number;
  /** variadic in C: koffi takes each extra argument's type before it */
  fcntl: (fd: number, cmd: number, argType: 'int', arg: number) => number;
  dup3: (fd: number, to: number, flags: number) => number;
  close: (fd: number) => number;
  flock: (fd: number, operation: number) => number;
  prctl: (option: number, argType: 'unsigned long', arg: number) => number;
  waitpid: ((pid: number, status: Buffer, options: number) => number) & {
    async: (pid: number, status: Buffer, options: number, done: (err: unknown, result: number) => void) => void;
  };
  errno: () => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const require = createRequire(import.meta.url);
  type Koffi = { load: (name: string) => { func: (sig: string) => (...a: unknown[]) => number }; errno: () => number };
  let koffi: Koffi;
  try {
    // koffi's own entry point probes the platform and costs ~10 ms; the
    // prebuilt package for this machine, which it would pick, costs ~3.
    // Container verbs take a lock through flock() here: engines feel it.
    koffi = require(`@koromix/koffi-${process.platform}-${process.arch}`) as Koffi;
  } catch {
    koffi = require('koffi') as Koffi;
  }
  const lib = koffi.load('libc.so.6');
  libc = {
    mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)') as Libc['mount'],
    umount2: lib.func('int umount2(const char *target, int flags)') as Libc['umount2'],
    mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)') as Libc['mknod'],
    lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)') as Libc['lsetxattr'],
    llistxattr: lib.func('intptr_t llistxattr(const char *path, void *list, size_t size)') as Libc['llistxattr'],
    lgetxattr: lib.func('intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)') as Libc['lgetxattr'],
    fcntl: lib.func('int fcntl(int fd, int cmd, ...)') as Libc['fcntl'],
    dup3: lib.func('int dup3(int fd, int to, int flags)') as Libc['dup3'],
    close: lib.func('int close(int fd)') as Libc['close'],
    flock: lib.func('int flock(int fd, int operation)') as Libc['flock'],
    prctl: lib.func('int prctl(int option, ...)') as Libc['prctl'],
    waitpid: lib.func('int waitpid(int pid, void *status, int options)') as unknown as Libc['waitpid'],
    errno: () => koffi.errno(),
  };
  return libc;
}

function fail(call: string, path: string): never {
  const errno = load().errno();
  const name = Object.entries(constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
  const code = name === 'EPERM' || name === 'EACCES' ? 'EPERM' : name === 'ENOENT' ? 'ENOENT' : 'ESYSTEM';
  throw new RuntsError(code, `${call} ${path}: ${name}`, { errno, path });
}

export function mount(source: string, target: string, fstype: string, flags: number, data: string): void {
  if (load().mount(source, target, fstype, flags, data) !== 0) fail(`mount -t ${fstype}`, target);
}

export const MNT_DETACH = 2;
const F_DUPFD_CLOEXEC = 1030;

export function umount(target: string, flags = 0): void {
  if (load().umount2(target, flags) !== 0) fail('umount', target);
}

/** `dev` as makedev(major, minor) with glibc's encoding. */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  const M = BigInt(major), m = BigInt(minor);
  const dev = ((M & 0xfffff000n) << 32n) | ((M & 0xfffn) << 8n) | ((m & 0xffffff00n) << 12n) | (m & 0xffn);
  if (load().mknod(path, mode, dev) !== 0) fail('mknod', path);
}

export function lsetxattr(path: string, name: string, value: Buffer): void {
  if (load().lsetxattr(path, name, value, value.length, 0) !== 0) fail(`setxattr ${name}`, path);
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;

/**
 * flock(2) on an open descriptor: false when LOCK_NB was given and another
 * open file holds a conflicting lock (EWOULDBLOCK), true once held.
 */
export function flock(fd: number, operation: number, path: string): boolean {
  const c = load();
  if (c.flock(fd, operation) === 0) return true;
  if (c.errno() === constants.errno.EWOULDBLOCK) return false;
  fail('flock', path);
}

/**
 * Runs `fn` with descriptors 0, 1 and 2 pointing at `fds` (a detached
 * container's log, /dev/null), then puts the originals back. Children spawned
 * meanwhile inherit the new ones; Node cannot dup2 on its own.
 */
export async function withStdio<T>(fds: [number, number, number], fn: () => Promise<T>): Promise<T> {
  const c = load();
  // close-on-exec copies: what runts spawns meanwhile gets the new 0-2, not these
  const saved = [0, 1, 2].map((fd) => {
    const copy = c.fcntl(fd, F_DUPFD_CLOEXEC, 'int', 3);
    if (copy < 0) fail('fcntl F_DUPFD_CLOEXEC', `fd ${fd}`);
    return copy;
  });
  try {
    for (const fd of [0, 1, 2]) if (c.dup3(fds[fd]!, fd, 0) < 0) fail('dup3', `fd ${fd}`);
    return await fn();
  } finally {
    for (const fd of [0, 1, 2]) {
      c.dup3(saved[fd]!, fd, 0);
      c.close(saved[fd]!);
    }
  }
}

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;

/** prctl(PR_SET_CHILD_SUBREAPER): orphans of runts's descendants come to runts, not to the host's init. */
export function becomeSubreaper(): void {
  if (load().prctl(PR_SET_CHILD_SUBREAPER, 'unsigned long', 1) !== 0) fail('prctl', 'PR_SET_CHILD_SUBREAPER');
}

/**
 * waitpid(pid) for a child runts did not spawn through Node (Node reaps only
 * its own), on a worker thread: the event loop stays free meanwhile (signals
 * to forward). Resolves with the wait status.
 */
export function waitChild(pid: number): Promise<number> {
  const c = load();
  const status = Buffer.alloc(4);
  // the pool's threads block every signal: no EINTR there
  return new Promise((resolve, reject) => c.waitpid.async(pid, status, 0, (err, got) => {
    if (err || got !== pid) reject(new RuntsError('ESYSTEM', `waitpid ${pid}: ${err ?? 'failed'}`));
    else resolve(status.readInt32LE(0));
  }));
}

/** Reaps every child that has exited (orphans a subreaper adopted), without waiting. */
export function reapExited(): void {
  const c = load();
  const status = Buffer.alloc(4);
  while (c.waitpid(-1, status, WNOHANG) > 0);
}

/**
 * Asks for the size, then reads; again if it grew in between (ERANGE).
 * `read(null, 0)` returns the size needed, `read(buf, n)` the bytes written.
 */
function readSized(read: (buf: Buffer | null, size: number) => number, call: string, path: string): Buffer {
  for (;;) {
    const size = read(null, 0);
    if (size < 0) fail(call, path);
    const buf = Buffer.alloc(size);
    const got = size ? read(buf, size) : 0;
    if (got >= 0) return buf.subarray(0, got);
    if (load().errno() !== constants.errno.ERANGE) fail(call, path);
  }
}

/** The names of a file's extended attributes (not following a symlink); none where the filesystem has none. */
export function llistxattr(path: string): string[] {
  const c = load();
  try {
    return readSized((buf, size) => c.llistxattr(path, buf, size), 'listxattr', path).toString('utf8').split('\0').filter(Boolean);
  } catch (err) {
    if (err instanceof RuntsError && err.errno === constants.errno.ENOTSUP) return [];
    throw err;
  }
}

export function lgetxattr(path: string, name: string): Buffer {
  const c = load();
  return readSized((buf, size) => c.lgetxattr(path, name, buf, size), `getxattr ${name}`, path);
}
