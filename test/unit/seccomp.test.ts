/*
 * The seccomp compiler (src/security/seccomp/), checked by running the
 * filters it produces in the BPF interpreter: verdicts, errno values, ABIs,
 * bad input, the assembler's far jumps, the default profile, and where the
 * plan loads the filter.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isRuntsError } from '../../src/errors.ts';
import type { LinuxSeccomp } from '../../src/oci/types.ts';
import { validateSpec } from '../../src/oci/validate.ts';
import { compile as compilePlan } from '../../src/plan/compile.ts';
import { probePaths } from '../../src/plan/host.ts';
import { fakeHost } from '../lib/fake-host.ts';
import { AUDIT_ARCH, X32_SYSCALL_BIT } from '../../src/security/seccomp/arch.ts';
import { Assembler, BPF, decodeFilter, MAX_INSTRUCTIONS } from '../../src/security/seccomp/bpf.ts';
import { compileSeccomp, SECCOMP_RET } from '../../src/security/seccomp/compile.ts';
import { DEFAULT_SECCOMP_TEMPLATE, defaultSeccompProfile } from '../../src/security/seccomp/default-profile.ts';
import { runFilter } from '../../src/security/seccomp/interpret.ts';
import { AARCH64_SYSCALLS } from '../../src/security/seccomp/syscalls-aarch64.ts';
import { X32_SYSCALLS } from '../../src/security/seccomp/syscalls-x32.ts';
import { X86_SYSCALLS } from '../../src/security/seccomp/syscalls-x86.ts';
import { X86_64_SYSCALLS } from '../../src/security/seccomp/syscalls-x86-64.ts';
import { resolveTemplate, type SeccompTemplate } from '../../src/security/seccomp/template.ts';
import { inCI } from '../lib/host.ts';

const X64 = AUDIT_ARCH.X86_64;
const nr = (name: string) => X86_64_SYSCALLS[name]!;
const ERRNO = (e: number) => (SECCOMP_RET.ERRNO | e) >>> 0;

function compile(p: LinuxSeccomp, warnings: string[] = []) {
  return compileSeccomp(p, { warn: (m) => warnings.push(m), native: 'SCMP_ARCH_X86_64' });
}
function verdict(p: LinuxSeccomp, name: string, args: bigint[] = [], arch = X64): number {
  return runFilter(compile(p).program, { nr: nr(name), arch, args });
}

test('the syscall tables come from the kernel headers: a few known numbers', () => {
  assert.equal(X86_64_SYSCALLS.read, 0);
  assert.equal(X86_64_SYSCALLS.clone3, 435);
  assert.equal(X86_SYSCALLS.read, 3);
  assert.equal(X32_SYSCALLS.read, X32_SYSCALL_BIT);
  assert.equal(AARCH64_SYSCALLS.read, 63);
  assert.equal(AARCH64_SYSCALLS.fcntl, 25, 'the generic table\'s 64-bit names');
  assert.equal(AARCH64_SYSCALLS.open, undefined, 'aarch64 has no open(2)');
});

test('a rule returns its errnoRet; everything else gets the default action', () => {
  const p: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getcwd'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] };
  assert.equal(verdict(p, 'getcwd'), ERRNO(38));
  assert.equal(verdict(p, 'read'), SECCOMP_RET.ALLOW);
});

test('ERRNO without errnoRet is EPERM; defaultErrnoRet sets the default\'s errno (ENOSYS for unknown calls)', () => {
  const p: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['mount'], action: 'SCMP_ACT_ERRNO' }] };
  assert.equal(verdict(p, 'clone3'), ERRNO(38));
  assert.equal(verdict(p, 'mount'), ERRNO(1));
  assert.equal(runFilter(compile(p).program, { nr: 5000, arch: X64 }), ERRNO(38), 'a number no kernel has yet');
});

test('a syscall newer than every one the profile names gets ENOSYS, unless the default lets everything through (as runc)', () => {
  const names = ['read', 'write', 'mkdir'];
  const p: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names, action: 'SCMP_ACT_ALLOW' }, { names: ['clone3'], action: 'SCMP_ACT_ERRNO' }] };
  const at = (profile: LinuxSeccomp, n: number) => runFilter(compile(profile).program, { nr: n, arch: X64 });
  assert.equal(at(p, 1000), ERRNO(38), 'syscall(1000): newer than clone3 (435), the newest named, whatever its action');
  assert.equal(at(p, nr('clone3') + 1), ERRNO(38));
  assert.equal(verdict(p, 'clone3'), ERRNO(1), 'a named one keeps its action');
  assert.equal(verdict(p, 'getpid'), ERRNO(1), 'an older unnamed one gets the default');
  assert.equal(verdict(p, 'mkdir'), SECCOMP_RET.ALLOW);
  for (const permissive of ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'] as const) {
    const open = { ...p, defaultAction: permissive };
    assert.equal(at(open, 1000), actionOf(permissive), `${permissive}: the default, not ENOSYS`);
  }
});

const actionOf = (a: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_LOG' | 'SCMP_ACT_TRACE') => (a === 'SCMP_ACT_ALLOW' ? SECCOMP_RET.ALLOW : a === 'SCMP_ACT_LOG' ? SECCOMP_RET.LOG : (SECCOMP_RET.TRACE | 1) >>> 0); // TRACE carries errnoRet, EPERM by default

test('every action maps to its SECCOMP_RET value', () => {
  const cases = [
    ['SCMP_ACT_KILL', SECCOMP_RET.KILL_THREAD], ['SCMP_ACT_KILL_THREAD', SECCOMP_RET.KILL_THREAD],
    ['SCMP_ACT_KILL_PROCESS', SECCOMP_RET.KILL_PROCESS], ['SCMP_ACT_TRAP', SECCOMP_RET.TRAP],
    ['SCMP_ACT_TRACE', (SECCOMP_RET.TRACE | 1) >>> 0], ['SCMP_ACT_LOG', SECCOMP_RET.LOG],
  ] as const;
  for (const [action, ret] of cases) {
    assert.equal(verdict({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getpid'], action }] }, 'getpid'), ret, action);
  }
});

test('the first matching rule of a syscall wins; a rule with the default action changes nothing', () => {
  const p: LinuxSeccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['kill'], action: 'SCMP_ACT_ALLOW' },
      { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 3, args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }] },
      { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 4 },
    ],
  };
  assert.equal(verdict(p, 'kill', [1n, 9n]), ERRNO(3));
  assert.equal(verdict(p, 'kill', [1n, 15n]), ERRNO(4));
});

test('arguments are compared as 64-bit values, high word first', () => {
  const p: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0x1_0000_0000, op: 'SCMP_CMP_GE' }] }] };
  assert.equal(verdict(p, 'personality', [0xffff_ffffn]), SECCOMP_RET.ALLOW);
  assert.equal(verdict(p, 'personality', [0x1_0000_0000n]), ERRNO(1));
  assert.equal(verdict(p, 'personality', [(1n << 64n) - 1n]), ERRNO(1));
});

test('masked equality: (arg & value) == valueTwo', () => {
  const p: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['clone'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0x10000000, valueTwo: 0x10000000, op: 'SCMP_CMP_MASKED_EQ' }] }] };
  assert.equal(verdict(p, 'clone', [0x10000011n]), ERRNO(1), 'CLONE_NEWUSER set');
  assert.equal(verdict(p, 'clone', [0x00000011n]), SECCOMP_RET.ALLOW);
});

test('ABIs: an unlisted one is killed, x32 shares x86_64\'s audit arch but not its numbers', () => {
  const only64: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'] };
  const prog = compile(only64).program;
  assert.equal(runFilter(prog, { nr: 0, arch: AUDIT_ARCH.I386 }), SECCOMP_RET.KILL_PROCESS);
  assert.equal(runFilter(prog, { nr: X32_SYSCALL_BIT, arch: X64 }), SECCOMP_RET.KILL_PROCESS);
  const withCompat = compile({ ...only64, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: [{ names: ['getcwd'], action: 'SCMP_ACT_ERRNO' }] }).program;
  assert.equal(runFilter(withCompat, { nr: X86_SYSCALLS.getcwd!, arch: AUDIT_ARCH.I386 }), ERRNO(1));
  assert.equal(runFilter(withCompat, { nr: X32_SYSCALLS.getcwd!, arch: X64 }), ERRNO(1));
  assert.equal(runFilter(withCompat, { nr: X32_SYSCALLS.read!, arch: X64 }), SECCOMP_RET.ALLOW);
});

test('the native ABI is always filtered, even when the profile lists only another', () => {
  const prog = compile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86'], syscalls: [{ names: ['getcwd'], action: 'SCMP_ACT_ERRNO' }] }).program;
  assert.equal(runFilter(prog, { nr: nr('getcwd'), arch: X64 }), ERRNO(1));
});

test('an ABI without a table is left out with a warning naming the field', () => {
  const warnings: string[] = [];
  compile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_MIPS'] }, warnings);
  assert.match(warnings.join('\n'), /linux\.seccomp\.architectures\[1\]: SCMP_ARCH_MIPS/);
});

test('an unknown syscall name is skipped with a warning; a profile of only unknown names is refused', () => {
  const warnings: string[] = [];
  const p: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getcwd', 'no_such_call'], action: 'SCMP_ACT_ERRNO' }] };
  assert.equal(runFilter(compile(p, warnings).program, { nr: nr('getcwd'), arch: X64 }), ERRNO(1));
  assert.deepEqual(warnings, ['linux.seccomp.syscalls[0].names[1]: unknown syscall "no_such_call"; skipped']);
  assert.throws(() => compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['no_such_call'], action: 'SCMP_ACT_ERRNO' }] }),
    (e) => isRuntsError(e, 'EINVAL_CONFIG') && /linux\.seccomp\.syscalls: none of the 1 syscall names is known/.test(e.message));
});

test('a syscall only another ABI has is not a typo: no warning', () => {
  const warnings: string[] = [];
  compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getcwd', 'arch_prctl'], action: 'SCMP_ACT_ERRNO' }] }, { warn: (m) => warnings.push(m), native: 'SCMP_ARCH_AARCH64' });
  assert.deepEqual(warnings, []);
});

test('SCMP_ACT_NOTIFY and listenerPath are refused as unsupported, naming the field', () => {
  assert.throws(() => compile({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_NOTIFY' }] }),
    (e) => isRuntsError(e, 'ENOTSUP') && /^linux\.seccomp\.listenerPath: /.test(e.message));
  assert.throws(() => compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_NOTIFY' }] }),
    (e) => isRuntsError(e, 'ENOTSUP') && /^linux\.seccomp\.syscalls\[0\]\.action: SCMP_ACT_NOTIFY/.test(e.message));
});

test('an errnoRet that does not fit 16 bits is refused', () => {
  assert.throws(() => compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 70000 }] }),
    (e) => isRuntsError(e, 'EINVAL_CONFIG') && /linux\.seccomp\.syscalls\[0\]\.action: errno 70000/.test(e.message));
});

test('flags become seccomp(2) filter flags', () => {
  const c = compile({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] });
  assert.equal(c.flags, 1 | 2 | 4);
});

test('the filter bytes are struct sock_filter[] and decode back to the program', () => {
  const c = compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO' }] });
  assert.equal(c.filter.length, c.program.length * 8);
  assert.deepEqual(decodeFilter(c.filter), c.program);
});

test('the assembler reaches targets beyond 255 instructions through trampolines', () => {
  const asm = new Assembler();
  asm.load(0).jump(BPF.JEQ_K, 7, 'far', undefined);
  for (let i = 0; i < 600; i++) asm.load(0);
  asm.ret(1);
  asm.label('far').ret(2);
  const prog = asm.assemble();
  assert.ok(prog.every((i) => i.jt <= 255 && i.jf <= 255));
  assert.equal(runFilter(prog, { nr: 7, arch: X64 }), 2);
  assert.equal(runFilter(prog, { nr: 8, arch: X64 }), 1);
});

test('a filter longer than the kernel allows is refused', () => {
  const many = Array.from({ length: MAX_INSTRUCTIONS }, (_, i) => ({ names: ['ioctl'], action: 'SCMP_ACT_ERRNO' as const, args: [{ index: 1, value: i + 1, op: 'SCMP_CMP_EQ' as const }] }));
  assert.throws(() => compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: many }), /more than the kernel's 4096/);
});

/* ---- the default profile ---- */

