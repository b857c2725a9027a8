/**
 * book-test: run the book's commands and check the output it shows.
 *
 *   node scripts/book-test.ts [--tap FILE] [--keep] [CHAPTER...]
 *
 * CHAPTER is a chapter number (4) or a markdown file; the default is every
 * docs/NN-*.md. For each chapter, in a fresh sandbox, the {run} blocks run in
 * order in one bash, so `cd`, variables and files carry from one block to the
 * next as in a reader's terminal (the block syntax: scripts/book-extract.ts).
 * A chapter stops at its first failing block; the report names the chapter,
 * the block's line and the first line that differs.
 *
 * The sandbox: new mount, uts, ipc, pid (with its own /proc) and network
 * namespaces (`sandbox: host-network` in the chapter's front matter keeps the
 * host's network, for a chapter that downloads), hostname "lab", a scratch
 * directory as $HOME with ~/runts pointing at this checkout, and private
 * tmpfs mounts on /run, /tmp and /usr/local/bin, where the lab of chapter 2 puts
 * the runts command. When the chapter ends its pid namespace dies with every
 * process in it, its mounts go with its mount namespace, containers it left
 * are deleted with `runts delete --force` (from inside, where the state
 * directory is private), and the scratch directory is deleted.
 *
 * The lab VM (scripts/book-vm.ts): a chapter with `sandbox: vm` in its front
 * matter runs whole inside one boot of test/vm/run-in-vm.sh (cgroup v2 with
 * every controller, AppArmor), where this same script runs it in the same
 * sandbox (`--in-vm CHAPTER`) and reports each block back; a ```sh {run vm}
 * block runs alone in a fresh VM, from the checkout.
 * Root only: the book is run as root, like the lab.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { BookFormatError, extractBlocks, type Block } from './book-extract.ts';
import { matchOutput } from './book-match.ts';
import { parseVmResultLine, vmBlockScript, vmFailure, vmResultLine, vmTimeout } from './book-vm.ts';

const repo = resolve(import.meta.dirname, '..');
const docs = join(repo, 'docs');

interface Result {
  chapter: string;
  block: Block;
  ok: boolean;
  message?: string;
  ms: number;
}

function chapterFiles(args: string[]): string[] {
  const all = readdirSync(docs).filter((f) => /^\d\d-.*\.md$/.test(f)).sort();
  if (!args.length) return all.map((f) => join(docs, f));
  return args.map((a) => {
    if (/^\d+$/.test(a)) {
      const f = all.find((x) => Number(x.slice(0, 2)) === Number(a));
      if (!f) throw new Error(`no chapter ${a} in docs/`);
      return join(docs, f);
    }
    return resolve(a);
  });
}

function frontMatter(md: string): Record<string, string> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(md);
  const out: Record<string, string> = {};
  for (const line of m?.[1]?.split('\n') ?? []) {
    const kv = /^([\w-]+):\s*(.*)$/.exec(line);
    if (kv) out[kv[1]!] = kv[2]!.replace(/^['"]|['"]$/g, '');
  }
  return out;
}

/* Whether a container's cgroup is still there, in any hierarchy. */
function cgroupDirsOf(id: string): string[] {
  const roots = ['/sys/fs/cgroup', ...safeList('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d))];
  return roots.map((r) => join(r, 'runts', id)).filter((d) => existsSync(d));
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

// Containers the chapter left running: delete them through runts, inside the
// sandbox, and report their ids (the sandbox's state directory is a private
// tmpfs, so these are the chapter's own containers and nobody else's).
const EPILOGUE = `
for id in $(runts list -q 2>/dev/null); do echo "__book_container__ $id"; runts delete --force "$id" >/dev/null 2>&1; done
exit 0
`;

// The checkout is bound into the scratch directory first: it may itself live
// under /tmp or /run, which the private tmpfs mounts below would hide.
const PROLOGUE = (home: string, checkout: string) => `
set +o history
set -o pipefail
mount --bind ${repo} ${checkout}
mount -t tmpfs -o mode=0755 book-run /run
mount -t tmpfs -o mode=1777 book-tmp /tmp
mount -t tmpfs -o mode=0755 book-bin /usr/local/bin
ln -s ${home}/runts/bin/runts /usr/local/bin/runts
hostname lab
ip link set lo up 2>/dev/null
cd ${home}
`;

class Sandbox {
  private child;
  private lines;
  private waiting: ((line: string) => void) | null = null;
  readonly leftContainers: string[] = [];
  private stderr = '';
  private n = 0;
  readonly scratch: string;

  constructor(scratch: string, hostNetwork: boolean) {
    this.scratch = scratch;
    const home = join(scratch, 'home');
    mkdirSync(join(scratch, '.book'), { recursive: true });
    mkdirSync(home);
    mkdirSync(join(scratch, '.checkout'));
    symlinkSync(join(scratch, '.checkout'), join(home, 'runts'));
    const flags = ['--mount', '--uts', '--ipc', '--pid', '--fork', '--mount-proc', '--propagation', 'private'];
    if (!hostNetwork) flags.push('--net');
    // setsid: the shell leads its own session inside the new pid namespace, as
    // a login shell would (procps' ps refuses a session it cannot see)
    this.child = spawn('unshare', [...flags, '--', 'setsid', 'bash', '--norc', '--noprofile'], {
      cwd: home,
      env: {
        HOME: home,
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        LANG: 'C.UTF-8',
        TERM: 'dumb',
        USER: 'root',
        LOGNAME: 'root',
        SHELL: '/bin/bash',
        CI: process.env.CI ?? '',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (l) => {
      const left = /^__book_container__ (\S+)$/.exec(l);
      if (left) this.leftContainers.push(left[1]!);
      else this.waiting?.(l);
    });
    this.child.stdin.write(PROLOGUE(home, join(scratch, '.checkout')));
  }

  /** Run one block; resolves with its merged output and exit status. */
  run(code: string, timeoutS: number): Promise<{ output: string; status: number } | { timeout: true; output: string }> {
    const id = String(++this.n).padStart(3, '0');
    const file = join(this.scratch, '.book', `${id}.sh`);
    const out = join(this.scratch, '.book', `${id}.out`);
    writeFileSync(file, code + '\n');
    const marker = `__book_done_${id}__`;
    return new Promise((done) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        done({ timeout: true, output: readOr(out) });
      }, timeoutS * 1000);
      this.waiting = (line) => {
        const m = new RegExp(`^${marker} (\\d+)$`).exec(line);
        if (!m) return;
        clearTimeout(timer);
        this.waiting = null;
        done({ output: readOr(out), status: Number(m[1]) });
      };
      this.child.stdin.write(`source ${file} </dev/null >${out} 2>&1; echo "${marker} $?"\n`);
    });
  }

  /** Ends the sandbox: bash exits, its pid namespace and mounts go with it. */
  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin.end(EPILOGUE);
      // a block still running (a timeout): kill the namespace's pid 1, the
      // shell, and the kernel kills everything else in the pid namespace
      const t = setTimeout(() => {
        const pid = this.child.pid!;
        const init = readOr(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/).filter(Boolean);
        for (const p of [...init.map(Number), pid]) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }, 5000);
      await exited;
      clearTimeout(t);
    }
  }

  get errors(): string {
    return this.stderr;
  }
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function indent(text: string, prefix = '    | '): string {
  return text.split('\n').map((l) => prefix + l).join('\n');
}

/** A {run vm} block: alone, in a fresh lab VM, from the checkout. */
function runInFreshVm(b: Block): Promise<{ output: string; status: number } | { timeout: true; output: string }> {
  return new Promise((done) => {
    const vm = spawn(join(repo, 'test/vm/run-in-vm.sh'), ['--timeout', String(b.timeout), '--', 'bash', '-c', vmBlockScript(b.code, repo)], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    vm.stdout.on('data', (d: Buffer) => (out += d.toString()));
    vm.stderr.on('data', (d: Buffer) => (err += d.toString()));
    vm.on('close', (code) => {
      const status = code ?? 125;
      if (status === 124) done({ timeout: true, output: out + err });
      else done({ output: status === 125 ? `${out}${vmFailure(status, b.timeout, err)}\n` : out, status });
    });
  });
}

/**
 * A `sandbox: vm` chapter: one VM boot, in which book-test.ts --in-vm runs
 * the chapter and prints a result line per block.
 */
async function runChapterInVm(chapter: string, file: string, runnable: Block[]): Promise<Result[]> {
  const timeout = vmTimeout(runnable);
  const t0 = Date.now();
  console.log(`  in the lab VM (test/vm/run-in-vm.sh, at most ${timeout} s)`);
  const vm = spawn(join(repo, 'test/vm/run-in-vm.sh'), ['--timeout', String(timeout), '--', process.execPath, join(repo, 'scripts/book-test.ts'), '--in-vm', file], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  vm.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const got = new Map<number, Result>();
  const lines = createInterface({ input: vm.stdout });
  lines.on('line', (l) => {
    const r = parseVmResultLine(l);
    const block = r && runnable.find((b) => b.line === r.line);
    if (r && block) got.set(r.line, { chapter, block, ok: r.ok, message: r.message, ms: r.ms });
    else console.log(l);
  });
  const status = await new Promise<number>((r) => vm.on('close', (code) => r(code ?? 125)));
  console.log(`  lab VM: ${((Date.now() - t0) / 1000).toFixed(0)} s, exit status ${status}`);
  const results: Result[] = [];
  let failed = false;
  for (const b of runnable) {
    const r = got.get(b.line);
    if (r) {
      results.push(r);
      failed ||= !r.ok;
    } else if (!failed) {
      const message = vmFailure(status, timeout, stderr);
      console.log(`  ${chapter}:${b.line}: ${message}`);
      results.push({ chapter, block: b, ok: false, message, ms: 0 });
      failed = true;
    } else {
      results.push({ chapter, block: b, ok: false, message: 'not run: an earlier block failed', ms: 0 });
    }
  }
  // every block reported, yet the guest's runner failed on its own (not a block's failure)
  if (!failed && status !== 0) {
    const last = results[results.length - 1]!;
    last.ok = false;
    last.message = vmFailure(status, timeout, stderr);
    console.log(`  ${chapter}: ${last.message}`);
  }
  return results;
}

async function runChapter(file: string, keep: boolean, inVm = false): Promise<Result[]> {
  const chapter = basename(file);
  const md = readFileSync(file, 'utf8');
  const fm = frontMatter(md);
  const blocks = extractBlocks(md);
  const runnable = blocks.filter((b) => b.kind === 'run');
  const skipped = blocks.filter((b) => b.kind === 'norun');
  if (!inVm) {
    console.log(`\n# ${chapter}: ${runnable.length} blocks to run, ${skipped.length} not run`);
    for (const b of skipped) console.log(`  - line ${b.line}: not run: ${b.reason}`);
  }
  if (!runnable.length) return [];
  if (fm.sandbox === 'vm' && !inVm) return runChapterInVm(chapter, file, runnable);

  const scratch = mkdtempSync(`/var/tmp/book-${chapter.slice(0, 2)}-`);
  const box = new Sandbox(scratch, fm.sandbox === 'host-network');
  const results: Result[] = [];
  // in the VM, each result also goes to the host as it comes
  const push = (r: Result) => {
    results.push(r);
    if (inVm) console.log(vmResultLine({ line: r.block.line, ok: r.ok, ms: r.ms, message: r.message }));
  };
  let failed = false;
  try {
    for (const b of runnable) {
      if (failed) {
        push({ chapter, block: b, ok: false, message: 'not run: an earlier block failed', ms: 0 });
        continue;
      }
      const t0 = Date.now();
      const r = b.vm && !inVm ? await runInFreshVm(b) : await box.run(b.code, b.timeout);
      const ms = Date.now() - t0;
      let message: string | undefined;
      if ('timeout' in r) {
        message = `timed out after ${b.timeout} s\n  output so far:\n${indent(r.output)}`;
      } else if (r.status !== b.status) {
        message = `exit status ${r.status}, expected ${b.status}\n  output:\n${indent(r.output)}`;
      } else if (b.output) {
        const mm = matchOutput(b.output.code, r.output);
        if (mm) {
          message =
            `output differs at line ${mm.line} of the output block (line ${b.output.line + mm.line} of the chapter)\n` +
            `  book:\n${indent(mm.expected)}\n  real:\n${indent(mm.actual)}\n  whole real output:\n${indent(r.output)}`;
        }
      }
      const ok = message === undefined;
      push({ chapter, block: b, ok, message, ms });
      const first = b.code.split('\n').find((l) => l.trim() && !l.startsWith('#')) ?? '';
      console.log(`  ${ok ? 'ok  ' : 'FAIL'} line ${b.line} (${(ms / 1000).toFixed(1)} s): ${first.slice(0, 70)}`);
      if (!ok) {
        console.log(`  ${chapter}:${b.line}: ${message}`);
        if (box.errors.trim()) console.log(`  sandbox stderr:\n${indent(box.errors.trim())}`);
        failed = true;
        if ('timeout' in r) break;
      }
    }
  } finally {
    await box.close();
    if (box.leftContainers.length) console.log(`  note: deleted containers the chapter left: ${box.leftContainers.join(' ')}`);
    for (const id of box.leftContainers) {
      for (const d of cgroupDirsOf(id)) {
        try {
          rmdirSync(d);
        } catch {
          console.log(`  warning: cgroup left behind: ${d}`);
        }
      }
    }
    if (keep) console.log(`  scratch kept: ${scratch}`);
    else if (!mountedUnder(scratch)) rmSync(scratch, { recursive: true, force: true });
    else console.log(`  warning: ${scratch} still has mounts; not removed`);
  }
  return results;
}

function mountedUnder(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => (l.split(' ')[4] ?? '').startsWith(dir));
}

function writeTap(file: string, results: Result[]) {
  const lines = ['TAP version 13'];
  results.forEach((r, i) => {
    lines.push(`${r.ok ? 'ok' : 'not ok'} ${i + 1} - ${r.chapter}:${r.block.line}`);
  });
  lines.push(`1..${results.length}`);
  lines.push(`# pass ${results.filter((r) => r.ok).length}`);
  lines.push(`# fail ${results.filter((r) => !r.ok).length}`);
  writeFileSync(file, lines.join('\n') + '\n');
}

async function main(argv: string[]) {
  let tap: string | undefined;
  let keep = false;
  let inVm = false;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--tap') tap = argv[++i];
    else if (argv[i] === '--keep') keep = true;
    else if (argv[i] === '--in-vm') inVm = true; // inside the lab VM, for a `sandbox: vm` chapter
    else args.push(argv[i]!);
  }
  if (process.getuid?.() !== 0) {
    console.error('book-test: must run as root (the book runs as root in its lab)');
    process.exit(1);
  }
  const files = chapterFiles(args);
  const results: Result[] = [];
  let formatErrors = 0;
  for (const f of files) {
    try {
      results.push(...(await runChapter(f, keep, inVm)));
    } catch (e) {
      if (!(e instanceof BookFormatError)) throw e;
      console.log(`  ${basename(f)}: ${e.message}`);
      formatErrors++;
    }
  }
  if (tap) writeTap(tap, results);
  const pass = results.filter((r) => r.ok).length;
  const fail = results.length - pass + formatErrors;
  if (!inVm) console.log(`\nbook: ${pass} passed, ${fail} failed`);
  process.exitCode = fail ? 1 : 0;
}

await main(process.argv.slice(2));
