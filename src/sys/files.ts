/**
 * Files that are whole or absent. A crash, a SIGKILL or a full disk in the
 * middle of a write must leave the old content or the new, never a cut one:
 * every state file is written to a temporary name and renamed over the old
 * (rename is atomic within a filesystem), and a directory that stands for a
 * claim (a container's id or name) appears with its first files in it.
 *
 * Design: docs/design/runtime-core.md, "What a crash leaves".
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { reasonOf, RuntsError } from '../errors.ts';
import { faultPoint } from './fault.ts';

/** Write data to file through a temporary file beside it; on failure the old file is untouched and no temporary is left. */
export function writeFileAtomic(file: string, data: string, mode = 0o600): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data, { mode });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fsError(err, `write ${file}`);
  }
}

/** "write /x/state.json: no space left on device": what, where and why, not Node's "ENOSPC: ..., write". A RuntsError passes as it is. */
function fsError(err: unknown, what: string): RuntsError {
  if (err instanceof RuntsError) return err;
  const e = err as NodeJS.ErrnoException;
  return new RuntsError('ESYSTEM', `${what}: ${reasonOf(err)}`, { errno: e.errno, path: e.path, cause: err });
}

/**
 * Make dir with files in it, atomically: false if dir already exists (and
 * is not empty). The temporary directory is named `~NAME.PID` beside it,
 * a name no container id or name can take; one left by a killed process
 * is the caller's to sweep (sweepClaims).
 */
export function createDirAtomic(dir: string, files: Record<string, string>, mode = 0o700): boolean {
  const tmp = claimTemp(dir);
  try {
    mkdirSync(tmp, { mode });
    for (const [name, data] of Object.entries(files)) writeFileSync(join(tmp, name), data, { mode: 0o600 });
    faultPoint('claim.written');
    renameSync(tmp, dir);
    return true;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') return false;
    throw fsError(err, `create ${dir}`);
  }
}

const claimTemp = (dir: string) => join(dirname(dir), `~${basename(dir)}.${process.pid}`);

/** Removes the temporary directories of createDirAtomic in parent whose process is gone. */
export function sweepClaims(parent: string): void {
  for (const name of readdirSync(parent)) {
    const m = /^~.*\.(\d+)$/.exec(name);
    if (m && !existsPid(Number(m[1]))) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

function existsPid(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
