/**
 * The state directory: /run/runts/<id>/ (or --root).
 *
 *   state.json   what runts knows of the container, written atomically
 *                (write a temp file, rename), so a crash leaves the old or
 *                the new state, never half of one
 *   exec.fifo    exists from create until start: its presence is "created"
 *   lock         flock'ed while a verb changes the container
 *
 * Beside them, `fast-verbs`: what the small verbs may do without Node
 * (fast-verbs.ts; docs/design/fast-verbs.md).
 *
 * The directory appears whole: `create` builds it under a temporary name
 * (~ID.PID, which no id can be) with its first state.json and renames it
 * into place, so a crash never leaves a directory without a state, and the
 * rename, atomic, is what two creates of one id race for. Until INIT exists
 * the state names its creator: "creating" while that process lives,
 * "stopped" (so `delete` cleans it up) once it died.
 *
 * The status is never stored: it is read off the kernel each time (is the
 * pid alive, and is it still the same process?), as runtime.md requires.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';
import type { Hook, State } from '../oci/types.ts';
import { createDirAtomic, sweepClaims, writeFileAtomic } from '../sys/files.ts';
import { withFileLockAsync } from '../sys/lock.ts';
import { INIT_NAME, processStartTime, processStat } from './process.ts';


export interface ContainerRecord {
  ociVersion: string;
  id: string;
  pid: number;
  /** Start time of pid (clock ticks after boot): tells a reused pid apart. */
  pidStartTime: string;
  bundle: string;
  rootfs: string;
  annotations?: Record<string, string>;
  created: string;
  /** The container's cgroup directories, one per hierarchy. */
  cgroupDirs: string[];
  /** The runts process creating the container: while pid is 0, it alone may finish the job. */
  creator?: { pid: number; startTime: string };
  /** Created with --no-new-keyring: exec'd processes keep the caller's session keyring too. */
  noNewKeyring?: boolean;
  /** Hooks that run after create returns, as config.json said at create. */
  poststart?: Hook[];
  poststop?: Hook[];
}

export type Status = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

const ID_RE = /^[\w+.-]+$/;
export const MAX_ID = 200;

export function checkId(id: string): void {
  if (!id) throw new RuntsError('EINVAL', 'container id cannot be empty');
  if (!ID_RE.test(id) || id === '.' || id === '..') throw new RuntsError('EINVAL', `invalid container id ${JSON.stringify(id)}: use letters, digits, "_", "+", "-" and "."`);
  // it names a directory (255 bytes at most, with room for the claim's temporary name) and cgroups
  if (id.length > MAX_ID) throw new RuntsError('EINVAL', `invalid container id: ${id.length} characters long, ${MAX_ID} at most`);
}

export class Store {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  dir(id: string) {
    return join(this.root, id);
  }
  fifo(id: string) {
    return join(this.dir(id), 'exec.fifo');
  }
  lock(id: string) {
    return join(this.dir(id), 'lock');
  }

