/**
 * The pid file engines ask for (--pid-file). Written atomically, through a
 * temporary file and a rename: conmon and the containerd shim read it the
 * moment create or exec returns, and must never see it half-written.
 *
 * The book: docs/09-writing-runtime.md, "create and start".
 */
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntsError } from '../errors.ts';

export function writePidFile(path: string, pid: number): void {
  const tmp = join(dirname(path), `.${process.pid}.pid.tmp`);
  try {
    writeFileSync(tmp, String(pid));
    renameSync(tmp, path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RuntsError('ESYSTEM', `write pid file ${path}: ${e.message}`, { errno: e.errno, path, cause: err });
  }
}
