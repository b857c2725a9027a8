/**
 * `runts create`: from a bundle to a container waiting in "created".
 *
 *   1. load and validate config.json, compile the plan (no side effects yet,
 *      so bad input changes nothing)
 *   2. claim the id (the state directory), create the cgroup
 *   3. run the plan: runts-init clones INIT, which sets everything up and
 *      blocks on the exec fifo; createRuntime/prestart hooks run when INIT asks
 *   4. write state.json and the pid file, then return
 * Any failure undoes 2 and 3: the process is killed, the cgroup and the state
 * directory removed.
 *
 * The book: docs/09-writing-runtime.md, "create and start".
 */
import { resolve } from 'node:path';
import { cgroupLayout } from '../cgroups/layout.ts';
import { cgroupPids, primeCgroupMove, procsFile } from '../cgroups/cgroup.ts';
import { cgroupDriver } from '../cgroups/driver.ts';
import { cgroupPlacement, type CgroupPlacement } from '../cgroups/placement.ts';
import { isRootless } from '../rootless/detect.ts';
import { isRuntsError, RuntsError } from '../errors.ts';
import type { Spec, State } from '../oci/types.ts';
import { loadSpec, requireProcess } from '../oci/validate.ts';
import { compilePlan } from '../plan/compile.ts';
import { encodePlan } from '../plan/encode.ts';
import { launch, type Launched } from '../plan/executor.ts';
import type { Step } from '../plan/steps.ts';
import { runHooks } from './hooks.ts';
import { processStartTime, waitGone } from './process.ts';
import type { ContainerRecord, Store } from './store.ts';
import { writePidFile } from './pid-file.ts';
import { writeFastRecord } from './fast-verbs.ts';
import { faultPoint } from '../sys/fault.ts';
import { addFlagSteps } from './plan-additions.ts';
import { checkNetDevices, moveNetDevices } from '../network/net-devices.ts';

export interface RuntimeContext {
  store: Store;
  warn: (msg: string) => void;
  debug: (msg: string) => void;
}

export interface CreateOptions {
  id: string;
  bundle?: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  /** Keep the caller's session keyring (runc's --no-new-keyring). */
  noNewKeyring?: boolean;
  preserveFds?: number;
  /** Foreground `run`: keep a supervisor to learn the exit status. */
  supervise?: boolean;
  /**
   * Keep a supervisor that writes INIT's wait status to this file when it
   * exits (the front end's containers); without `supervise`, one that
   * outlives runts (native/protocol.h, STEP_EXIT_FILE).
   */
  exitFile?: string;
  /** Record the container's system calls to this file (STEP_SECCOMP_RECORD) instead of applying linux.seccomp. */
  seccompRecord?: string;
  /** AF_UNIX socket that receives a pidfd of INIT (runc's --pidfd-socket). */
  pidfdSocket?: string;
  /** Foreground run: PARENT does not become a child subreaper (runc's --no-subreaper). */
  noSubreaper?: boolean;
}

export interface Prepared {
  spec: Spec;
  bundle: string;
  plan: Step[];
  /** The container's cgroups and the limits written there. */
  cgroups: CgroupPlacement;
}

/** Everything that can be decided without touching the system. */
export async function prepare(ctx: RuntimeContext, opts: CreateOptions): Promise<Prepared> {
  const bundle = resolve(opts.bundle ?? '.');
  const spec = loadSpec(bundle);
  requireProcess(spec);
  const rootless = isRootless();
  const cgroups = cgroupPlacement({
    layout: cgroupLayout(),
    id: opts.id,
    cgroupsPath: spec.linux?.cgroupsPath,
    writes: cgroupDriver().resourceWrites(spec.linux?.resources, { field: 'linux.resources', devices: true, warn: ctx.warn }),
    rootless,
    uid: process.geteuid!(),
  });
  checkNetDevices(spec.linux?.netDevices, rootless);
  if (rootless && !cgroups.dirs.length) ctx.debug(`rootless: no cgroup of its own for ${opts.id} (no delegated cgroup v2 subtree); it stays in the caller's`);
  const plan = compilePlan(spec, {
    id: opts.id,
    bundle,
    fifoPath: ctx.store.fifo(opts.id),
    cgroupProcs: cgroups.dirs.map(procsFile),
    cgroupDir: cgroups.dirOf,
    consoleSocket: opts.consoleSocket && resolve(opts.consoleSocket),
    noPivot: opts.noPivot,
    noNewKeyring: opts.noNewKeyring,
    preserveFds: opts.preserveFds,
    supervise: opts.supervise,
    exitFile: opts.exitFile && resolve(opts.exitFile),
    seccompRecord: opts.seccompRecord,
    rootless,
    unprivileged: process.geteuid!() !== 0,
    warn: ctx.warn,
  });
  // First, before any setns: the cgroup paths are the host's. Rootless, no
  // device program: loading one needs privilege over the host.
  if (!rootless) plan.unshift(...cgroupDriver().planSteps(cgroups.dirs, spec.linux?.resources));
  addFlagSteps(plan, { kind: 'standard', pidfdSocket: opts.pidfdSocket && resolve(opts.pidfdSocket), supervise: opts.supervise, noSubreaper: opts.noSubreaper });
  return { spec, bundle, plan, cgroups };
}

