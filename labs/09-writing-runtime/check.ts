/*
 * check.ts - does your tiny do what level N asks? Run through ./check:
 *
 *   check N [DIR]      tiny in DIR (tiny.ts and a built tiny-exec; default .)
 *   check N --runts    the same tests against runts, for comparison
 *
 * It makes a fresh test bundle (mkbundle.sh), runs the project's probe
 * (test/probe/probe.c) in a container made by tiny, and compares what the
 * probe reports, and what the host sees of the container, with what each
 * level up to N must achieve. It stops at the first level that falls short
 * and says, in words, what is missing. Exit status 0: level N passes.
 *
 * Containers From Scratch, chapter 9 (docs/09-writing-runtime.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

const here = import.meta.dirname;
const repo = resolve(here, '../..');

// ---- what the probe prints (test/lib/probe.ts has the whole type) ----------
interface Mount { mountPoint: string; fsType: string; options: string; optional: string[]; root: string }
interface Report {
  pid: number; uid: number; gid: number; groups: number[]; cwd: string | null; hostname: string;
  env: string[]; argv: string[]; noNewPrivs: number | null; seccomp: number | null;
  caps: Record<'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb', string | null>;
  ns: Record<string, string | null>; mounts: Mount[] | null; mountsError?: string; cgroup: string | null;
}

// ---- the runtime under test -------------------------------------------------
const args = process.argv.slice(2);
const level = Number(args[0]);
if (!(level >= 1 && level <= 7)) {
  console.error('usage: check N [DIR | --runts]   (N = 1..7)');
  process.exit(2);
}
const useRunts = args[1] === '--runts';
const tinyDir = resolve(useRunts ? '.' : args[1] ?? '.');
const name = useRunts ? 'runts' : 'tiny';
const runtime = useRunts ? ['runts'] : [process.execPath, join(tinyDir, 'tiny.ts')];
if (!useRunts && !(existsSync(join(tinyDir, 'tiny.ts')) && existsSync(join(tinyDir, 'tiny-exec')))) {
  console.error(`check: no tiny.ts and tiny-exec in ${tinyDir} (build it with make)`);
  process.exit(2);
}

// ---- the bundle -----------------------------------------------------------
const scratch = mkdtempSync('/tmp/c09-check-');
const bundle = join(scratch, 'bundle');
const mk = spawnSync(join(here, 'mkbundle.sh'), [bundle], { encoding: 'utf8' });
if (mk.status !== 0) {
  console.error(`check: mkbundle.sh failed: ${mk.stderr}`);
  process.exit(2);
}
const base = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));

let serial = 0;
const used: string[] = [];
/* A fresh container id for each run: c09-chk1, c09-chk2, ... */
function newId(): string {
  const id = `c09-chk${++serial}`;
  used.push(id);
  return id;
}
function configure(processArgs: string[]) {
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ...base, process: { ...base.process, args: processArgs } }, null, 2));
}

interface Ran { code: number | null; signal: string | null; stdout: string; stderr: string }

/* Runs the runtime with a verb; resolves when it exits (or is killed after ms). */
function invoke(verb: string[], opts: { ms?: number; onStdout?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Ran> {
  return new Promise((done) => {
    const child = spawn(runtime[0]!, [...runtime.slice(1), ...verb], { cwd: bundle, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
      opts.onStdout?.(stdout, child);
    });
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.ms ?? 20000);
    let grace: ReturnType<typeof setTimeout> | undefined;
    const finish = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      clearTimeout(grace);
      done({ code, signal, stdout, stderr });
    };
    // a container left running by a runtime that died holds its stdout open:
    // once the runtime has exited, wait a second for its output, not longer
    child.on('exit', (code, signal) => (grace = setTimeout(() => finish(code, signal), 1000)));
    child.on('close', (code, signal) => finish(code, signal));
    child.on('error', (e) => done({ code: 127, signal: null, stdout, stderr: String(e) }));
  });
}

