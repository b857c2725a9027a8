// The recorder's side in TypeScript (src/security/seccomp/record.ts): its
// filter, and the profile a recording makes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeFilter } from '../../src/security/seccomp/bpf.ts';
import { runFilter } from '../../src/security/seccomp/interpret.ts';
import { profileFromRecording, recorderFilter } from '../../src/security/seccomp/record.ts';
import { SECCOMP_RET } from '../../src/security/seccomp/compile.ts';

const dir = mkdtempSync(join(tmpdir(), 'runts-record-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the recorder\'s filter sends every call of every architecture to the supervisor', () => {
  const program = decodeFilter(recorderFilter());
  for (const [arch, nr] of [[0xc000003e, 59], [0x40000003, 11], [0xc000003e, 0x40000000 | 1], [0xc00000b7, 221]] as const) {
    assert.equal(runFilter(program, { nr, arch, instructionPointer: 0n, args: [0n, 0n, 0n, 0n, 0n, 0n] }), SECCOMP_RET.USER_NOTIF);
  }
});

test('a recording becomes a profile: its calls allowed by name per architecture, the rest EPERM, unknown numbers left out with a warning', () => {
  const file = join(dir, 'rec');
  writeFileSync(file, 'c000003e 59\nc000003e 1\n40000003 4\nc000003e 1073741825\nc000003e 999\n');
  const warnings: string[] = [];
  const profile = profileFromRecording(file, (w) => warnings.push(w));
  assert.deepEqual(profile, {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names: ['execve', 'write'], action: 'SCMP_ACT_ALLOW' }],
  });
  assert.deepEqual(warnings, ['--seccomp-record: system call 999 of architecture 0xc000003e has no name runts knows: left out of the profile']);
});

test('no recording (the process never started) is a clear error', () => {
  assert.throws(() => profileFromRecording(join(dir, 'missing'), () => {}), /--seccomp-record: nothing was recorded .*the container's process did not start/);
});