  /**
   * Claim the id with the container's first state: the directory is made
   * under a temporary name and renamed into place (atomic: two creates
   * cannot both win, and a crash leaves no directory without a state).
   */
  claim(rec: ContainerRecord): void {
    checkId(rec.id);
    const first = { 'state.json': stateJson(rec) };
    try {
      mkdirSync(this.root, { recursive: true, mode: 0o711 });
      sweepClaims(this.root);
      if (createDirAtomic(this.dir(rec.id), first)) return;
      // A directory without a state is what an older runts left when killed
      // while claiming: nobody's container. Take its place, once.
      if (!existsSync(join(this.dir(rec.id), 'state.json'))) {
        this.release(rec.id);
        if (createDirAtomic(this.dir(rec.id), first)) return;
      }
    } catch (err) {
      if (err instanceof RuntsError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new RuntsError('ESTATE', `create state directory ${this.dir(rec.id)}: ${e.message}`, { errno: e.errno, path: e.path, cause: err });
    }
    throw new RuntsError('EEXIST', `container with id ${rec.id} already exists`, { path: this.dir(rec.id) });
  }

  release(id: string): void {
    rmSync(this.dir(id), { recursive: true, force: true });
  }

  write(rec: ContainerRecord): void {
    writeFileAtomic(join(this.dir(rec.id), 'state.json'), stateJson(rec));
  }

  read(id: string): ContainerRecord {
    checkId(id);
    let text: string;
    try {
      text = readFileSync(join(this.dir(id), 'state.json'), 'utf8');
    } catch {
      throw new RuntsError('ENOTFOUND', `container ${id} not found (it does not exist)`, { path: this.dir(id) });
    }
    return JSON.parse(text) as ContainerRecord;
  }

  ids(): string[] {
    try {
      return readdirSync(this.root).filter((id) => ID_RE.test(id) && existsSync(join(this.root, id, 'state.json'))).sort();
    } catch {
      return [];
    }
  }

  status(rec: ContainerRecord): Status {
    if (!rec.pid) return !rec.creator || processStartTime(rec.creator.pid) === rec.creator.startTime ? 'creating' : 'stopped';
    const init = processStat(rec.pid);
    if (init?.startTime !== rec.pidStartTime) return 'stopped';
    // The fifo goes when `start` is done; a start killed halfway leaves it
    // behind a process that already runs its program: INIT's name tells.
    if (existsSync(this.fifo(rec.id))) return init.comm === INIT_NAME ? 'created' : 'running';
    if (isFrozen(freezerFiles(rec.cgroupDirs))) return 'paused';
    return 'running';
  }

  /** What `state` prints and `list --format json` lists: runc's fields, in runc's order (scripts match the text). */
  state(rec: ContainerRecord): State & Record<string, unknown> {
    return this.stateAs(rec, this.status(rec));
  }

  /** The state of rec as it reads in `status`: what `runts state` prints, and the fast verbs' record holds for each status. */
  stateAs(rec: ContainerRecord, status: Status): State & Record<string, unknown> {
    return {
      ociVersion: rec.ociVersion,
      id: rec.id,
      pid: status === 'stopped' ? 0 : rec.pid,
      status,
      bundle: rec.bundle,
      rootfs: rec.rootfs,
      created: rec.created,
      ...(rec.annotations ? { annotations: rec.annotations } : {}),
      owner: '',
    };
  }

  /** Runs `fn` holding the container's lock (flock, src/sys/lock.ts): one verb changes a container at a time. */
  async locked<T>(id: string, fn: () => Promise<T> | T): Promise<T> {
    if (!existsSync(this.dir(id))) throw new RuntsError('ENOTFOUND', `container ${id} not found (it does not exist)`, { path: this.dir(id) });
    return withFileLockAsync(this.lock(id), async () => fn(), { what: `container ${id}` });
  }
}

/** The text of state.json for rec. */
export const stateJson = (rec: ContainerRecord): string => JSON.stringify(rec);

/** A file that says whether a cgroup is frozen: v1 freezer.state, v2 cgroup.freeze. */
export interface FreezerFile {
  path: string;
  /** what the file holds (trimmed) while frozen */
  frozen: string;
  /** what it holds while thawed */
  thawed: string;
}

/**
 * The freezer files of a container's cgroups, as they exist now: v1's
 * freezer.state in the freezer hierarchy (the only one that has it), v2's
 * cgroup.freeze. The container is paused when one reads frozen.
 */
export function freezerFiles(dirs: string[]): FreezerFile[] {
  const files: FreezerFile[] = [];
  for (const dir of dirs) {
    if (existsSync(join(dir, 'freezer.state'))) files.push({ path: join(dir, 'freezer.state'), frozen: 'FROZEN', thawed: 'THAWED' });
    else if (existsSync(join(dir, 'cgroup.freeze'))) files.push({ path: join(dir, 'cgroup.freeze'), frozen: '1', thawed: '0' });
  }
  return files;
}

function isFrozen(files: FreezerFile[]): boolean {
  return files.some((f) => {
    try {
      return readFileSync(f.path, 'utf8').trim() === f.frozen;
    } catch {
      return false; // a vanished cgroup is not frozen
    }
  });
}