const runVerb = (id: string, extra: string[] = []) => ['run', ...extra, '--bundle', bundle, id];

async function runProbe(processArgs: string[], extra: string[] = []): Promise<Ran & { id: string }> {
  configure(processArgs);
  const id = newId();
  return { id, ...(await invoke(runVerb(id, extra))) };
}

function firstLine(s: string) {
  return s.trim().split('\n')[0] ?? '';
}

function json<T>(r: Ran, what: string): T {
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
  } catch {
    throw new Failure(`${what}: ${name} exited ${r.code ?? r.signal}${r.stderr ? `: ${firstLine(r.stderr)}` : ''}${r.stdout ? ` (output: ${firstLine(r.stdout)})` : ''}`);
  }
}

class Failure extends Error {}
const fail = (msg: string): never => {
  throw new Failure(msg);
};

// ---- what the host sees ---------------------------------------------------
/* Host pids of processes whose command line is exactly argv. */
function pidsOf(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      return readFileSync(`/proc/${d}/cmdline`, 'latin1') === want;
    } catch {
      return false;
    }
  }).map(Number);
}

async function waitFor<T>(what: () => T | undefined, ms: number): Promise<T | undefined> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const v = what();
    if (v !== undefined) return v;
  }
  return what();
}

function readOr(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

const nsOf = (pid: number | 'self', kind: string) => {
  try {
    return spawnSync('readlink', [`/proc/${pid}/ns/${kind}`], { encoding: 'utf8' }).stdout.trim();
  } catch {
    return '';
  }
};

const cgroupV2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
/* A process's cgroup for a controller, as the host sees it: "/tiny/c09-chk3". */
function cgroupOf(text: string | null, controller: string): string | undefined {
  for (const line of (text ?? '').split('\n')) {
    const [, ctrls, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    if (cgroupV2 ? ctrls === '' : ctrls!.split(',').includes(controller)) return path;
  }
  return undefined;
}
const cgroupDir = (controller: string, path: string) => (cgroupV2 ? `/sys/fs/cgroup${path}` : `/sys/fs/cgroup/${controller}${path}`);

// ---- the levels -------------------------------------------------------------
type Check = [string, () => void | Promise<void>];
const levels: { title: string; checks: () => Promise<Check[]> }[] = [];
let report: Report;

levels[1] = {
  title: 'clone into new namespaces',
  checks: async () => {
    const r = await runProbe(base.process.args);
    return [
      ['the container runs, and the probe in it reports', () => {
        report = json<Report>(r, `${name} run`);
      }],
      ['the probe is pid 1 of a new pid namespace', () => {
        if (report.pid !== 1) fail(`the probe is pid ${report.pid}, not 1: clone with CLONE_NEWPID`);
      }],
      [`its hostname is "${base.hostname}"`, () => {
        if (report.hostname === hostname()) fail(`hostname is still the host's ("${report.hostname}"): did you unshare CLONE_NEWUTS before sethostname?`);
        if (report.hostname !== base.hostname) fail(`hostname is "${report.hostname}", expected "${base.hostname}": call sethostname in the child`);
      }],
      ['its arguments, environment and working directory are config.json\'s', () => {
        if (JSON.stringify(report.argv) !== JSON.stringify(base.process.args)) fail(`argv is ${JSON.stringify(report.argv)}, expected ${JSON.stringify(base.process.args)}`);
        const env = [...report.env].sort().join('\n');
        if (env !== [...base.process.env].sort().join('\n')) fail(`the environment is ${JSON.stringify(report.env)}, expected exactly ${JSON.stringify(base.process.env)}: exec with config.json's env, nothing of the caller's`);
        if (report.cwd !== base.process.cwd) fail(`the working directory is ${report.cwd}, expected ${base.process.cwd}: chdir after the root is in place`);
      }],
      [`${name} run exits with the container's exit status`, async () => {
        const e = await runProbe(['/probe', 'exit', '7']);
        if (e.code !== 7) fail(`the container exited 7, ${name} run exited ${e.code ?? e.signal}: wait for the child and exit with its status (WEXITSTATUS)`);
      }],
    ];
  },
};

levels[2] = {
  title: 'a root filesystem of its own',
  checks: async () => [
    ['/proc is mounted in the container', () => {
      if (!report.mounts) fail(`the probe cannot read /proc/self/mountinfo (${report.mountsError}): mount a fresh proc on /proc in the new root`);
    }],
    ['every namespace in config.json is new', () => {
      const kinds: Record<string, string> = { pid: 'pid', mount: 'mnt', uts: 'uts', ipc: 'ipc', network: 'net', cgroup: 'cgroup' };
      for (const { type } of base.linux.namespaces) {
        const k = kinds[type]!;
        if (!report.ns[k]) fail(`the probe cannot read /proc/self/ns/${k}`);
        if (report.ns[k] === nsOf('self', k)) fail(`the container shares the host's ${type} namespace (${report.ns[k]}): add its CLONE_NEW* flag to clone`);
      }
    }],
    ['only its own mounts are visible: the old root is gone', () => {
      const allowed = new Set(['/', ...base.mounts.map((m: { destination: string }) => m.destination)]);
      const extra = report.mounts!.filter((m) => !allowed.has(m.mountPoint));
      if (extra.length) fail(`${extra.length} mounts that config.json did not ask for are visible, e.g. ${extra[0]!.mountPoint}: after pivot_root(".", "."), detach the old root with umount2(".", MNT_DETACH)`);
      if (!report.mounts!.some((m) => m.mountPoint === '/')) fail('no mount at "/": bind the rootfs onto itself and pivot_root into it');
    }],
    ['the root does not propagate mounts to the host', () => {
      const root = report.mounts!.find((m) => m.mountPoint === '/')!;
      const shared = root.optional.find((o) => o.startsWith('shared:'));
      if (shared) fail(`the root mount is ${shared}, in a peer group with the host's: make / private (MS_REC | MS_PRIVATE) before the first mount`);
    }],
    ['config.json\'s mounts are there, with their types and options', () => {
      for (const m of base.mounts) {
        const at = report.mounts!.filter((x) => x.mountPoint === m.destination).pop();
        if (!at) fail(`nothing is mounted on ${m.destination}: mount ${m.type} there (create the directory if it is missing)`);
        if (m.type !== 'bind' && at!.fsType !== m.type) fail(`${m.destination} is ${at!.fsType}, expected ${m.type}`);
        if ((m.options ?? []).includes('ro') && !at!.options.split(',').includes('ro')) fail(`${m.destination} is mounted ${at!.options}, not read-only: a bind mount ignores MS_RDONLY; remount it (MS_REMOUNT | MS_BIND | MS_RDONLY)`);
      }
    }],
    ['the bind mount shows the host\'s directory', async () => {
      const r = json<{ read?: string; error?: string }>(await runProbe(['/probe', 'read', '/data/hello']), 'probe read /data/hello');
      if (r.read !== 'hello from the host\n') fail(`/data/hello in the container: ${r.error ?? JSON.stringify(r.read)}: bind the bundle's data/ there`);
    }],
    ['/dev has the standard devices', async () => {
      const devices: Record<string, [number, number]> = { '/dev/null': [1, 3], '/dev/zero': [1, 5], '/dev/full': [1, 7], '/dev/random': [1, 8], '/dev/urandom': [1, 9], '/dev/tty': [5, 0] };
      const r = json<{ stat: Record<string, { type?: string; major?: number; minor?: number; mode?: number; error?: string }> }>(
        await runProbe(['/probe', 'stat', ...Object.keys(devices)]), 'probe stat /dev/...');
      for (const [path, [maj, min]] of Object.entries(devices)) {
        const s = r.stat[path]!;
        if (s.error) fail(`${path} is missing (${s.error}): make the device nodes with mknod after mounting /dev`);
        if (s.type !== 'char' || s.major !== maj || s.minor !== min) fail(`${path} is a ${s.type} ${s.major}:${s.minor}, expected the character device ${maj}:${min}`);
        if (s.mode !== 0o666) fail(`${path} has mode ${s.mode!.toString(8)}, expected 666: chmod after mknod (the umask took bits away)`);
      }
    }],
  ],
};

levels[3] = {
  title: 'a cgroup with limits',
  checks: async () => {
    configure(['/probe', 'sleep', '31']);
    const id = newId();
    let pid: number | undefined;
    const ran = invoke(runVerb(id), { ms: 15000, onStdout: (out) => {
      if (out.includes('sleeping') && pid === undefined) pid = pidsOf(['/probe', 'sleep', '31'])[0] ?? 0;
    } });
    await waitFor(() => pid, 10000);
    const hostText = pid ? readOr(`/proc/${pid}/cgroup`) : null;
    const mine = readOr('/proc/self/cgroup');
    // the limits, read while the container runs
    const where: Record<string, string> = {};
    for (const c of ['memory', 'pids']) where[c] = cgroupOf(hostText, c) ?? '';
    const memoryFile = cgroupV2 ? 'memory.max' : 'memory.limit_in_bytes';
    const memory = readOr(join(cgroupDir('memory', where.memory!), memoryFile))?.trim();
    const pids = readOr(join(cgroupDir('pids', where.pids!), 'pids.max'))?.trim();
    if (pid) process.kill(pid, 'SIGTERM');
    const done = await ran;
    return [
      ['the container runs under the host\'s eyes', () => {
        if (!pid || !hostText) fail(`the probe did not start or could not be found: ${name} exited ${done.code ?? done.signal} ${firstLine(done.stderr)}`);
      }],
      ['it has a cgroup of its own, for memory and pids', () => {
        for (const c of ['memory', 'pids']) {
          if (!where[c]) fail(`no ${c} line in /proc/${pid}/cgroup`);
          if (where[c] === cgroupOf(mine, c)) fail(`the container is still in the cgroup of the runtime that started it: between clone and go, make a cgroup and write the child's pid to its cgroup.procs`);
        }
      }],
      ['its memory limit is 64 MiB', () => {
        if (memory !== String(base.linux.resources.memory.limit)) fail(`${memoryFile} of the container's cgroup is ${memory}, expected ${base.linux.resources.memory.limit}: write the limit before the container starts`);
      }],
      ['its pids limit is 32', () => {
        if (pids !== String(base.linux.resources.pids.limit)) fail(`pids.max of the container's cgroup is ${pids}, expected ${base.linux.resources.pids.limit}`);
      }],
      ['it sees its own cgroup as the root, /', () => {
        for (const c of ['memory', 'pids']) {
          const seen = cgroupOf(report.cgroup, c);
          if (seen !== '/') fail(`the container sees its cgroup as ${seen}: unshare(CLONE_NEWCGROUP) after the move into its cgroup, not in clone`);
        }
      }],
      ['the cgroup is removed when the container is gone', () => {
        for (const c of ['memory', 'pids']) {
          if (existsSync(cgroupDir(c, where[c]!))) fail(`${cgroupDir(c, where[c]!)} is still there after the container exited: remove it (rmdir) when the container is gone`);
        }
      }],
    ];
  },
};

levels[4] = {
  title: 'a network: a veth pair',
  checks: async () => {
    if (useRunts) return [['(runts networks containers in its front end, `runts run IMAGE`: skipped)', () => {}]];
    configure(['/probe', 'udp-echo', '7777']);
    const id = newId();
    let listening = false;
    const ran = invoke(runVerb(id), { ms: 15000, onStdout: (out) => {
      listening ||= out.includes('listening');
    } });
    await waitFor(() => listening || undefined, 10000);
    const [hostAddr, ctrAddr] = base.annotations['tiny.network'].split(' ');
    const answer = listening ? await udpAsk(ctrAddr.split('/')[0], 7777, 'ping') : 'the probe did not start';
    const hostSide = spawnSync('ip', ['-brief', 'addr', 'show', 'dev', `tiny-${id}`], { encoding: 'utf8' }).stdout;
    for (const p of pidsOf(['/probe', 'udp-echo', '7777'])) process.kill(p, 'SIGKILL');
    await ran;
    // the kernel frees a dead namespace, and the veth in it, a moment later (a work queue)
    const linkGone = () => spawnSync('ip', ['link', 'show', `tiny-${id}`], { stdio: 'ignore' }).status !== 0 || undefined;
    const gone = await waitFor(linkGone, 5000);
    return [
      [`the container answers on ${ctrAddr.split('/')[0]}, through a veth pair`, () => {
        if (answer !== 'echo:ping') fail(`no answer from ${ctrAddr} in the container (${answer}): between clone and go, add a veth pair with eth0 in the child's network namespace, ${ctrAddr} on eth0, ${hostAddr} on the host's end, both ends up`);
      }],
      [`the host's end is tiny-${id}, with ${hostAddr}`, () => {
        if (!hostSide.includes(hostAddr)) fail(`the host has no interface tiny-${id} with ${hostAddr}`);
      }],
      ['the veth pair goes with the container', () => {
        if (!gone) fail(`tiny-${id} is still there after the container exited`);
      }],
    ];
  },
};

function udpAsk(addr: string, port: number, text: string): Promise<string> {
  return new Promise((done) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      done('no answer in 2 s');
    }, 2000);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      done(m.toString());
    });
    s.on('error', (e) => {
      clearTimeout(t);
      s.close();
      done(e.message);
    });
    s.send(text, port, addr);
  });
}

const CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE'];
const capHex = (names: string[]) => names.reduce((m, n) => m | (1n << BigInt(CAPS.indexOf(n))), 0n).toString(16).padStart(16, '0');

levels[5] = {
  title: 'privileges: user, capabilities, no_new_privs, seccomp',
  checks: async () => {
    const u = base.process.user;
    const c = base.process.capabilities;
    return [
      [`it runs as uid ${u.uid}, gid ${u.gid}, groups ${u.additionalGids}`, () => {
        if (report.uid !== u.uid || report.gid !== u.gid) fail(`the probe runs as uid ${report.uid} gid ${report.gid}, expected ${u.uid} and ${u.gid}: setresgid, then setresuid, before exec`);
        if (report.groups.join() !== u.additionalGids.join()) fail(`its supplementary groups are [${report.groups}], expected [${u.additionalGids}]: setgroups before setresgid`);
      }],
      ['its bounding set is config.json\'s', () => {
        if (report.caps.CapBnd !== capHex(c.bounding)) fail(`CapBnd is ${report.caps.CapBnd}, expected ${capHex(c.bounding)} (${c.bounding.join(' ')}): drop every other capability with prctl(PR_CAPBSET_DROP)`);
      }],
      ['it keeps the capabilities it should, across exec', () => {
        for (const set of ['CapEff', 'CapPrm', 'CapInh', 'CapAmb'] as const) {
          if (report.caps[set] !== capHex(c.effective)) fail(`${set} is ${report.caps[set]}, expected ${capHex(c.effective)} (${c.effective.join(' ')}): keep capabilities across setresuid (PR_SET_KEEPCAPS), capset them, and raise them as ambient, or exec as uid ${u.uid} drops them`);
        }
      }],
      ['no_new_privs is set', () => {
        if (report.noNewPrivs !== 1) fail('NoNewPrivs is 0: prctl(PR_SET_NO_NEW_PRIVS, 1) before exec');
      }],
      ['a seccomp filter is in place, and it denies mkdir', async () => {
        if (report.seccomp !== 2) fail(`Seccomp is ${report.seccomp}, expected 2 (a filter): load it with seccomp(SECCOMP_SET_MODE_FILTER), last before exec`);
        const r = await runProbe(['/bin/sh', '-c', 'mkdir /tmp/c09-denied && echo made it']);
        if (!r.stderr.includes('Operation not permitted')) fail(`mkdir in the container: ${firstLine(r.stdout + r.stderr)}: the filter must return EPERM for mkdir and mkdirat`);
      }],
    ];
  },
};

