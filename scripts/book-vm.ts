/**
 * The book's commands that run in the lab VM (test/vm/run-in-vm.sh: cgroup v2
 * with every controller, AppArmor), for book-test.ts.
 *
 * A whole chapter: `sandbox: vm` in its front matter. The host's book-test.ts
 * boots one VM for the chapter,
 *
 *   test/vm/run-in-vm.sh --timeout T -- node scripts/book-test.ts --in-vm CHAPTER
 *
 * and the book-test.ts inside the guest runs the chapter's {run} blocks in its
 * usual sandbox (namespaces, scratch $HOME, ~/runts, runts on PATH), as on the
 * host, and prints one line per block that the host reads back:
 *
 *   __book_vm_result__ {"line":42,"ok":false,"ms":1200,"message":"exit status 1, ..."}
 *
 * Everything else the guest prints is passed through. A VM that does not boot,
 * or ends before every block has reported, fails the first block without a
 * result, with the reason.
 *
 * One block: ```sh {run vm}. The block runs alone in a fresh VM, as root, in
 * the checkout's directory, with runts on PATH; no shell state comes from the
 * blocks before it or goes to the ones after (in a `sandbox: vm` chapter,
 * where every block is in the VM already, the mark changes nothing).
 */
import type { Block } from './book-extract.ts';

export const VM_RESULT = '__book_vm_result__';

/** Seconds allowed for booting and shutting down the VM, on top of the blocks' own timeouts. */
export const VM_BOOT_ALLOWANCE = 120;

export interface VmResult {
  /** The block's line in the chapter. */
  line: number;
  ok: boolean;
  ms: number;
  message?: string;
}

export function vmResultLine(r: VmResult): string {
  return `${VM_RESULT} ${JSON.stringify({ line: r.line, ok: r.ok, ms: r.ms, ...(r.message === undefined ? {} : { message: r.message }) })}`;
}

/** The result on a line the guest printed, or null for any other line. */
export function parseVmResultLine(text: string): VmResult | null {
  if (!text.startsWith(`${VM_RESULT} `)) return null;
  try {
    const v = JSON.parse(text.slice(VM_RESULT.length + 1)) as Partial<VmResult>;
    if (typeof v.line !== 'number' || typeof v.ok !== 'boolean' || typeof v.ms !== 'number') return null;
    return { line: v.line, ok: v.ok, ms: v.ms, ...(typeof v.message === 'string' ? { message: v.message } : {}) };
  } catch {
    return null;
  }
}

/** The whole VM's time limit: every block's timeout, plus the boot. */
export function vmTimeout(blocks: Pick<Block, 'timeout'>[]): number {
  return blocks.reduce((s, b) => s + b.timeout, 0) + VM_BOOT_ALLOWANCE;
}

/** Why a VM gave no result, from run-in-vm.sh's exit status and what it printed on stderr. */
export function vmFailure(status: number, timeout: number, stderr: string): string {
  const said = stderr.trim() ? `\n  run-in-vm.sh said:\n${stderr.trim().split('\n').slice(-10).map((l) => `    | ${l}`).join('\n')}` : '';
  if (status === 124) return `the lab VM timed out after ${timeout} s${said}`;
  if (status === 125) return `the lab VM failed (it did not boot, or crashed: test/vm/run-in-vm.sh exit status 125)${said}`;
  return `the lab VM ended before this block reported (exit status ${status})${said}`;
}

/** The bash script a {run vm} block runs in its VM. */
export function vmBlockScript(code: string, checkout: string): string {
  const q = `'${checkout.replace(/'/g, `'\\''`)}'`;
  return `mkdir -p /usr/local/bin && ln -sf ${q}/bin/runts /usr/local/bin/runts\ncd ${q} || exit 125\n${code}\n`;
}
