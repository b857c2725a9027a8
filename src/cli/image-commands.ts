/**
 * The image and front-end commands: load, import, pull, save, images,
 * inspect, rmi, prune, `run IMAGE [CMD...]`, stop, wait, logs, commit,
 * export and `container ls|rm`. Argument parsing only; each command makes one library
 * call.
 *
 * `load` reads image archives (OCI layout, `docker save`) from a path, `-i`
 * or stdin; `import` also makes an image of a root filesystem, as `docker
 * import` does. `run` pulls an image the store lacks, with the flags `pull`
 * takes (`--pull missing|always|never` says when).
 *
 * `run` has two faces. runc's is `run [-b DIR] ID` (runc's own tests call
 * `runc run ID` from inside the bundle); the front end's is `run IMAGE
 * [CMD...]`. routeRun() picks: OCI when `-b/--bundle` comes before the first
 * operand or ./config.json exists, the front end (the hidden `run-image`
 * command) otherwise. Likewise `ps` without a container id lists the front
 * end's containers, and `rm NAME` of a front-end container removes its
 * snapshot too (`container ls`, `container rm`).
 *
 * An unprivileged user's commands that write or mount image files run in
 * the front end's user namespace: a hook re-executes them there first
 * (rootless/userns.ts, docs/design/rootless.md).
 *
 * The book: docs/06-overlayfs.md and docs/09-writing-runtime.md, "A tiny Docker".
 */
import { Command, Option } from 'commander';
import { createWriteStream, existsSync, readFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RuntsError, wrap } from '../errors.ts';
import type { LinuxSeccomp } from '../oci/types.ts';
import type { ImageConfig } from '../image/archive.ts';
import type { PullOptions } from '../image/registry.ts';
import type { ImageStore, ImageRecord } from '../image/store.ts';
import { frontEndContainerFile, storeRoot } from '../image/location.ts';
import type { RuntimeContext } from '../runtime/create.ts';

// Loaded on use: tar parsing and the registry client cost start-up time
// that the OCI verbs, which engines call many times a second, must not pay.
const importing = () => import('../image/import.ts');
const pull = async (...a: Parameters<typeof import('../image/registry.ts').pull>) => (await import('../image/registry.ts')).pull(...a);
const saveImage = async (...a: Parameters<typeof import('../image/save.ts').saveImage>) => (await import('../image/save.ts')).saveImage(...a);
const commitContainer = async (...a: Parameters<typeof import('../image/commit.ts').commitContainer>) => (await import('../image/commit.ts')).commitContainer(...a);
const exporting = () => import('../image/export.ts');
// node:tty brings Node's stream and socket stack: only load and export ask it.
const isatty = async (fd: number) => (await import('node:tty')).isatty(fd);
import { formatTemplate, print, printFormatted, printJson } from './output.ts';

const collect = (v: string, all: string[]) => [...all, v];
const FORMAT_HELP = 'table, json, or a Go template per row: {{.ID}} {{.Status}}';
const storeOption = () => new Option('--store <dir>', 'image store (default: $RUNTS_STORE, else /var/lib/runts for root, $XDG_DATA_HOME/runts or ~/.local/share/runts for a user)');
// The image code (and node:crypto with it) loads only when a command needs it.
const imageStore = async (f: { store?: string }) => new (await import('../image/store.ts')).ImageStore(f.store);
const frontend = () => import('../frontend/run.ts');

const GLOBAL_WITH_VALUE = new Set(['--root', '--log', '--log-format']);
const RUN_WITH_VALUE = new Set(['--cap-add', '--cap-drop', '--security-opt', '-m', '--memory', '--cpus', '--pids-limit', '--env-file', '-b', '--bundle', '--pid-file', '--console-socket', '--preserve-fds', '--name', '-e', '--env', '-v', '--volume', '-w', '--workdir', '-u', '--user', '--hostname', '--store', '--network', '-p', '--publish', '--pull', '--creds', '--tls-verify']);

const PS_WITH_VALUE = new Set(['-f', '--format', '--store']);