levels[6] = {
  title: 'create, start, state, delete',
  checks: async () => {
    const id = newId();
    const out = join(scratch, `${id}.out`);
    configure(['/probe']);
    const verb = async (...v: string[]) => invoke([...v]);
    const state = async (cid: string) => {
      const r = await verb('state', cid);
      return r.code === 0 ? JSON.parse(r.stdout) as { status: string; pid: number } : fail(`${name} state ${cid} exited ${r.code}: ${firstLine(r.stderr)}`);
    };
    return [
      [`${name} create: the process waits, the probe has not run`, async () => {
        // the container's output goes where create's goes: a file here
        const r = spawnSync('sh', ['-c', `exec "$@" > ${out} 2>&1`, 'sh', ...runtime, 'create', '--bundle', bundle, id], { encoding: 'utf8', timeout: 20000 });
        if (r.status !== 0) fail(`${name} create exited ${r.status}: ${firstLine(readOr(out) ?? '')}`);
        const s = await state(id);
        if (s.status !== 'created') fail(`${name} state says "${s.status}" after create, expected "created"`);
        if (!existsSync(`/proc/${s.pid}`)) fail(`the pid in the state, ${s.pid}, is not a process`);
        if (nsOf(s.pid, 'pid') === nsOf('self', 'pid')) fail(`pid ${s.pid} is not in a new pid namespace: is it the container's process?`);
        if (readOr(out)) fail(`the probe ran before start: ${firstLine(readOr(out)!)}`);
      }],
      [`${name} start: the probe runs`, async () => {
        const r = await verb('start', id);
        if (r.code !== 0) fail(`${name} start exited ${r.code}: ${firstLine(r.stderr)}`);
        const got = await waitFor(() => (readOr(out)?.includes('"pid"') ? true : undefined), 5000);
        if (!got) fail('the probe did not run after start: write a byte to the exec fifo the process waits on');
        let s = await state(id);
        for (let i = 0; i < 40 && s.status !== 'stopped'; i++) {
          await new Promise((r) => setTimeout(r, 50));
          s = await state(id);
        }
        if (s.status !== 'stopped') fail(`${name} state says "${s.status}" after the probe exited, expected "stopped"`);
      }],
      [`a second ${name} start fails`, async () => {
        const r = await verb('start', id);
        if (r.code === 0) fail(`${name} start succeeded twice: start must refuse a container that is not "created"`);
      }],
      [`${name} delete removes the container`, async () => {
        const r = await verb('delete', id);
        if (r.code !== 0) fail(`${name} delete exited ${r.code}: ${firstLine(r.stderr)}`);
        if ((await verb('state', id)).code === 0) fail(`${name} state ${id} still succeeds after delete`);
      }],
      [`${name} kill signals the container`, async () => {
        const kid = newId();
        configure(['/probe', 'sleep', '32']);
        const kout = join(scratch, `${kid}.out`);
        const r = spawnSync('sh', ['-c', `exec "$@" > ${kout} 2>&1`, 'sh', ...runtime, 'create', '--bundle', bundle, kid], { encoding: 'utf8', timeout: 20000 });
        if (r.status !== 0) fail(`${name} create exited ${r.status}: ${firstLine(readOr(kout) ?? '')}`);
        await verb('start', kid);
        await waitFor(() => (readOr(kout)?.includes('sleeping') ? true : undefined), 5000);
        if ((await state(kid)).status !== 'running') fail(`${name} state says "${(await state(kid)).status}" while the probe sleeps, expected "running"`);
        const k = await verb('kill', kid, 'TERM');
        if (k.code !== 0) fail(`${name} kill exited ${k.code}: ${firstLine(k.stderr)}`);
        const got = await waitFor(() => (readOr(kout)?.includes('"signal":15') ? true : undefined), 5000);
        await verb('delete', '--force', kid);
        if (!got) fail('the probe did not get SIGTERM');
      }],
      [`the pid in the state is checked by its start time`, async () => {
        if (useRunts) return; // runts does check it too, in src/runtime/process.ts
        const kid = newId();
        configure(['/probe']);
        const r = spawnSync(runtime[0]!, [...runtime.slice(1), 'create', '--bundle', bundle, kid], { stdio: 'ignore', timeout: 20000 });
        if (r.status !== 0) fail(`${name} create exited ${r.status}`);
        const s = await state(kid);
        process.kill(s.pid, 'SIGKILL');
        // an unrelated process that happens to get the same pid number
        const other = spawn('sleep', ['30'], { stdio: 'ignore' });
        const file = `/run/tiny/${kid}/state.json`;
        const saved = JSON.parse(readFileSync(file, 'utf8'));
        writeFileSync(file, JSON.stringify({ ...saved, pid: other.pid }));
        const after = await state(kid);
        const k = await verb('kill', kid, 'KILL');
        const alive = other.exitCode === null && other.signalCode === null && existsSync(`/proc/${other.pid}`);
        other.kill('SIGKILL');
        await verb('delete', '--force', kid);
        if (after.status !== 'stopped') fail(`with the pid reused by another process, ${name} state says "${after.status}": compare the process's start time (/proc/PID/stat, field 22) with the one saved at create`);
        if (k.code === 0 || !alive) fail(`${name} kill signalled a process that is not the container's: check the start time before kill`);
      }],
    ];
  },
};

