/*
 * vm.ts - runs a test file (or any command) inside the throwaway qemu VM of
 * test/vm/run-in-vm.sh, for what this host cannot show: cgroup v2, AppArmor.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './probe.ts';

/* Why the VM cannot boot here, or null when it can. */
export function vmMissing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync('/usr/bin/qemu-system-x86_64')) return 'needs qemu-system-x86';
  if (!process.env.RUNTS_VM_KERNEL && !readdirSync('/boot').some((f) => f.startsWith('vmlinuz-'))) return 'needs linux-image-amd64';
  return null;
}

export interface VmResult {
  code: number | null;
  /* stdout and stderr, merged */
  out: string;
  /* the node:test result lines of out */
  summary: string;
}

/* Boot the VM, run the command from the repo, return what it printed. */
export async function runInVm(timeoutSeconds: number, command: string[]): Promise<VmResult> {
  const child = spawn(join(REPO, 'test/vm/run-in-vm.sh'), ['--timeout', String(timeoutSeconds), '--', ...command], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_TEST_CONTEXT: undefined },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const summary = out.split('\n').filter((l) => /^(✔|✖|ℹ (tests|pass|fail))/.test(l)).join('\n');
  return { code, out, summary };
}