/** The arguments that are neither flags nor a flag's value (`--flag=value` is one argument). */
const operands = (args: string[], withValue: Set<string>) => args.filter((a, i) => !a.startsWith('-') && !withValue.has(args[i - 1] ?? ''));

/** Where the verb is in `argv` (node, script, global options, verb): argv.length when there is none. */
export function verbIndex(argv: string[]): number {
  let i = 2;
  while (i < argv.length && argv[i]!.startsWith('-')) i += GLOBAL_WITH_VALUE.has(argv[i]!) ? 2 : 1;
  return i;
}

/** Rewrites `run IMAGE ...` to the front end's `run-image IMAGE ...`; see the header. */
export function routeRun(argv: string[], env: RouteEnv = hostRouteEnv()): string[] {
  const i = verbIndex(argv);
  const verb = argv[i];
  const rest = argv.slice(i + 1);
  const to = (...words: string[]) => [...argv.slice(0, i), ...words, ...rest];
  // `ps` with no container id: the front end's listing (`ps -a` as in Docker)
  if (verb === 'ps' && operands(rest, PS_WITH_VALUE).length === 0) return to('container', 'ls');
  // `rm NAME...` of front-end containers: their snapshots go too
  if ((verb === 'rm' || verb === 'delete') && rest.some((a) => !a.startsWith('-')) && rest.filter((a) => !a.startsWith('-')).every(env.isFrontEndContainer)) return to('container', 'rm');
  if (verb !== 'run' || env.cwdHasConfig) return argv;
  // no operand (`run -h`): runc's run, whose help names both faces
  if (operands(rest, RUN_WITH_VALUE).length === 0) return argv;
  for (let j = 0; j < rest.length && rest[j]!.startsWith('-'); j += RUN_WITH_VALUE.has(rest[j]!) ? 2 : 1) {
    const a = rest[j]!;
    if (a === '-b' || a === '--bundle' || a.startsWith('--bundle=') || /^-b./.test(a)) return argv;
  }
  return to('run-image');
}

export interface RouteEnv {
  /** ./config.json exists: `run ID` is runc's */
  cwdHasConfig: boolean;
  isFrontEndContainer: (name: string) => boolean;
}

function hostRouteEnv(): RouteEnv {
  return {
    cwdHasConfig: existsSync('config.json'),
    isFrontEndContainer: (name) => {
      try {
        return /^[\w.-]+$/.test(name) && existsSync(frontEndContainerFile(name));
      } catch {
        return false; // no store to look in (an unprivileged user without HOME): not the front end's
      }
    },
  };
}

/** `docker run --env-file`: KEY=value lines; blank lines and # comments skipped. */
function readEnvFile(file: string): string[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (err) { throw wrap(err, `--env-file ${file}`); }
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

function number(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new RuntsError('EINVAL', `${flag} ${v}: not a number`);
  return n;
}

/** `--security-opt`, as Docker spells it. */
function securityOpts(opts: string[]): { noNewPrivileges?: boolean; seccomp?: 'unconfined' | LinuxSeccomp } {
  const out: { noNewPrivileges?: boolean; seccomp?: 'unconfined' | LinuxSeccomp } = {};
  for (const o of opts) {
    const [key, value] = o.includes('=') ? [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)] : [o, undefined];
    if (key === 'no-new-privileges' && (value === undefined || value === 'true' || value === 'false')) out.noNewPrivileges = value !== 'false';
    else if (key === 'seccomp' && value === 'unconfined') out.seccomp = 'unconfined';
    else if (key === 'seccomp' && value) {
      try { out.seccomp = JSON.parse(readFileSync(value, 'utf8')) as LinuxSeccomp; } catch (err) { throw wrap(err, `--security-opt seccomp=${value}`); }
    } else throw new RuntsError('EINVAL', `--security-opt ${o}: expected no-new-privileges[=true|false], seccomp=unconfined or seccomp=<profile.json>`);
  }
  return out;
}

