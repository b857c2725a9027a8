/**
 * The runts command line: runc-compatible OCI verbs. Argument parsing only;
 * every command makes one library call, imported when the command runs, so a
 * start pays only for the verb it uses. This file owns all output and the
 * process exit code; the library never prints.
 *
 * The book: docs/09-writing-runtime.md, "The command line".
 */
import { Command, Option } from 'commander';
import { appendFileSync, existsSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RuntsError } from '../errors.ts';
import type { RuntimeContext } from '../runtime/create.ts';
import { DEFAULT_KILL_SIGNAL } from '../runtime/process.ts';
import { Store } from '../runtime/store.ts';
import { OCI_VERSION } from '../oci/spec.ts';
import { defaultStateRoot } from '../rootless/detect.ts';
import { print, printJson, table } from './output.ts';
import { configureEngineProgram, exitCodeOf, registerEngineCommands } from './engine-commands.ts';
import { registerDoctorCommand } from './doctor-command.ts';
import { registerCgroupCommands } from './cgroup-commands.ts';
import { registerImageCommands, routeRun, verbIndex } from './image-commands.ts';
import { registerNetworkCommands } from './network-commands.ts';
import { configureRuncHelp, refuseUnknownHelp } from './help.ts';

const VERSION = '0.1.0';
/** The runc release whose command line runts follows (its verbs, flags, exit statuses). */
const RUNC_VERSION = '1.1.5';
/** What -v prints: runc's three lines (version, commit, spec), naming runts. */
const VERSION_TEXT = `runts version ${VERSION} (command line of runc version ${RUNC_VERSION})\ncommit: not recorded in this build\nspec: ${OCI_VERSION}`;

interface GlobalOptions {
  root?: string;
  log?: string;
  logFormat: 'text' | 'json';
  debug?: boolean;
}

/** One log line in --log-format: logrus's text (time="..." level=... msg="...") or one JSON object, as runc writes them. */
function formatLine(g: GlobalOptions, level: 'error' | 'warning' | 'debug', msg: string): string {
  const time = new Date().toISOString();
  return g.logFormat === 'json' ? JSON.stringify({ level, msg, time }) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
}

function logLine(g: GlobalOptions, level: 'error' | 'warning' | 'debug', msg: string) {
  if (!g.log) return;
  try {
    appendFileSync(g.log, formatLine(g, level, msg) + '\n');
  } catch {
    /* a broken log must not hide the real error */
  }
}

function context(program: Command): RuntimeContext {
  const g = program.opts<GlobalOptions>();
  return {
    store: new Store(resolve(g.root ?? defaultStateRoot())),
    warn: (msg) => {
      logLine(g, 'warning', msg);
      writeSync(2, `runts: warning: ${msg}\n`);
    },
    // --debug: to --log when there is one, else to stderr, as runc
    debug: (msg) => {
      if (!g.debug) return;
      if (g.log) logLine(g, 'debug', msg);
      else writeSync(2, formatLine(g, 'debug', msg) + '\n');
    },
  };
}

const bundleOption = () => new Option('-b, --bundle <dir>', 'path to the bundle (config.json and rootfs)').default('.');
const createOptions = (cmd: Command) =>
  cmd
    .addOption(bundleOption())
    .option('--pid-file <file>', 'write the container process pid to this file')
    .option('--console-socket <path>', 'AF_UNIX socket that receives the pty master (process.terminal)')
    .option('--no-pivot', 'use chroot instead of pivot_root (for a ramdisk root)')
    .option('--no-new-keyring', 'keep the caller\'s session keyring (default: the container gets its own)')
    .option('--preserve-fds <n>', 'pass this many extra descriptors (from 3 on) to the container', parseCount, 0)
    .option('--pidfd-socket <path>', 'AF_UNIX socket that receives a pidfd of the container\'s process');

function parseCount(v: string): number {
  if (!/^\d+$/.test(v)) throw new RuntsError('EINVAL', `--preserve-fds: not a number: ${v}`);
  return Number(v);
}

interface CreateFlags {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  pivot: boolean;
  /** false with --no-new-keyring */
  newKeyring: boolean;
  preserveFds: number;
  pidfdSocket?: string;
  detach?: boolean;
}