export async function create(ctx: RuntimeContext, opts: CreateOptions): Promise<{ record: ContainerRecord; launched: Launched }> {
  primeCgroupMove(); // first, for INIT's move into its cgroups: see there
  const prepared = await prepare(ctx, opts);
  const { spec, bundle, plan, cgroups } = prepared;
  const cgroupDirs = cgroups.dirs;
  const encoded = encodePlan(plan);
  const { store } = ctx;
  const record = initialRecord(opts, prepared);
  store.claim(record);
  // once the id is ours (a taken id must not be reported as a shared cgroup);
  // a refusal leaves the cgroup alone: it is not ours
  try {
    checkExistingCgroup(ctx, cgroupDirs);
  } catch (err) {
    store.release(opts.id);
    throw err;
  }
  faultPoint('create.claimed');
  const state = (status: State['status']): State => ({ ociVersion: spec.ociVersion, id: opts.id, status, pid: record.pid, bundle, annotations: spec.annotations ?? {} });
  try {
    return await store.locked(opts.id, async () => {
      cgroupDriver().create(cgroupDirs, cgroups);
      cgroupDriver().apply(cgroupDirs, cgroups.writes);
      faultPoint('create.cgroup');
      const launched = await launch(plan, encoded, { preserveFds: opts.preserveFds ?? 0 }, {
        onPid: (pid) => {
          record.pid = pid;
          record.pidStartTime = processStartTime(pid) ?? '';
        },
        debug: ctx.debug,
        onHooks: async () => {
          moveNetDevices(spec.linux?.netDevices, record.pid);
          // "creating": the create operation has not returned yet (runtime.md).
          await runHooks('prestart', spec.hooks?.prestart, state('creating'));
          await runHooks('createRuntime', spec.hooks?.createRuntime, state('creating'));
          // The documents the in-container hooks read, as CREATING_STATE and CREATED_STATE.
          return [JSON.stringify(state('creating')), JSON.stringify(state('created'))].join('\0');
        },
      });
      faultPoint('create.launched');
      store.write(record);
      writeFastRecord(store, record);
      if (opts.pidFile) writePidFile(resolve(opts.pidFile), record.pid);
      return { record, launched };
    });
  } catch (err) {
    const cause = oomDuringSetup(record, spec, err) ?? err;
    await undoCreate(ctx, record);
    throw cause;
  }
}

/** The container's first state: no INIT yet, this process its creator. */
export function initialRecord(opts: CreateOptions, { spec, bundle, cgroups }: Prepared): ContainerRecord {
  return {
    ociVersion: spec.ociVersion,
    id: opts.id,
    pid: 0,
    pidStartTime: '',
    bundle,
    rootfs: resolve(bundle, spec.root?.path ?? 'rootfs'),
    annotations: spec.annotations,
    created: new Date().toISOString(),
    cgroupDirs: cgroups.dirs,
    ...(opts.noNewKeyring && { noNewKeyring: true }),
    poststart: spec.hooks?.poststart,
    poststop: spec.hooks?.poststop,
    creator: { pid: process.pid, startTime: processStartTime(process.pid) ?? '' },
  };
}

/**
 * A cgroupsPath may name a cgroup that exists already. A frozen one would
 * freeze INIT before it reports: refused, and left as it is (not ours). One
 * that holds processes is shared with them (limits, OOM, pause): a warning,
 * as runc gives.
 */
function checkExistingCgroup(ctx: RuntimeContext, dirs: string[]) {
  if (cgroupDriver().isFrozen(dirs)) throw new RuntsError('ECGROUP', `container's cgroup unexpectedly frozen: ${dirs.join(', ')} (thaw it, or choose another linux.cgroupsPath)`);
  const pids = new Set(dirs.flatMap(cgroupPids));
  if (pids.size) ctx.warn(`container's cgroup is not empty: ${pids.size} process(es) found`);
}

/** INIT died before "created" and the OOM killer took it: say so, and name the limit (read before the cgroup goes). */
function oomDuringSetup(record: ContainerRecord, spec: Spec, err: unknown): RuntsError | undefined {
  if (!isRuntsError(err, 'EEXEC')) return undefined;
  let kills = 0;
  try { kills = cgroupDriver().oomKills(record.cgroupDirs); } catch { return undefined; }
  if (!kills) return undefined;
  const limit = spec.linux?.resources?.memory?.limit;
  return new RuntsError('EEXEC', `container init was killed by the OOM killer before it was created: linux.resources.memory.limit${limit !== undefined ? ` (${limit} bytes)` : ''} is below what the container needs to start`, { cause: err });
}

async function undoCreate(ctx: RuntimeContext, record: ContainerRecord) {
  if (record.pid && record.pidStartTime) {
    try { process.kill(record.pid, 'SIGKILL'); } catch { /* gone */ }
    await waitGone(record.pid, record.pidStartTime, 5000);
  }
  try {
    cgroupDriver().remove(record.cgroupDirs);
  } catch (err) {
    ctx.warn(`remove cgroup of ${record.id}: ${(err as Error).message}`);
  }
  ctx.store.release(record.id);
}
