/**
 * `runts create`: from a bundle to a container waiting in "created".
 *
 *   load     read and validate config.json
 *   probe    read what the compiler needs to know of the host, once (plan/host.ts)
 *   compile  decide the whole container: a Plan (plan/compile.ts); nothing
 *            is touched until here, so bad input changes nothing
 *   claim    take the id (the state directory)
 *   apply    make the plan's cgroups and write its limits
 *   launch   hand the executor its steps: runts-init clones INIT, which sets
 *            everything up and blocks on the exec fifo; the prestart and
 *            createRuntime hooks run when INIT pauses for them; then
 *            state.json and the pid file are written
 * Any failure after the claim undoes it all: the process is killed, the
 * cgroup and the state directory removed.
 *
 * The book: docs/09-writing-runtime.md, "create and start". Design:
 * docs/design/runtime-core.md, "One probe, one pure compiler".
 */
import { resolve } from 'node:path';
import { cgroupPids, primeCgroupMove } from '../cgroups/cgroup.ts';
import { cgroupDriver } from '../cgroups/driver.ts';
import { isRuntsError, RuntsError } from '../errors.ts';
import type { Spec, State } from '../oci/types.ts';
import { loadSpec, requireProcess } from '../oci/validate.ts';
import { compile } from '../plan/compile.ts';
import { encodePlan } from '../protocol/encode.ts';
import { launch, type Launched } from '../plan/executor.ts';
import { probeHost } from '../plan/host.ts';
import type { Plan } from '../plan/plan.ts';
import { runHooks } from './hooks.ts';
import { processStartTime, waitGone } from './process.ts';
import type { ContainerRecord, Store } from './store.ts';
import { writePidFile } from './pid-file.ts';
import { writeFastRecord } from './fast-verbs.ts';
import { faultPoint } from '../sys/fault.ts';
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
  plan: Plan;
}

/** load -> probe -> compile: everything decided, nothing touched. */
export async function prepare(ctx: RuntimeContext, opts: CreateOptions): Promise<Prepared> {
  const bundle = resolve(opts.bundle ?? '.');
  const spec = loadSpec(bundle);
  requireProcess(spec);
  const host = probeHost(spec, { bundle, id: opts.id });
  checkNetDevices(spec.linux?.netDevices, host.rootless);
  const plan = compile(spec, host, {
    id: opts.id,
    bundle,
    stateDir: ctx.store.dir(opts.id),
    fifoPath: ctx.store.fifo(opts.id),
    pidFile: opts.pidFile && resolve(opts.pidFile),
    consoleSocket: opts.consoleSocket && resolve(opts.consoleSocket),
    noPivot: opts.noPivot,
    noNewKeyring: opts.noNewKeyring,
    preserveFds: opts.preserveFds,
    supervise: opts.supervise,
    exitFile: opts.exitFile && resolve(opts.exitFile),
    seccompRecord: opts.seccompRecord,
    pidfdSocket: opts.pidfdSocket && resolve(opts.pidfdSocket),
    noSubreaper: opts.noSubreaper,
    warn: ctx.warn,
  });
  if (plan.cgroup.note) ctx.debug(plan.cgroup.note);
  return { spec, bundle, plan };
}

/** ... -> claim -> apply -> launch. */
export async function create(ctx: RuntimeContext, opts: CreateOptions): Promise<{ record: ContainerRecord; launched: Launched }> {
  primeCgroupMove(); // first, for INIT's move into its cgroups: see there
  const prepared = await prepare(ctx, opts);
  const { spec, bundle, plan } = prepared;
  const { cgroup } = plan;
  const encoded = encodePlan(plan.steps);
  const { store } = ctx;
  const record = initialRecord(opts, prepared);
  store.claim(record);
  // once the id is ours (a taken id must not be reported as a shared cgroup);
  // a refusal leaves the cgroup alone: it is not ours
  try {
    checkExistingCgroup(ctx, cgroup.dirs);
  } catch (err) {
    store.release(opts.id);
    throw err;
  }
  faultPoint('create.claimed');
  const state = (status: State['status']): State => ({ ociVersion: spec.ociVersion, id: opts.id, status, pid: record.pid, bundle, annotations: spec.annotations ?? {} });
  try {
    return await store.locked(opts.id, async () => {
      cgroupDriver().create(cgroup.dirs, cgroup);
      cgroupDriver().apply(cgroup.dirs, cgroup.writes);
      faultPoint('create.cgroup');
      const launched = await launch(plan.steps, encoded, { preserveFds: opts.preserveFds ?? 0 }, {
        onPid: (pid) => {
          record.pid = pid;
          record.pidStartTime = processStartTime(pid) ?? '';
        },
        debug: ctx.debug,
        onHooks: async () => {
          moveNetDevices(spec.linux?.netDevices, record.pid);
          // "creating": the create operation has not returned yet (runtime.md).
          await runHooks('prestart', plan.hooks.prestart, state('creating'));
          await runHooks('createRuntime', plan.hooks.createRuntime, state('creating'));
          // The documents the in-container hooks read, as CREATING_STATE and CREATED_STATE.
          return [JSON.stringify(state('creating')), JSON.stringify(state('created'))].join('\0');
        },
      });
      faultPoint('create.launched');
      store.write(record);
      writeFastRecord(store, record);
      if (plan.state.pidFile) writePidFile(plan.state.pidFile, record.pid);
      return { record, launched };
    });
  } catch (err) {
    const cause = oomDuringSetup(record, spec, err) ?? err;
    await undoCreate(ctx, record);
    throw cause;
  }
}

/** The container's first state: no INIT yet, this process its creator. */
export function initialRecord(opts: CreateOptions, { spec, bundle, plan }: Prepared): ContainerRecord {
  return {
    ociVersion: spec.ociVersion,
    id: opts.id,
    pid: 0,
    pidStartTime: '',
    bundle,
    rootfs: resolve(bundle, spec.root?.path ?? 'rootfs'),
    annotations: spec.annotations,
    created: new Date().toISOString(),
    cgroupDirs: plan.cgroup.dirs,
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