const createArgs = (id: string, f: CreateFlags) => ({
  id,
  bundle: f.bundle,
  pidFile: f.pidFile,
  consoleSocket: f.consoleSocket,
  noPivot: !f.pivot,
  noNewKeyring: !f.newKeyring,
  preserveFds: f.preserveFds,
  pidfdSocket: f.pidfdSocket,
});

type Register = (program: Command, ctx: () => RuntimeContext) => void;

// The OCI verbs of this file, one registration each.
const registerSpec: Register = (program) => {
  program.command('spec').description('write a default config.json into the bundle')
    .addOption(bundleOption())
    .option('--rootless', 'a spec for an unprivileged user')
    .action(async (f: { bundle: string; rootless?: boolean }) => {
      const bundle = resolve(f.bundle);
      const st = statSync(bundle, { throwIfNoEntry: false });
      if (!st?.isDirectory()) throw new RuntsError(st ? 'EINVAL' : 'ENOENT', `bundle ${bundle}: ${st ? 'not a directory' : 'no such directory'} (runts spec writes config.json into an existing directory)`, { path: bundle });
      const file = join(bundle, 'config.json');
      if (existsSync(file)) throw new RuntsError('EEXIST', `${file} already exists`, { path: file });
      const { defaultSpec } = await import('../oci/spec.ts');
      const { cgroupLayout } = await import('../cgroups/layout.ts');
      // as runc spec: a cgroup namespace on cgroup v2 hosts only (on v1, /proc/self/cgroup keeps the host's paths)
      const cgroupNamespace = cgroupLayout().mode === 2;
      writeFileSync(file, JSON.stringify(defaultSpec({ rootless: f.rootless, cgroupNamespace }), null, 2) + '\n');
    });
};

const registerCreate: Register = (program, ctx) => {
  createOptions(program.command('create').description('create a container (it waits for start)').argument('<id>'))
    .action(async (id: string, f: CreateFlags) => {
      const { create } = await import('../runtime/create.ts');
      const { launched } = await create(ctx(), createArgs(id, f));
      await launched.release();
    });
};

const registerStart: Register = (program, ctx) => {
  program.command('start').description('start a created container').argument('<id>')
    .action(async (id: string) => (await import('../runtime/start.ts')).start(ctx(), id));
};

const registerRun: Register = (program, ctx) => {
  createOptions(program.command('run').description('create and start a container; wait for it unless --detach (outside a bundle, `run IMAGE [CMD...]` runs an image: see run-image -h)').argument('<id>'))
    .option('-d, --detach', 'return once the container is started')
    .option('--keep', 'keep the container once it has stopped (delete it later)')
    .option('--no-subreaper', 'do not become a subreaper for the processes the container orphans')
    .option('--seccomp-record <file>', 'record the system calls of this run; write a seccomp profile allowing them to <file>')
    .action(async (id: string, f: CreateFlags & { keep?: boolean; seccompRecord?: string; subreaper: boolean }) => {
      const { run } = await import('../runtime/run.ts');
      if (f.keep && f.detach) throw new RuntsError('EINVAL', '--keep with --detach: a detached container is kept anyway');
      process.exitCode = await run(ctx(), { ...createArgs(id, f), detach: f.detach, keep: f.keep, seccompProfile: f.seccompRecord, noSubreaper: !f.subreaper });
    });
};

const registerState: Register = (program, ctx) => {
  program.command('state').description('print the state of a container as JSON').argument('<id>')
    .action(async (id: string) => {
      const { state, stateText } = await import('../runtime/state.ts');
      print(stateText(state(ctx(), id)));
    });
};