const short = (digest: string) => digest.slice(7, 19);

interface RegistryFlags { insecure?: boolean; tlsVerify?: string; creds?: string }

/** The flags of `pull`, and of `run` for the pull it may make. */
function addRegistryOptions(cmd: Command): Command {
  return cmd
    .option('--insecure', 'plain HTTP, whatever the registry (one on this machine needs no flag: HTTPS is tried first, then HTTP)')
    .addOption(new Option('--tls-verify <bool>', 'false: the same as --insecure; true: HTTPS only, even to a registry on this machine (podman\'s spelling)').choices(['true', 'false']))
    .option('--creds <user:password>', 'credentials for basic auth or the token service');
}

/** PullOptions from the flags; progress drawn on stderr unless `quiet`. */
async function pullOptions(f: RegistryFlags, quiet = false): Promise<PullOptions> {
  if (f.insecure && f.tlsVerify === 'true') throw new RuntsError('EINVAL', '--insecure with --tls-verify=true: choose one');
  const colon = f.creds?.indexOf(':') ?? -1;
  return {
    insecure: f.insecure || f.tlsVerify === 'false' ? true : f.tlsVerify === 'true' ? false : undefined,
    username: f.creds === undefined ? undefined : colon < 0 ? f.creds : f.creds.slice(0, colon),
    password: f.creds === undefined || colon < 0 ? undefined : f.creds.slice(colon + 1),
    progress: quiet ? undefined : (await import('../image/progress.ts')).renderProgress(process.stderr),
  };
}

/** What `load` reads: its operand, `-i FILE`, or stdin when that is no terminal (`runts load < x.tar`). */
async function loadSource(operand: string | undefined, input: string | undefined): Promise<string> {
  if (operand !== undefined && input !== undefined && operand !== input) throw new RuntsError('EINVAL', `load ${operand} -i ${input}: name the archive once`);
  const source = operand ?? input;
  if (source !== undefined) return source;
  if (await isatty(0)) throw new RuntsError('EINVAL', 'load: name the archive (load FILE or load -i FILE), or pipe it into stdin');
  return '-';
}

/** One line per image: the name it was given, else the names it has (an image already stored may have more). */
async function printLoaded(verb: string, images: ImageRecord[], name: string | undefined): Promise<void> {
  const given = name === undefined ? undefined : (await import('../image/store.ts')).normalizeName(name);
  for (const image of images) print(`${verb} image: ${given ?? (image.names.join(', ') || '<none>')} (${image.id})`);
}

function imageInfo(store: ImageStore, image: ImageRecord) {
  const config = store.readJson<ImageConfig>(image.id);
  return {
    Id: image.id,
    RepoTags: image.names.filter((n) => !n.includes('@')),
    RepoDigests: [...new Set(image.names.map((n) => `${n.includes('@') ? n.slice(0, n.indexOf('@')) : n.slice(0, n.lastIndexOf(':'))}@${image.manifest}`))],
    Digest: image.manifest,
    Created: config.created,
    Architecture: config.architecture,
    Os: config.os,
    Config: config.config ?? {},
    RootFS: { Type: 'layers', Layers: image.layers },
    Size: image.layers.reduce((n, l) => n + store.layerSize(l), 0),
    Stored: image.created,
  };
}

interface RunImageFlags {
  tty?: boolean; capAdd: string[]; capDrop: string[]; securityOpt: string[]; memory?: string; cpus?: string; pidsLimit?: string;
  rm?: boolean; detach?: boolean; name?: string; env: string[]; envFile: string[]; volume: string[];
  workdir?: string; user?: string; hostname?: string; readOnly?: boolean; store?: string; network?: string; publish: string[];
  pull: 'missing' | 'always' | 'never'; seccompRecord?: string;
}

/**
 * The commands that write image files or mount them: an unprivileged user
 * runs them inside the front end's user namespace (rootless/userns.ts).
 * The others only read what those wrote (records, logs) and run out here.
 */
