/**
 * The fast verbs' record: what `state`, `start`, `kill` and `delete` of one
 * container may do without starting Node, decided here, at create, and
 * written beside state.json as `fast-verbs`. dist/runts-fast
 * (native/runts-fast.c) carries it out; it decides nothing, and hands any
 * case the record does not settle to Node with the same arguments, before
 * it has changed anything.
 *
 * What the record holds: the exact state.json it was compiled from (a
 * record that no longer matches its state.json is void), INIT's pid, start
 * time and name, the freezer files, the exact output of `state` for each
 * status, the exec fifo and lock, the signal names `kill` takes, the cgroup
 * directories `delete` removes, and which verbs may go fast at all (hooks
 * keep `start` and `delete` in Node).
 *
 * The wire format, a header line and `KEY LENGTH\nVALUE\n` entries, is
 * defined here and in native/fast-verbs.h (a unit test checks they agree).
 *
 * Design: docs/design/fast-verbs.md.
 */
import { constants } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_STORE, frontEndContainerFile, STORE_ENV, storeRoot } from '../image/location.ts';
import { isRootless } from '../rootless/detect.ts';
import { writeFileAtomic } from '../sys/files.ts';
import { deleteNeedsForce } from './delete.ts';
import { killAllSignalsMembers, killsInit } from './kill.ts';
import { DEFAULT_KILL_SIGNAL, INIT_NAME, signalNumber } from './process.ts';
import { canStart } from './start.ts';
import { stateText } from './state.ts';
import { freezerFiles, stateJson, type ContainerRecord, type FreezerFile, type Status, type Store } from './store.ts';

/** The record's file name in the state directory, and the version of its format. */
export const FAST_RECORD = 'fast-verbs';
export const FAST_VERSION = 1;
export const FAST_MAGIC = 'runts-fast-verbs';

/** The keys of the format (native/fast-verbs.h has the same). */
export const FAST_KEY = {
  STATE_JSON: 'state-json',
  DIR: 'dir',
  LOCK: 'lock',
  FIFO: 'fifo',
  PID: 'pid',
  PID_START: 'pid-start',
  INIT_COMM: 'init-comm',
  FREEZER: 'freezer',
  OUT_CREATED: 'out-created',
  OUT_RUNNING: 'out-running',
  OUT_PAUSED: 'out-paused',
  OUT_STOPPED: 'out-stopped',
  START: 'start',
  KILL: 'kill',
  KILL_ALL: 'kill-all',
  DELETE: 'delete',
  DELETE_FORCE: 'delete-force',
  SIGNAL: 'signal',
  KILL_DEFAULT: 'kill-default',
  CGROUP: 'cgroup',
  FRONTEND_FILE: 'frontend-file',
  FRONTEND_ENV: 'frontend-env',
} as const;

/** The statuses a record has an output for: those a container with a pid can be in. */
const STATUSES = ['created', 'running', 'paused', 'stopped'] as const satisfies readonly Status[];

export interface FastRecord {
  stateJson: string;
  dir: string;
  lock: string;
  fifo: string;
  pid: number;
  pidStartTime: string;
  initComm: string;
  freezer: FreezerFile[];
  /** `runts state`'s exact stdout, per status */
  out: Record<(typeof STATUSES)[number], string>;
  /** The statuses from which each verb may go fast (the verb's own rule, less what only Node does). */
  fast: { start: Status[]; kill: Status[]; killAll: Status[]; delete: Status[]; deleteForce: Status[] };
  /** Why a verb never goes fast for this container. */
  slow: { start?: string; delete?: string };
  /** Every spelling `kill` takes, with its number (more spellings go to Node). */
  signals: [string, number][];
  killDefault: number;
  cgroups: string[];
  /** `delete`/`rm` of this id is the front end's `container rm` while this file (in the default store) exists, or may be while this variable is set. */
  frontEnd: { file: string; env: string };
}

/** Compile the record of a container that has its INIT (rec.pid is set). */
export function compileFastRecord(store: Store, rec: ContainerRecord): FastRecord {
  const out = Object.fromEntries(STATUSES.map((s) => [s, stateText(store.stateAs(rec, s))])) as FastRecord['out'];
  const slow = {
    ...(rec.poststart?.length && { start: 'poststart hooks run once INIT has exec\'d' }),
    ...(rec.poststop?.length && { delete: 'poststop hooks run at delete' }),
  };
  // Node alone thaws a paused container before delete kills it.
  const deletable = STATUSES.filter((s) => s !== 'paused' && !slow.delete);
  return {
    stateJson: stateJson(rec),
    dir: store.dir(rec.id),
    lock: store.lock(rec.id),
    fifo: store.fifo(rec.id),
    pid: rec.pid,
    pidStartTime: rec.pidStartTime,
    initComm: INIT_NAME,
    freezer: freezerFiles(rec.cgroupDirs),
    out,
    fast: {
      start: slow.start ? [] : STATUSES.filter(canStart),
      kill: STATUSES.filter(killsInit),
      // only where it has nothing to signal: none of the cgroups holds a process
      killAll: rec.cgroupDirs.length ? STATUSES.filter(killAllSignalsMembers) : [],
      delete: deletable.filter((s) => !deleteNeedsForce(s)),
      deleteForce: deletable,
    },
    slow,
    signals: signalSpellings(),
    killDefault: signalNumber(DEFAULT_KILL_SIGNAL),
    cgroups: rec.cgroupDirs,
    // Node's routing looks in the store STORE_ENV names, else in the default one.
    frontEnd: { file: frontEndContainerFile(rec.id, frontEndStore()), env: STORE_ENV },
  };
}