const PODMAN_PROFILE = '/usr/share/containers/seccomp.json';

test('the default profile has the same effect as podman\'s, for several capability sets', (t) => {
  if (!existsSync(PODMAN_PROFILE)) {
    if (inCI()) throw new Error(`${PODMAN_PROFILE} is missing: install golang-github-containers-common`);
    t.skip('podman\'s profile is not installed');
    return;
  }
  const podman = JSON.parse(readFileSync(PODMAN_PROFILE, 'utf8')) as SeccompTemplate;
  const capSets = [[], ['CAP_AUDIT_WRITE', 'CAP_KILL'], ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_TIME', 'CAP_SYS_MODULE', 'CAP_DAC_READ_SEARCH']];
  for (const machine of ['x64', 'arm64']) {
    for (const caps of capSets) {
      const native = machine === 'x64' ? 'SCMP_ARCH_X86_64' : 'SCMP_ARCH_AARCH64';
      const ours = compileSeccomp(resolveTemplate(DEFAULT_SECCOMP_TEMPLATE, { caps, machine }), { warn: () => {}, native }).program;
      const theirs = compileSeccomp(resolveTemplate(podman, { caps, machine }), { warn: () => {}, native }).program;
      for (const arch of [AUDIT_ARCH.X86_64, AUDIT_ARCH.I386, AUDIT_ARCH.AARCH64]) {
        for (let n = 0; n < 1100; n++) {
          const num = n < 600 ? n : X32_SYSCALL_BIT + n - 600;
          for (const args of [[], [16n, 3n, 9n], [0xffffffffn], [8n], [0x20008n], [7n]]) {
            const d = { nr: num, arch, args };
            assert.equal(runFilter(ours, d), runFilter(theirs, d), `${machine} caps [${caps}] arch 0x${arch.toString(16)} nr 0x${num.toString(16)} args [${args}]`);
          }
        }
      }
    }
  }
});

test('the default profile: ENOSYS for what it does not know, EPERM without the capability', () => {
  const p = defaultSeccompProfile(['CAP_KILL']);
  assert.equal(verdict(p, 'set_mempolicy_home_node'), ERRNO(38), 'a call newer than the profile: libc falls back');
  assert.equal(runFilter(compile(p).program, { nr: 600, arch: X64 }), ERRNO(38));
  assert.equal(verdict(p, 'read'), SECCOMP_RET.ALLOW);
  assert.equal(verdict(p, 'init_module'), ERRNO(1));
  assert.equal(verdict(p, 'kexec_load'), ERRNO(1));
  assert.equal(verdict(p, 'socket', [16n, 3n, 9n]), ERRNO(22), 'netlink audit without CAP_AUDIT_WRITE');
  assert.equal(verdict(p, 'socket', [2n, 1n, 0n]), SECCOMP_RET.ALLOW);
  assert.equal(verdict(p, 'personality', [8n]), SECCOMP_RET.ALLOW);
  assert.equal(verdict(p, 'personality', [0x400000n]), ERRNO(38), 'READ_IMPLIES_EXEC is not a harmless persona');
  assert.equal(verdict(defaultSeccompProfile(['CAP_SYS_MODULE']), 'init_module'), SECCOMP_RET.ALLOW);
});

/* ---- where the plan loads the filter ---- */

const bundle = mkdtempSync(join(tmpdir(), 'runts-seccomp-'));
mkdirSync(join(bundle, 'rootfs'));
after(() => rmSync(bundle, { recursive: true, force: true }));

function plan(noNewPrivileges: boolean) {
  const spec = validateSpec({
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['/bin/sh'], cwd: '/', user: { uid: 1000, gid: 1000 }, noNewPrivileges },
    hooks: { startContainer: [{ path: '/bin/true' }] },
    linux: { namespaces: [{ type: 'mount' }], seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO' }] } },
  });
  const steps = compilePlan(spec, fakeHost('v2', { paths: probePaths(spec, bundle) }), { id: 't', bundle, stateDir: '/run/x', fifoPath: '/run/x/exec.fifo', warn: () => {} }).steps;
  return steps.map((s) => s.op);
}

test('with no_new_privs the filter is loaded once INIT is set up, before the wait for start: startContainer hooks run under it (as runc)', () => {
  const ops = plan(true);
  assert.equal(ops.filter((o) => o === 'STEP_SECCOMP').length, 1);
  assert.equal(ops.indexOf('STEP_SECCOMP'), ops.indexOf('STEP_REPORT_CREATED') + 1);
  assert.ok(ops.indexOf('STEP_NO_NEW_PRIVS') < ops.indexOf('STEP_SECCOMP'));
  assert.ok(ops.indexOf('STEP_SECCOMP') < ops.indexOf('STEP_WAIT_START'));
  assert.ok(ops.indexOf('STEP_SECCOMP') < ops.lastIndexOf('STEP_RUN_HOOK'), 'the startContainer hook is filtered');
});

test('without no_new_privs the filter is loaded while INIT still holds CAP_SYS_ADMIN', () => {
  const ops = plan(false);
  assert.equal(ops.filter((o) => o === 'STEP_SECCOMP').length, 1);
  assert.ok(ops.indexOf('STEP_SECCOMP') < ops.indexOf('STEP_CAP_BOUNDING'));
  assert.ok(ops.indexOf('STEP_SECCOMP') < ops.indexOf('STEP_SET_USER'));
});