const registerList: Register = (program, ctx) => {
  program.command('list').alias('ls').description('list containers')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'print only the ids')
    .action(async (f: { format: string; quiet?: boolean }) => {
      const all = (await import('../runtime/state.ts')).list(ctx());
      if (f.quiet) all.forEach((s) => print(s.id));
      else if (f.format === 'json') print(JSON.stringify(all));
      else print(table([['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...all.map((s) => [s.id, String(s.pid), s.status, s.bundle, String(s.created), s.owner])]));
    });
};

const registerKill: Register = (program, ctx) => {
  program.command('kill').description('send a signal (default SIGTERM) to a container').argument('<id>').argument('[signal]', 'name or number', DEFAULT_KILL_SIGNAL)
    .option('-a, --all', 'signal every process of the container')
    .action(async (id: string, signal: string, f: { all?: boolean }) => (await import('../runtime/kill.ts')).kill(ctx(), id, signal, f));
};

const registerDelete: Register = (program, ctx) => {
  program.command('delete').alias('rm').description('delete a container').argument('<id>')
    .option('-f, --force', 'kill the container first if it is running')
    .action(async (id: string, f: { force?: boolean }) => (await import('../runtime/delete.ts')).remove(ctx(), id, f));
};

const registerFeatures: Register = (program) => {
  program.command('features').description('print what this runtime supports, as JSON')
    .action(async () => printJson((await import('../runtime/features.ts')).features()));
};

/** runc 1.1's checkpoint and restore flags, through CRIU (runtime/checkpoint.ts refuses those it cannot honour). */
const criuOptions = (cmd: Command) =>
  cmd
    .option('--image-path <dir>', 'directory of the checkpoint images', 'checkpoint')
    .option('--work-path <dir>', 'directory for CRIU\'s log and work files (default: the image directory)')
    .option('--tcp-established', 'allow open TCP connections')
    .option('--ext-unix-sk', 'allow external unix sockets')
    .option('--shell-job', 'allow a shell job (a terminal from outside)')
    .option('--file-locks', 'handle file locks')
    .addOption(new Option('--manage-cgroups-mode <mode>', 'cgroups mode for CRIU').choices(['soft', 'full', 'strict', 'ignore']).default('soft'))
    .option('--empty-ns <namespace>', 'make the namespace but do not restore its properties (network only)', (v: string, all: string[] = []) => [...all, v])
    .option('--auto-dedup', 'deduplicate memory images (with --parent-path)')
    .option('--lazy-pages', 'restore memory pages on demand (not supported: refused)');

const registerCheckpoint: Register = (program, ctx) => {
  criuOptions(program.command('checkpoint').description('checkpoint a running container (CRIU)').argument('<id>'))
    .option('--leave-running', 'leave the container running after the checkpoint')
    .option('--pre-dump', 'dump the memory only, leave the container running (iterative migration)')
    .option('--parent-path <dir>', 'a previous pre-dump\'s images, relative to --image-path')
    .option('--page-server <address:port>', 'send pages to a CRIU page server (not supported: refused)')
    .option('--status-fd <fd>', 'with --lazy-pages (not supported: refused)')
    .action(async (id: string, f: Record<string, unknown>) => (await import('../runtime/checkpoint.ts')).checkpoint(ctx(), { id, ...f }));
  criuOptions(program.command('restore').description('restore a container from a checkpoint (CRIU); in the foreground unless -d').argument('<id>'))
    .addOption(bundleOption())
    .option('-d, --detach', 'return once the container is restored')
    .option('--pid-file <file>', 'write the restored process\'s pid to this file')
    .option('--no-subreaper', 'in the foreground, do not become a subreaper for the processes the container orphans')
    .option('--lsm-profile <type:name>', 'restore the process under this LSM profile')
    .option('--lsm-mount-context <context>', 'the LSM mount context for the restored mounts')
    .option('--console-socket <path>', 'a terminal\'s master over this socket (not supported: refused)')
    .option('--no-pivot', 'restore without pivot_root (not supported: refused)')
    .action(async (id: string, f: Record<string, unknown> & { subreaper: boolean; pivot: boolean }) => {
      const { restore } = await import('../runtime/checkpoint.ts');
      process.exitCode = await restore(ctx(), { id, ...f, noSubreaper: !f.subreaper, noPivot: !f.pivot });
    });
};

const registerPlan: Register = (program, ctx) => {
  program.command('plan').description('show the plan runts-init would execute for a bundle')
    .addOption(bundleOption())
    .option('--id <id>', 'container id to plan for', 'example')
    .option('--explain', 'print the steps as text (the default)')
    .option('--fast-verbs', 'print instead what create records for state, start, kill and delete without Node')
    .action(async (f: { bundle: string; id: string; fastVerbs?: boolean }) => {
      const { initialRecord, prepare } = await import('../runtime/create.ts');
      const c = ctx();
      const prepared = await prepare(c, { id: f.id, bundle: f.bundle, consoleSocket: undefined });
      if (f.fastVerbs) {
        const { compileFastRecord, explainFastRecord } = await import('../runtime/fast-verbs.ts');
        return print(explainFastRecord(compileFastRecord(c.store, initialRecord({ id: f.id }, prepared))));
      }
      const { explainPlan } = await import('../plan/explain.ts');
      print(explainPlan(prepared.plan));
    });
};

/**
 * Every command, in --help order, under the verbs (names and aliases) it
 * registers. Engines call the OCI verbs many times a second, and building
 * all ~50 commands costs each call milliseconds: a known verb registers only
 * its own group. --help, `help`, no verb and unknown verbs get the whole
 * tree (and commander's suggestions). A verb missing here still works, via
 * the whole tree; test/unit/cli-verbs.test.ts checks that each verb listed
 * is one its group defines.
 */
const COMMAND_GROUPS: readonly (readonly [verbs: readonly string[], register: Register])[] = [
  [['spec'], registerSpec],
  [['create'], registerCreate],
  [['start'], registerStart],
  [['run'], registerRun],
  [['state'], registerState],
  [['list', 'ls'], registerList],
  [['kill'], registerKill],
  [['delete', 'rm'], registerDelete],
  [['features'], registerFeatures],
  [['plan'], registerPlan],
  [['checkpoint', 'restore'], registerCheckpoint],
  // Commands of other concerns register here, one line each.
  [['exec', 'ps'], registerEngineCommands],
  [['doctor'], registerDoctorCommand],
  [['update', 'pause', 'resume', 'events'], registerCgroupCommands],
  [['load', 'import', 'pull', 'save', 'images', 'inspect', 'logs', 'commit', 'export', 'rmi', 'prune', 'run-image', 'stop', 'wait', 'container'], registerImageCommands],
  [['network'], registerNetworkCommands],
];

/** The command line: with `verb`, only that verb's group of commands; without, all of them. */
export function buildProgram(verb?: string): Command {
  const program = new Command('runts')
    .description('the command line of runc - Open Container Initiative runtime, as a small, real runtime in TypeScript')
    .version(VERSION_TEXT, '-v, --version')
    .option('--root <dir>', 'state directory (default: /run/runts; $XDG_RUNTIME_DIR/runts for an unprivileged user)')
    .option('--log <file>', 'append errors and warnings to this file')
    .addOption(new Option('--log-format <format>', 'log format').choices(['text', 'json']).default('text'))
    .option('--debug', 'print debug output')
    .option('--systemd-cgroup', 'accepted for runc compatibility; runts drives cgroupfs directly')
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (s) => writeSync(1, s),
      writeErr: (s) => writeSync(2, s),
      // usage errors (an unknown verb, a missing argument) go where every other error goes: to --log, and as JSON with --log-format json
      outputError: (s) => {
        const g = program.opts<GlobalOptions>();
        const msg = s.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ');
        logLine(g, 'error', msg);
        writeSync(2, g.logFormat === 'json' ? formatLine(g, 'error', msg) + '\n' : s);
      },
    });
  configureEngineProgram(program);
  configureRuncHelp(program);
  // A log that cannot be written is an error now, not a silence later.
  program.hook('preAction', () => {
    const { log } = program.opts<GlobalOptions>();
    if (!log) return;
    try {
      appendFileSync(log, '');
    } catch (err) {
      throw new RuntsError('EINVAL', `--log ${log}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}`, { path: log });
    }
  });
  const ctx = () => context(program);
  const known = verb !== undefined && COMMAND_GROUPS.some(([verbs]) => verbs.includes(verb));
  for (const [verbs, register] of COMMAND_GROUPS) if (!known || verbs.includes(verb!)) register(program, ctx);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const routed = routeRun(argv);
  const verb = routed[verbIndex(routed)];
  const program = buildProgram(verb);
  program.exitOverride();
  try {
    refuseUnknownHelp(program, verb, routed);
    await program.parseAsync(routed);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander already printed usage errors; help and version exit 0
      process.exitCode = e.exitCode ?? 1;
      return;
    }
    const g = program.opts<GlobalOptions>();
    const message = e.message.replace(/\s*\n\s*/g, ' ');
    logLine(g, 'error', message);
    writeSync(2, g.logFormat === 'json' ? formatLine(g, 'error', message) + '\n' : `runts: ${message}\n`);
    if (g.debug && err instanceof Error && err.stack) writeSync(2, err.stack + '\n');
    process.exitCode = exitCodeOf(err);
  }
}

await main(process.argv);
// Everything was written synchronously; skip the event loop's and V8's
// teardown, which costs milliseconds on every command.
process.exit();