/** The default store: root's, or, rootless, the user's (the front end runs in its user namespace with it named). */
function frontEndStore(): string {
  if (!isRootless()) return DEFAULT_STORE;
  try {
    return storeRoot();
  } catch {
    return DEFAULT_STORE; // a user without HOME has no store: its `rm` is never the front end's
  }
}

/** The spellings of every signal signalNumber takes: numbers, NAME, SIGNAME, in upper and lower case. */
function signalSpellings(): [string, number][] {
  const spellings = new Set<string>();
  for (let n = 0; n <= 64; n++) spellings.add(String(n));
  for (const name of Object.keys(constants.signals)) {
    for (const s of [name, name.replace(/^SIG/, '')]) spellings.add(s).add(s.toLowerCase());
  }
  return [...spellings].map((s) => [s, signalNumber(s)]);
}

export function encodeFastRecord(r: FastRecord): string {
  const entries: [string, string][] = [
    [FAST_KEY.STATE_JSON, r.stateJson],
    [FAST_KEY.DIR, r.dir],
    [FAST_KEY.LOCK, r.lock],
    [FAST_KEY.FIFO, r.fifo],
    [FAST_KEY.PID, String(r.pid)],
    [FAST_KEY.PID_START, r.pidStartTime],
    [FAST_KEY.INIT_COMM, r.initComm],
    ...r.freezer.map((f): [string, string] => [FAST_KEY.FREEZER, `${f.path}\0${f.frozen}\0${f.thawed}`]),
    [FAST_KEY.OUT_CREATED, r.out.created],
    [FAST_KEY.OUT_RUNNING, r.out.running],
    [FAST_KEY.OUT_PAUSED, r.out.paused],
    [FAST_KEY.OUT_STOPPED, r.out.stopped],
    [FAST_KEY.START, r.fast.start.join('\0')],
    [FAST_KEY.KILL, r.fast.kill.join('\0')],
    [FAST_KEY.KILL_ALL, r.fast.killAll.join('\0')],
    [FAST_KEY.DELETE, r.fast.delete.join('\0')],
    [FAST_KEY.DELETE_FORCE, r.fast.deleteForce.join('\0')],
    ...r.signals.map(([s, n]): [string, string] => [FAST_KEY.SIGNAL, `${s}\0${n}`]),
    [FAST_KEY.KILL_DEFAULT, String(r.killDefault)],
    ...r.cgroups.map((d): [string, string] => [FAST_KEY.CGROUP, d]),
    [FAST_KEY.FRONTEND_FILE, r.frontEnd.file],
    [FAST_KEY.FRONTEND_ENV, r.frontEnd.env],
  ];
  // The length counts bytes: the C side reads bytes.
  return `${FAST_MAGIC} ${FAST_VERSION}\n` + entries.map(([k, v]) => `${k} ${Buffer.byteLength(v)}\n${v}\n`).join('');
}

/** Write the record of a created container, after its state.json (which it must match, byte for byte). */
export function writeFastRecord(store: Store, rec: ContainerRecord): void {
  writeFileAtomic(join(store.dir(rec.id), FAST_RECORD), encodeFastRecord(compileFastRecord(store, rec)));
}

/** The record as words, for `runts plan --fast-verbs`. */
export function explainFastRecord(r: FastRecord): string {
  const from = (statuses: Status[], why?: string) => (why ? `through Node: ${why}` : statuses.length ? `if ${statuses.join(' or ')}:` : 'through Node');
  const lines = [
    `${join(r.dir, FAST_RECORD)}: what runts-fast may do for this container without Node`,
    `  valid while ${join(r.dir, 'state.json')} holds exactly the ${Buffer.byteLength(r.stateJson)} bytes it was written with`,
    `  status: stopped unless pid ${r.pid || '<pid>'} is alive and started at ${r.pidStartTime || '<start time>'};`,
    `          else created while ${r.fifo} exists and INIT is named ${r.initComm} (running if renamed);`,
    `          else paused when ${r.freezer.length ? r.freezer.map((f) => `${f.path} reads ${f.frozen}`).join(' or ') : 'a freezer file of its cgroups (listed at create, once they exist) reads frozen'}; else running`,
    `  state:  print the document recorded for that status (${STATUSES.join(', ')})`,
    `  start:  ${from(r.fast.start, r.slow.start)} take the lock ${r.lock}, write one byte into ${r.fifo}, remove it`,
    `  kill:   ${from(r.fast.kill)} pidfd_open INIT, check its start time, send the signal (${r.signals.length} spellings, default ${r.killDefault});`,
    `          --all ${from(r.fast.killAll)} nothing, when no cgroup.procs of ${r.cgroups.length ? r.cgroups.join(', ') : 'its cgroups'} lists a process; else through Node`,
    `  delete: ${from(r.fast.delete, r.slow.delete)} take the lock; with --force ${from(r.fast.deleteForce, r.slow.delete)} SIGKILL INIT and wait for it;`,
    `          then, if they are empty and thawed, remove ${r.cgroups.length ? r.cgroups.join(', ') : 'no cgroup'}, and ${r.dir};`,
    `          through Node while ${r.frontEnd.file} exists or ${r.frontEnd.env} is set (the front end's container rm)`,
    '  anything else (other verbs or flags, --debug, other statuses, a lock held, any error) runs in Node with the same arguments',
  ];
  return lines.join('\n') + '\n';
}
