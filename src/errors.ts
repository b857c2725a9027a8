// The one error type of runts.
//
// Every failure the library reports is a RuntsError: a short `code` a caller
// can branch on, the kernel `errno` when a system call is behind it, the
// `path` (a file, or a config.json field such as `process.args`) the failure
// is about, and the ES2022 `cause` chain down to the original error.
//
// Messages follow one contract (crun's error_handling.md, youki's style):
// lower case, no trailing period, always naming the path or value involved.
// Each layer that adds context wraps instead of replacing:
//
//   wrap(err, 'create container web')
//   -> "create container web: mount /proc: operation not permitted"
//
// The CLI prints `message` as one line (or as JSON with --log-format json);
// the library never prints.
//
// The book: docs/09-writing-runtime.md, "Checking config.json";
// docs/design/runtime-core.md.

import { getSystemErrorMessage } from 'node:util';

/**
 * What went wrong, coarse enough to branch on. The message says the rest.
 *
 * - EINVAL_CONFIG  config.json (or a spec fragment) breaks the OCI runtime spec
 * - EINVAL         a bad argument to a verb: container id, signal, flag value
 * - ENOENT         a file or directory runts needs does not exist
 * - EEXIST         the thing to create already exists (a container id, a file)
 * - ENOTFOUND      no container (or image) by that name
 * - ESTATE         the container's status forbids the operation
 * - EPERM          the kernel or host refused: needs root, a capability, ...
 * - ENOTSUP        valid, but this host or runts does not support it
 * - EHOOK          a lifecycle hook failed or timed out
 * - EEXEC          the container process or the runts-init helper failed to start
 * - ECGROUP        creating, writing or removing a cgroup failed
 * - ENETWORK       setting up bridge, veth, addresses or NAT failed
 * - EIMAGE         pulling, verifying or unpacking an image failed
 * - ESYSTEM        any other failed system call; `errno` says which error
 * - EINTERNAL      a bug: runts broke one of its own invariants
 */
export type ErrorCode =
  | 'EINVAL_CONFIG'
  | 'EINVAL'
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTFOUND'
  | 'ESTATE'
  | 'EPERM'
  | 'ENOTSUP'
  | 'EHOOK'
  | 'EEXEC'
  | 'ECGROUP'
  | 'ENETWORK'
  | 'EIMAGE'
  | 'ESYSTEM'
  | 'EINTERNAL';

export interface RuntsErrorOptions {
  /** errno of the failed system call; Node's negative errno is stored positive, as in C */
  errno?: number | undefined;
  /** the file, or the config.json field (`linux.namespaces[2].type`), involved */
  path?: string | undefined;
  /** the error this one explains (kept as the standard `cause`) */
  cause?: unknown;
}

export class RuntsError extends Error {
  readonly code: ErrorCode;
  readonly errno?: number;
  readonly path?: string;

  constructor(code: ErrorCode, message: string, options: RuntsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RuntsError';
    this.code = code;
    if (options.errno !== undefined) this.errno = Math.abs(options.errno);
    if (options.path !== undefined) this.path = options.path;
  }
}

/** True when `err` is a RuntsError, and of `code` when one is given. */
export function isRuntsError(err: unknown, code?: ErrorCode): err is RuntsError {
  return err instanceof RuntsError && (code === undefined || err.code === code);
}

/**
 * Adds context in front of an error's message: `wrap(err, 'start container x')`.
 * A RuntsError keeps its code, errno and path. A Node system error (from fs,
 * child_process, ...) gets a code from its errno name and keeps errno and path.
 * Anything else becomes EINTERNAL, because runts did not expect it.
 */
export function wrap(err: unknown, context: string): RuntsError {
  if (err instanceof RuntsError) {
    return new RuntsError(err.code, `${context}: ${err.message}`, { errno: err.errno, path: err.path, cause: err });
  }
  if (isSystemError(err)) {
    return new RuntsError(codeOfSystemError(err.code), `${context}: ${err.message}`, {
      errno: err.errno,
      path: err.path,
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new RuntsError('EINTERNAL', `${context}: ${message}`, { cause: err });
}

interface SystemError extends Error {
  code: string;
  errno: number;
  path?: string;
}

function isSystemError(err: unknown): err is SystemError {
  const e = err as { code?: unknown; errno?: unknown };
  return err instanceof Error && typeof e.code === 'string' && typeof e.errno === 'number';
}

function codeOfSystemError(name: string): ErrorCode {
  switch (name) {
    case 'ENOENT':
      return 'ENOENT';
    case 'EEXIST':
      return 'EEXIST';
    case 'EPERM':
    case 'EACCES':
      return 'EPERM';
    case 'ENOSYS':
    case 'EOPNOTSUPP':
      return 'ENOTSUP';
    default:
      return 'ESYSTEM';
  }
}

/** An errno (positive, as C has it) in the kernel's words: 28 -> "no space left on device". */
export function errnoText(errno: number): string {
  return getSystemErrorMessage(-Math.abs(errno)).toLowerCase();
}

/** Why a failure happened, for a message: a system error's errno in words (not Node's "ENOSPC: ..., write"), else its message. */
export function reasonOf(err: unknown): string {
  const errno = (err as { errno?: unknown }).errno;
  return typeof errno === 'number' ? errnoText(errno) : err instanceof Error ? err.message : String(err);
}
