/**
 * The verbs engines drive besides the lifecycle: exec and ps. Argument
 * parsing only, with runc's flag names (podman's conmon and containerd's
 * shim pass them); each command makes one library call.
 *
 * Engines: README.md, "Under podman, containerd and Kubernetes", and
 * docs/kubernetes-runtimeclass.md; what they pass: docs/design/exec-and-terminals.md.
 */
import { Command, Option } from 'commander';
import { isRuntsError, RuntsError } from '../errors.ts';
import type { RuntimeContext } from '../runtime/create.ts';
import { print } from './output.ts';

interface ExecFlags {
  process?: string;
  tty?: boolean;
  detach?: boolean;
  consoleSocket?: string;
  pidFile?: string;
  env: string[];
  cwd?: string;
  workdir?: string;
  user?: string;
  additionalGids: number[];
  cap: string[];
  /** commander's name for --no-new-privs: false when given */
  newPrivs: boolean;
  preserveFds: number;
  ignorePaused?: boolean;
  cgroup: string[];
  pidfdSocket?: string;
}

const collect = (v: string, all: string[]) => [...all, v];
const count = (flag: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new RuntsError('EINVAL', `${flag}: not a number: ${v}`);
  return Number(v);
};

/**
 * What the whole command line needs, whichever commands are registered:
 * positional options, and the verb that exitCodeOf reads.
 */
export function configureEngineProgram(program: Command): void {
  // As in runc, everything after exec's <id> belongs to the command (its own
  // -c or -e are not ours); commander allows that only when global options
  // come before the verb, which is also runc's rule.
  program.enablePositionalOptions();
  program.hook('preAction', (_program, action) => {
    verb = action.name();
  });
}

export function registerEngineCommands(program: Command, ctx: () => RuntimeContext): void {
  program.command('exec').passThroughOptions().description('run a new process inside a created or running container')
    .argument('<id>').argument('[command...]', 'the command and its arguments (unless --process)')
    .option('-p, --process <file>', 'the process to run, as a runtime-spec process.json')
    .option('-t, --tty', 'give the process a terminal')
    .option('-d, --detach', 'return once the process is started')
    .option('--console-socket <path>', 'AF_UNIX socket that receives the pty master (with --tty)')
    .option('--pid-file <file>', 'write the process\'s pid to this file')
    .option('-e, --env <KEY=value>', 'set an environment variable (repeatable)', collect, [])
    .option('--cwd <dir>', 'working directory inside the container')
    .option('-w, --workdir <dir>', 'the same as --cwd (docker exec\'s spelling)')
    .option('-i, --interactive', 'keep stdin open: it always is (accepted for docker exec -it habits)')
    .option('-u, --user <uid[:gid]>', 'run as this user (a name: as the container\'s /etc/passwd says)')
    .option('-g, --additional-gids <gid>', 'an additional group (repeatable)', (v: string, all: number[]) => [...all, count('--additional-gids')(v)], [])
    .option('-c, --cap <capability>', 'add a capability (repeatable)', collect, [])
    .option('--no-new-privs', 'set no_new_privs for the process')
    .option('--preserve-fds <n>', 'pass this many extra descriptors (from 3 on) to the process', count('--preserve-fds'), 0)
    .option('--ignore-paused', 'exec into a paused container: the process is set up once it is resumed')
    .option('--cgroup <[controller[,controller...]:]path>', 'put the process in this sub-cgroup of the container\'s (repeatable)', collect, [])
    .option('--pidfd-socket <path>', 'AF_UNIX socket that receives a pidfd of the process')
    .addOption(new Option('--apparmor <profile>', 'accepted for runc compatibility').hideHelp())
    .addOption(new Option('--process-label <label>', 'accepted for runc compatibility').hideHelp())
    .action(async (id: string, command: string[], f: ExecFlags) => {
      const { exec } = await import('../runtime/exec.ts');
      process.exitCode = await exec(ctx(), {
        id, args: command, processFile: f.process, tty: f.tty, detach: f.detach, consoleSocket: f.consoleSocket,
        pidFile: f.pidFile, env: f.env, cwd: f.cwd ?? f.workdir, user: f.user, additionalGids: f.additionalGids, caps: f.cap,
        noNewPrivs: f.newPrivs === false, preserveFds: f.preserveFds, ignorePaused: f.ignorePaused, cgroups: f.cgroup, pidfdSocket: f.pidfdSocket,
      });
    });

  program.command('ps').passThroughOptions().description('list the processes of a container (extra arguments go to ps(1))')
    .argument('<id>').argument('[ps-args...]', 'arguments for ps (default -ef)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (id: string, psArgs: string[], f: { format: string }) => {
      const { containerPids, psTable } = await import('../runtime/ps.ts');
      const pids = containerPids(ctx(), id);
      print(f.format === 'json' ? JSON.stringify(pids) : psTable(pids, psArgs));
    });
}

/** The verb being run, for exitCodeOf. */
let verb = '';

/* The friendly `run IMAGE` keeps the exit codes docker and podman give a
 * command that did not get to run (125 the runtime failed, 126 the command
 * cannot be run, 127 it was not found). The OCI verbs keep runc's, which
 * engines and runc's own tests read: `exec` 255 (above any status the
 * command itself can exit with), every other verb 1. */
const FRONT_END_RUN = 'run-image';

/**
 * runts's own exit code for an error. `exec`: 255, as runc. `run IMAGE`: 127
 * the command was not found, 126 it could not be run, 125 runts itself
 * failed. Every other verb (OCI `run` too): 1, as runc. A container's own exit
 * status is passed through as is.
 */
export function exitCodeOf(err: unknown): number {
  if (verb === 'exec') return 255;
  if (verb !== FRONT_END_RUN) return 1;
  if (isRuntsError(err, 'EEXEC') && err.errno === 2) return 127; // ENOENT
  if (isRuntsError(err, 'EEXEC') && [8, 13, 21].includes(err.errno ?? 0)) return 126; // ENOEXEC, EACCES, EISDIR
  return 125;
}