levels[7] = {
  title: 'PID 1: signals and zombies',
  checks: async () => {
    configure(['/probe', 'sleep', '33']);
    const id = newId();
    let sent = false;
    const r = await invoke(runVerb(id), { ms: 10000, onStdout: (out, child) => {
      if (out.includes('sleeping') && !sent) {
        sent = true;
        spawnSync('sleep', ['0.2']);
        child.kill('SIGTERM');
      }
    } });
    for (const p of pidsOf(['/probe', 'sleep', '33'])) process.kill(p, 'SIGKILL');
    const checks: Check[] = [
      [`SIGTERM to ${name} run reaches the container`, () => {
        if (!r.stdout.includes('"signal":15')) fail(`${name} run ended (${r.code ?? r.signal}) and the container never got SIGTERM: forward the signals ${name} run receives to the container (tiny.ts to tiny-exec, tiny-exec to the child)`);
        if (r.code !== 0) fail(`the container exited 0, ${name} run exited ${r.code ?? r.signal}`);
      }],
    ];
    if (useRunts) return checks;
    // the orphan sleeps a second: long enough to outlive the shell's exec,
    // so that it is the probe's (or the init's) to reap, not the shell's
    configure(['/bin/sh', '-c', '(sleep 1 &); exec /probe sleep 34']);
    const iid = newId();
    let zombies: string[] | undefined;
    let pid2: string | undefined;
    const ri = await invoke(runVerb(iid, ['--init']), { ms: 10000, onStdout: (out, child) => {
      if (!out.includes('sleeping') || zombies) return;
      zombies = [];
      const pid = pidsOf(['/probe', 'sleep', '34'])[0];
      if (pid) {
        pid2 = /NSpid:.*\s(\d+)\n/.exec(readOr(`/proc/${pid}/status`) ?? '')?.[1];
        // the orphan, once it has exited, must not stay a zombie: look for
        // one that is still there after a second
        const ns = nsOf(pid, 'pid');
        const zombiesNow = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((p) => {
          const stat = readOr(`/proc/${p}/stat`);
          return stat && / Z /.test(stat) && nsOf(Number(p), 'pid') === ns;
        });
        const sleeping = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).some((p) => {
          const stat = readOr(`/proc/${p}/stat`);
          return stat?.includes('(sleep) S') && nsOf(Number(p), 'pid') === ns;
        });
        for (let i = 0; i < 50 && sleeping(); i++) spawnSync('sleep', ['0.1']);
        const first = zombiesNow();
        spawnSync('sleep', ['1']);
        const still = zombiesNow().filter((p) => first.includes(p));
        for (const p of still) zombies.push(/\((.*)\)/.exec(readOr(`/proc/${p}/stat`) ?? '(?)')![1]!);
      }
      child.kill('SIGTERM');
    } });
    for (const p of pidsOf(['/probe', 'sleep', '34'])) process.kill(p, 'SIGKILL');
    checks.push(
      [`${name} run --init: the command is pid 2, under tiny's init`, () => {
        if (ri.code === 2 || /usage|unknown/i.test(ri.stderr)) fail(`${name} run --init: ${firstLine(ri.stderr) || `exited ${ri.code}`}: add an --init option`);
        if (pid2 !== '2') fail(`the command is pid ${pid2} in the container, expected 2: with --init, fork, exec the command in the child, stay pid 1 in the parent`);
      }],
      ['the init reaps orphans: no zombies', () => {
        if (zombies?.length) fail(`zombies in the container: ${zombies.join(' ')}: tiny's init must reap every child (waitpid(-1, ...)), not only the command`);
      }],
      ['the init forwards SIGTERM to the command and exits with its status', () => {
        if (!ri.stdout.includes('"signal":15')) fail('the command never got SIGTERM: the init must forward the signals it receives');
        if (ri.code !== 0) fail(`the command exited 0, ${name} run --init exited ${ri.code ?? ri.signal}`);
      }],
    );
    return checks;
  },
};