const IN_USER_NAMESPACE = new Set(['run-image', 'pull', 'load', 'import', 'commit', 'export', 'save', 'rmi', 'prune', 'stop', 'container rm', 'container stop']);

const commandPath = (c: Command) => (c.parent?.parent ? `${c.parent.name()} ${c.name()}` : c.name());

export function registerImageCommands(program: Command, ctx: () => RuntimeContext): void {
  program.hook('preAction', async (_program, action) => {
    if (process.geteuid!() === 0 || !IN_USER_NAMESPACE.has(commandPath(action))) return;
    const [{ enterFrontEndNamespace }, { defaultStateRoot }] = await Promise.all([import('../rootless/userns.ts'), import('../rootless/detect.ts')]);
    const root = program.opts<{ root?: string }>().root;
    const store = storeRoot(action.opts<{ store?: string }>().store);
    enterFrontEndNamespace((program as unknown as { rawArgs: string[] }).rawArgs.slice(2), { stateRoot: resolve(root ?? defaultStateRoot()), store: resolve(store), rootGiven: root !== undefined });
  });

  program.command('load').description('load images from an OCI image layout or a docker save archive (a directory, or a tar: plain, gzip or zstd)')
    .argument('[source]', 'the archive (or -i FILE; with neither, stdin)')
    .option('-i, --input <file>', 'the archive (Docker\'s and podman\'s spelling); - is stdin')
    .option('--name <name>', 'name the image (default: the names the archive gives)').addOption(storeOption())
    .action(async (source: string | undefined, f: { input?: string; name?: string; store?: string }) => {
      await printLoaded('Loaded', await (await importing()).loadImages(await imageStore(f), await loadSource(source, f.input), f), f.name);
    });

  program.command('import')
    .description('make an image of a root filesystem (a tar such as `runts export` writes, plain, gzip or zstd; - for stdin; or a directory) with that tree as its one layer, as `docker import` does. '
      + 'An OCI image layout or docker save archive is imported as `load` does. `runts import RUNTS/dist/images/busybox/rootfs busybox` (RUNTS: where runts is installed) puts the built-in busybox image in the store')
    .argument('<source>', 'a tar file, - (stdin) or a directory').argument('[reference]', 'name it REPOSITORY[:TAG] (default: no name, only the id)')
    .option('-c, --change <instruction>', 'apply CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER or WORKDIR to the config (repeatable)', collect, [])
    .option('-m, --message <text>', 'a comment for the image\'s history')
    .option('--name <name>', 'the same as the reference operand').addOption(storeOption())
    .action(async (source: string, ref: string | undefined, f: { change: string[]; message?: string; name?: string; store?: string }) => {
      if (ref !== undefined && f.name !== undefined && ref !== f.name) throw new RuntsError('EINVAL', `import ${ref} --name ${f.name}: name the image once`);
      const name = ref ?? f.name;
      await printLoaded('Imported', await (await importing()).importImages(await imageStore(f), source, { ref: name, changes: f.change, message: f.message }), name);
    });

  addRegistryOptions(program.command('pull').description('pull an image from a registry (OCI Distribution API v2)').argument('<image>'))
    .option('-q, --quiet', 'print only the image id').addOption(storeOption())
    .action(async (ref: string, f: RegistryFlags & { quiet?: boolean; store?: string }) => {
      const image = await pull((await imageStore(f)), ref, await pullOptions(f, f.quiet));
      print(f.quiet ? image.id : `Pulled ${(await import('../image/store.ts')).normalizeName(ref)} (${image.id})`);
    });

  program.command('save').description('write an image as an OCI image layout (a directory, or a tar with -o x.tar)')
    .argument('<image>').requiredOption('-o, --output <path>', 'where to write it')
    .addOption(new Option('--format <format>', 'directory or tar (default: tar when the path ends in .tar)').choices(['dir', 'tar'])).addOption(storeOption())
    .action(async (ref: string, f: { output: string; format?: 'dir' | 'tar'; store?: string }) => saveImage((await imageStore(f)), ref, f.output, f));

  program.command('images').description('list the images in the store')
    .option('--format <format>', FORMAT_HELP, 'table')
    .option('-q, --quiet', 'print only the image ids').addOption(storeOption())
    .action(async (f: { format: string; quiet?: boolean; store?: string }) => {
      const store = (await imageStore(f));
      const all = store.images();
      if (f.quiet) return all.forEach((i) => print(short(i.id)));
      if (f.format === 'json') return print(JSON.stringify(all.map((i) => imageInfo(store, i))));
      // one row per name, with the fields `docker images --format` knows
      const rows = all.flatMap((i) => (i.names.length ? i.names : ['<none>:<none>']).map((n) => {
        const info = imageInfo(store, i);
        const at = n.lastIndexOf(':');
        return { ...info, Repository: n.slice(0, at), Tag: n.slice(at + 1), ID: short(i.id), CreatedAt: info.Created ?? '', Size: `${(info.Size / 1e6).toFixed(1)}MB` };
      }));
      printFormatted(f.format, rows, (r) => [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], ...r.map((x) => [x.Repository, x.Tag, x.ID, x.CreatedAt, x.Size])]);
    });

  program.command('inspect').description('print images or front-end containers as JSON, as Docker and podman do').argument('<name...>')
    .option('-f, --format <template>', 'a Go template per object: {{.State.Status}}, {{json .Config}}')
    .addOption(storeOption())
    .action(async (refs: string[], f: { format?: string; store?: string }) => {
      const store = (await imageStore(f));
      const { inspectContainer } = await import('../frontend/inspect.ts');
      const all = refs.map((ref) => {
        const image = store.find(ref);
        if (image) return imageInfo(store, image);
        if (existsSync(join(store.containerDir(ref), 'container.json'))) return inspectContainer(ctx(), store, ref);
        throw new RuntsError('ENOTFOUND', `no such image or container: ${ref}`);
      });
      if (!f.format) return printJson(all);
      for (const x of all) print(formatTemplate(f.format, x));
    });

  program.command('logs').description('print what a detached front-end container wrote').argument('<name>')
    .option('-f, --follow', 'keep printing what it writes until it exits')
    .option('-n, --tail <lines>', 'only the last lines (a number, or all)', 'all').addOption(storeOption())
    .action(async (name: string, f: { follow?: boolean; tail: string; store?: string }) => {
      if (f.tail !== 'all' && !/^\d+$/.test(f.tail)) throw new RuntsError('EINVAL', `--tail ${f.tail}: a number of lines, or all`);
      const tail = f.tail === 'all' ? undefined : Number(f.tail);
      const { containerLog, followLog, lastLines } = await frontend();
      if (f.follow) return followLog(ctx(), (await imageStore(f)), name, (chunk) => writeSync(1, chunk), { tail });
      const log = containerLog((await imageStore(f)), name);
      writeSync(1, tail === undefined ? log : lastLines(log, tail));
    });

  program.command('commit').description('make an image of a front-end container\'s changes: its upper layer on top of its image\'s layers')
    .argument('<container>').argument('[image]', 'name it IMAGE[:TAG] (default: no name, only the id)')
    .addOption(new Option('--pause [bool]', 'pause a running container while its changes are read').choices(['true', 'false']).preset('true').default('true'))
    .option('-m, --message <text>', 'a comment for the image\'s history')
    .option('-a, --author <name>', 'the author, such as "Jane <jane@example.com>"')
    .option('-c, --change <instruction>', 'apply CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER or WORKDIR to the config (repeatable)', collect, [])
    .addOption(storeOption())
    .action(async (name: string, ref: string | undefined, f: { pause: string; message?: string; author?: string; change: string[]; store?: string }) => {
      const image = await commitContainer(ctx(), (await imageStore(f)), name, { ref, message: f.message, author: f.author, changes: f.change, pause: f.pause !== 'false' });
      print(image.id);
    });

  program.command('export').description('write a front-end container\'s root filesystem as a tar')
    .argument('<container>').option('-o, --output <file>', 'write to a file (default: stdout, unless it is a terminal)').addOption(storeOption())
    .action(async (name: string, f: { output?: string; store?: string }) => {
      if (f.output) return (await exporting()).exportToFile((await imageStore(f)), name, f.output);
      if (await isatty(1)) throw new RuntsError('EINVAL', `export ${name}: refusing to write a tar to a terminal: use -o FILE or redirect stdout`);
      await (await exporting()).exportContainer((await imageStore(f)), name, createWriteStream('', { fd: 1, autoClose: false }));
    });

  program.command('rmi').description('remove images (a name, or the image with its last name) and free unused layers')
    .argument('<image...>').option('-f, --force', 'remove even if a container uses it').addOption(storeOption())
    .action(async (refs: string[], f: { force?: boolean; store?: string }) => {
      const store = (await imageStore(f));
      for (const ref of refs) {
        const { untagged, deleted } = store.removeImage(ref, f);
        untagged.forEach((n) => print(`Untagged: ${n}`));
        deleted.forEach((d) => print(`Deleted: ${d}`));
      }
    });

  program.command('prune').description('free layers and blobs no image uses').addOption(storeOption())
    .action(async (f: { store?: string }) => (await imageStore(f)).prune().forEach((d) => print(`Deleted: ${d}`)));

  addRegistryOptions(program.command('run-image', { hidden: true }).passThroughOptions())
    .description('run a command in a new container from an image (what `runts run IMAGE` means outside a bundle)')
    .argument('<image>').argument('[command...]', 'replaces the image\'s Cmd')
    .option('--rm', 'remove the container and its upper layer when it exits')
    .option('-d, --detach', 'run in the background and print the container name')
    .option('--name <name>', 'the container name')
    .option('-e, --env <KEY=value>', 'set an environment variable (repeatable)', collect, [])
    .option('--env-file <file>', 'read KEY=value lines from a file (repeatable)', collect, [])
    .option('-v, --volume <host:ctr[:ro]>', 'bind a host directory (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid (and group) to run as')
    .option('--hostname <name>', 'the container\'s hostname')
    .option('--read-only', 'mount the container\'s root read-only')
    .option('-t, --tty', 'give the container a terminal (foreground only)')
    .option('-i, --interactive', 'keep stdin open (a foreground container always shares runts\'s stdin)')
    .option('--cap-add <cap>', 'add a capability, or ALL (repeatable)', collect, [])
    .option('--cap-drop <cap>', 'drop a capability, or ALL (repeatable)', collect, [])
    .option('--security-opt <opt>', 'no-new-privileges[=false], seccomp=unconfined or seccomp=<profile.json> (repeatable)', collect, [])
    .option('--seccomp-record <file>', 'record the system calls of this run; write a seccomp profile allowing them to <file>')
    .option('-m, --memory <bytes>', 'memory limit: 512m, 1g')
    .option('--cpus <n>', 'CPU limit, as a number of CPUs: 1.5')
    .option('--pids-limit <n>', 'the most processes the container may have')
    .option('--network <mode>', 'bridge (root\'s default), pasta (an unprivileged user\'s default), none, host, container:NAME, cni:NAME (a CNI configuration list in $RUNTS_CNI_CONFIG_DIR, default /etc/cni/net.d) or a network made with `runts network create`')
    .option('-p, --publish <[hostip:]hostport:containerport[/proto]>', 'publish a container port on the host (repeatable)', collect, [])
    .addOption(new Option('--pull <when>', 'pull the image: when the store lacks it, every time, or never').choices(['missing', 'always', 'never']).default('missing'))
    .addOption(storeOption())
    .action(async (image: string, cmd: string[], f: RunImageFlags & RegistryFlags) => {
      const { name, exitCode } = await (await frontend()).runImage(ctx(), (await imageStore(f)), {
        image, cmd, name: f.name, env: [...f.envFile.flatMap(readEnvFile), ...f.env], volumes: f.volume, workdir: f.workdir, user: f.user,
        hostname: f.hostname, readOnly: f.readOnly, rm: f.rm, detach: f.detach, tty: f.tty, network: f.network, publish: f.publish,
        pull: f.pull, registry: await pullOptions(f), seccompRecord: f.seccompRecord,
        capAdd: f.capAdd, capDrop: f.capDrop, ...securityOpts(f.securityOpt),
        memory: f.memory === undefined ? undefined : (await import('../frontend/spec.ts')).parseBytes('--memory', f.memory),
        cpus: f.cpus === undefined ? undefined : number('--cpus', f.cpus),
        pidsLimit: f.pidsLimit === undefined ? undefined : number('--pids-limit', f.pidsLimit),
      });
      if (f.detach) print(name);
      process.exitCode = exitCode;
    });

  program.command('stop').description('stop a front-end container: SIGTERM, then SIGKILL after the grace period')
    .argument('<name...>').option('-t, --time <seconds>', 'grace period', '10').addOption(storeOption())
    .action(async (names: string[], f: { time: string; store?: string }) => {
      for (const n of names) { await (await frontend()).stopContainer(ctx(), (await imageStore(f)), n, Number(f.time)); print(n); }
    });

  program.command('wait').description('wait until front-end containers exit, and print each one\'s exit code (128+N: killed by signal N)')
    .argument('<name...>').addOption(storeOption())
    .action(async (names: string[], f: { store?: string }) => {
      for (const n of names) print(String(await (await frontend()).waitContainer(ctx(), (await imageStore(f)), n)));
    });

  const container = program.command('container').description('front-end containers (made by `runts run IMAGE`)');
  container.command('ls').alias('ps').description('list front-end containers').option('-a, --all', 'include exited ones')
    .option('--format <format>', FORMAT_HELP, 'table').addOption(storeOption())
    .option('-q, --quiet', 'print only the names')
    .action(async (f: { all?: boolean; format: string; quiet?: boolean; store?: string }) => {
      const { listContainers, isOver } = await frontend();
      const all = listContainers(ctx(), (await imageStore(f))).filter((c) => f.all || !isOver(c.status));
      if (f.quiet) return all.forEach((c) => print(c.name));
      if (f.format === 'json') return print(JSON.stringify(all));
      // with the fields `docker ps --format` knows
      const rows = all.map((c) => ({ ...c, ID: c.name, Names: c.name, Image: c.imageName, Command: c.command.join(' '), CreatedAt: c.created, Status: c.exitCode === undefined ? c.status : `${c.status} (${c.exitCode})` }));
      printFormatted(f.format, rows, (r) => [['NAME', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS'], ...r.map((c) => [c.Names, c.Image, c.Command, c.CreatedAt, c.Status])]);
    });
  container.command('rm').description('remove front-end containers and their upper layers').argument('<name...>')
    .option('-f, --force', 'kill a running container first').addOption(storeOption())
    .action(async (names: string[], f: { force?: boolean; store?: string }) => {
      for (const n of names) { await (await frontend()).removeContainer(ctx(), (await imageStore(f)), n, f); print(n); }
    });
  container.command('stop').description('same as `runts stop`').argument('<name...>').option('-t, --time <seconds>', 'grace period', '10').addOption(storeOption())
    .action(async (names: string[], f: { time: string; store?: string }) => {
      for (const n of names) { await (await frontend()).stopContainer(ctx(), (await imageStore(f)), n, Number(f.time)); print(n); }
    });
  container.command('check').description('run CNI CHECK on containers of --network cni:NAME: fails if a plugin finds their network changed')
    .argument('<name...>').addOption(storeOption())
    .action(async (names: string[], f: { store?: string }) => {
      const { checkNetwork } = await import('../network/container.ts');
      const store = await imageStore(f);
      for (const n of names) {
        (await frontend()).info(store, n);
        print(checkNetwork(store.containerDir(n), n) ? `${n}: ok` : `${n}: CHECK disabled by the network's configuration`);
      }
    });
}
