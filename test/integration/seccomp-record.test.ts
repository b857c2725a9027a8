/*
 * Recording a seccomp profile (`runts run --seccomp-record FILE`,
 * src/security/seccomp/record.ts, native/steps_record.c): the recorded run
 * behaves as without a filter; the profile lets the same workload run again
 * and denies a call it never made; runts's own setup calls are not in it.
 * runc has no recorder: runts only.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigPatch } from '../lib/bundle.ts';
import { assertFails, assertOk, checkLeaksAfterFile, containerTest, type Ctx } from '../lib/context.ts';

checkLeaksAfterFile();

const WORKLOAD = 'echo hello; hostname; ls / > /dev/null';
const sh = (script: string): ConfigPatch => [(s) => { s.process!.args = ['/bin/sh', '-c', script]; }, { hostname: 'recorded' }];

interface Profile { defaultAction: string; architectures: string[]; syscalls: { names: string[]; action: string }[] }

async function record(c: Ctx, script: string): Promise<{ file: string; profile: Profile; stdout: string }> {
  const file = join(c.tempDir('profile'), 'profile.json');
  const r = await c.run(c.bundle(sh(script)), { flags: ['--seccomp-record', file] });
  assertOk(r);
  return { file, profile: JSON.parse(readFileSync(file, 'utf8')) as Profile, stdout: r.stdout };
}

containerTest('a recorded run behaves as an unfiltered one and writes a profile of the calls it made', async (c) => {
  const { profile, stdout } = await record(c, WORKLOAD);
  assert.equal(stdout, 'hello\nrecorded\n');
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
  const names = profile.syscalls.flatMap((s) => (s.action === 'SCMP_ACT_ALLOW' ? s.names : []));
  for (const n of ['execve', 'write', 'getdents64', 'exit_group']) assert.ok(names.includes(n), `${n} is recorded: ${names.join(' ')}`);
  // recording starts where the container's filter would be loaded (with no_new_privs, after the user switch):
  // runts's setup before that point is not the workload's
  for (const n of ['pivot_root', 'sethostname', 'mount', 'setresuid', 'capset', 'seccomp']) assert.ok(!names.includes(n), `${n} (runts's own) is not in the profile`);
});

containerTest('the recorded profile runs the same workload, and denies a call the recording never saw', async (c) => {
  const { profile } = await record(c, WORKLOAD);
  const again = await c.run(c.bundle([sh(WORKLOAD), { linux: { seccomp: profile } }]));
  assertOk(again);
  assert.equal(again.stdout, 'hello\nrecorded\n');
  const other = await c.run(c.bundle([sh(`${WORKLOAD}; mkdir /dev/shm/new`), { linux: { seccomp: profile } }]));
  assert.notEqual(other.code, 0);
  assert.match(other.stderr, /mkdir: can't create directory '\/dev\/shm\/new': Operation not permitted/);
});

containerTest('the calls of the container\'s other processes are recorded too', async (c) => {
  // the subshell is a process of its own
  const { profile } = await record(c, '(mkdir /dev/shm/made-by-a-child) && echo made');
  assert.ok(profile.syscalls[0]!.names.includes('mkdir'), profile.syscalls[0]!.names.join(' '));
});

containerTest('--seccomp-record with --detach is refused, and nothing is left', async (c) => {
  const file = join(c.tempDir('profile'), 'profile.json');
  const r = await c.run(c.bundle(sh('true')), { flags: ['--detach', '--seccomp-record', file] });
  assertFails(r, '--seccomp-record: only a container in the foreground can be recorded');
  assert.ok(!existsSync(file));
  await c.assertNothingLeft();
});

containerTest('--seccomp-record with a terminal is refused, and nothing is left', async (c) => {
  const file = join(c.tempDir('profile'), 'profile.json');
  const r = await c.run(c.bundle([sh('true'), { process: { terminal: true } }]), { flags: ['--seccomp-record', file] });
  assertFails(r, '--seccomp-record: not with a terminal');
  await c.assertNothingLeft();
});