// ---- run them --------------------------------------------------------------
let ok = true;
try {
  for (let n = 1; n <= level && ok; n++) {
    // levels below N in one line each when they pass; level N, or the one that fails, in full
    const lines: string[] = [];
    let checks: Check[];
    try {
      checks = await levels[n]!.checks();
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      checks = [['the container runs', () => fail(e.message)]];
    }
    for (const [what, test] of checks) {
      try {
        await test();
        lines.push(`  ok    ${what}`);
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        lines.push(`  FAIL  ${what}\n        ${e.message}`);
        ok = false;
        break;
      }
    }
    if (ok && n < level) console.log(`level ${n}: ${levels[n]!.title}: ${lines.length} check${lines.length > 1 ? 's' : ''} ok`);
    else console.log([`level ${n}: ${levels[n]!.title}`, ...lines].join('\n'));
  }
  console.log(ok ? `${name} passes level ${level}` : `${name} does not pass level ${level} yet`);
} finally {
  cleanUp();
}
process.exitCode = ok ? 0 : 1;

/* Whatever a failing runtime left behind: processes, state, cgroups. */
function cleanUp() {
  for (const argv of [['/probe', 'sleep', '31'], ['/probe', 'sleep', '32'], ['/probe', 'sleep', '33'], ['/probe', 'sleep', '34'], ['/probe', 'udp-echo', '7777'], ['/probe']]) {
    for (const p of pidsOf(argv)) if (nsOf(p, 'pid') !== nsOf('self', 'pid')) process.kill(p, 'SIGKILL');
  }
  spawnSync('sleep', ['0.2']);
  for (const id of used) {
    if (useRunts) spawnSync('runts', ['delete', '--force', id], { stdio: 'ignore' });
    rmSync(`/run/tiny/${id}`, { recursive: true, force: true });
    for (const c of cgroupV2 ? [''] : ['memory', 'pids']) {
      for (const parent of ['tiny', 'runts']) {
        const d = join('/sys/fs/cgroup', c, parent, id);
        try {
          if (existsSync(d)) rmdirSync(d);
        } catch {
          console.log(`check: could not remove ${d}`);
        }
      }
    }
    spawnSync('ip', ['link', 'delete', `tiny-${id}`], { stdio: 'ignore' });
  }
  rmSync(scratch, { recursive: true, force: true });
}
