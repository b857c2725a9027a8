/*
 * podman.ts - a podman for one test, with runts as its runtime: every byte of
 * its state under the test's dirs, removed with it, and each runtime call
 * podman (through conmon) makes written down.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupDirsMatching, RUN_PREFIX, safeRemove } from './cleanup.ts';
import type { Ctx } from './context.ts';
import { describeCommand, runCommand, type CommandResult } from './engine.ts';
import { waitFor } from './host.ts';
import { RUNTS_BIN } from './runtime.ts';

// These machines' hard limits are below podman's defaults.
export const RUN_FLAGS = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

export interface Podman {
  (...args: string[]): Promise<CommandResult>;
  rootfs: string;
  /* every runtime command podman (through conmon) gave the wrapper, one line each */
  calls(): string;
}

/*
 * A podman whose every byte of state is under the test dir, and is removed
 * with it. env: more of podman's environment (CONTAINERS_CONF, for
 * containers that podman creates without RUN_FLAGS, such as a pod's infra).
 */
export function podmanFor(c: Ctx, timeoutMs = 90_000, env: Record<string, string> = {}): Podman {
  // podman refuses a runroot longer than 50 characters: a short dir in /tmp
  const run = mkdtempSync(join(tmpdir(), `${RUN_PREFIX}-podman-`));
  c.defer(`remove ${run}`, () => {
    const leaks = safeRemove(run);
    assert.deepEqual(leaks, [], `nothing mounted under ${run}`);
  });
  // runts's state goes under the test dir too. Not with --runtime-flag:
  // podman 4.3 leaves the runtime flags out of `delete`.
  // The wrapper writes down each command, so a test can show podman used it.
  const runtime = join(c.dir, 'runts-for-podman');
  const calls = join(c.dir, 'runtime-calls.log');
  writeFileSync(calls, '');
  writeFileSync(runtime, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${calls}\nexec ${RUNTS_BIN} --root ${c.root} "$@"\n`, { mode: 0o755 });
  const global = [
    '--runtime', runtime,
    '--root', c.tempDir('storage'), '--runroot', run, '--tmpdir', c.tempDir('tmp'),
    '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
  ];
  const podman = ((...args: string[]) => runCommand('podman', [...global, ...args], { timeoutMs, env })) as Podman;
  podman.rootfs = c.bundle().rootfs;
  podman.calls = () => readFileSync(calls, 'utf8');
  c.defer('podman rm --all --force', async () => {
    const mark = [c.dir, run];
    const ids = (await podman('ps', '--all', '--no-trunc', '--quiet')).stdout.split('\n').filter(Boolean);
    await podman('rm', '--all', '--force', '--time', '0');
    // conmon's exit command (podman container cleanup) may still be running
    await waitFor(() => mark.every((m) => processesMentioning(m).length === 0), `podman and conmon processes of ${c.dir} to exit`);
    for (const id of ids) assert.deepEqual(cgroupDirsMatching(id), [], `cgroups of container ${id} removed`);
    assert.deepEqual(readdirSync(c.root), [], 'runts state of every podman container removed');
  });
  return podman;
}

function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text)) found.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return found;
}

export function ok(r: CommandResult): string {
  assert.ok(r.code === 0 && !r.timedOut, describeCommand(r));
  return r.stdout;
}

/*
 * Proof that runts, not podman's default runtime, runs a container: its
 * state under the wrapper's --root is runts's own record (src/runtime/store.ts:
 * pidStartTime, cgroupDirs; runc's state.json has init_process_pid instead)
 * for podman's container id, naming the pid podman reports.
 */
export async function assertRuntsRuns(c: Ctx, podman: Podman, name: string): Promise<void> {
  const [id, pid] = ok(await podman('inspect', '--format', '{{.Id}} {{.State.Pid}}', name)).trim().split(' ');
  const file = join(c.root, id!, 'state.json');
  assert.ok(existsSync(file), `no runts state for ${name} (${id}) under ${c.root}: ${readdirSync(c.root).join(' ')}`);
  const state = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.ok('pidStartTime' in state && Array.isArray(state.cgroupDirs) && !('init_process_pid' in state), `not runts's state record: ${Object.keys(state).join(' ')}`);
  assert.equal(state.pid, Number(pid), 'runts\'s record names the pid podman reports');
}
