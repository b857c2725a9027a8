/*
 * The seccomp compiler against libseccomp, the library runc uses: for each
 * profile, both filters must give the same verdict (the exact SECCOMP_RET_*
 * value) for every syscall number of every ABI, numbers at the edges of
 * each ABI's range, an ABI the profile does not list, and, for syscalls
 * with argument rules, arguments at the edges of every comparison.
 *
 * libseccomp's filter comes from test/seccomp/libseccomp-export.c (built
 * here against Debian's libseccomp-dev); both filters run in the BPF
 * interpreter of src/security/seccomp/interpret.ts, so no root is needed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { LinuxSeccomp, LinuxSeccompArg, SeccompOperator } from '../../src/oci/types.ts';
import { ARCHES, AUDIT_ARCH, X32_SYSCALL_BIT } from '../../src/security/seccomp/arch.ts';
import { decodeFilter, type Instruction } from '../../src/security/seccomp/bpf.ts';
import { actionValue, compileSeccomp } from '../../src/security/seccomp/compile.ts';
import { runFilter } from '../../src/security/seccomp/interpret.ts';
import { resolveTemplate, type SeccompTemplate } from '../../src/security/seccomp/template.ts';
import { DEFAULT_SECCOMP_TEMPLATE } from '../../src/security/seccomp/default-profile.ts';
import { lacks } from '../lib/host.ts';

const REPO = resolve(import.meta.dirname, '../..');
const PODMAN_PROFILE = '/usr/share/containers/seccomp.json';

/** Build the libseccomp side once; null (with the reason) when this machine cannot. */
function helper(): string {
  const src = join(REPO, 'test/seccomp/libseccomp-export.c');
  const dir = join(tmpdir(), 'runts-test-cache');
  const bin = join(dir, `libseccomp-export-${readFileSync(src).length}-${hash(readFileSync(src, 'utf8'))}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const cc = spawnSync('cc', ['-O2', '-o', `${bin}.tmp`, src, '-lseccomp'], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`building the libseccomp helper failed (needs gcc and libseccomp-dev): ${cc.stderr || cc.error}`);
  renameSync(`${bin}.tmp`, bin);
  return bin;
}

function hash(s: string): string {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) >>> 0;
  return h.toString(16);
}

const LIBSECCOMP_OP: Record<SeccompOperator, number> = {
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7,
};
const LIBSECCOMP_ARCH: Record<string, string> = { SCMP_ARCH_X86: 'x86', SCMP_ARCH_X32: 'x32', SCMP_ARCH_X86_64: 'x86_64', SCMP_ARCH_AARCH64: 'aarch64' };

/** The profile reduced as runc reduces it before it calls libseccomp. */
function libseccompFilter(p: LinuxSeccomp): Instruction[] {
  const def = actionValue(p.defaultAction, p.defaultErrnoRet, 'default');
  const lines = [`default ${def}`];
  for (const a of p.architectures ?? []) lines.push(`arch ${LIBSECCOMP_ARCH[a]}`);
  for (const s of p.syscalls ?? []) {
    const ret = actionValue(s.action, s.errnoRet, 'rule');
    if (ret === def) continue;
    const args = s.args ?? [];
    const idx = args.map((a) => a.index);
    const groups = new Set(idx).size < idx.length ? args.map((a) => [a]) : [args];
    for (const name of s.names) {
      for (const g of groups) {
        lines.push(`rule ${ret} ${name} ${g.length}${g.map((a) => ` ${a.index} ${LIBSECCOMP_OP[a.op]} ${a.value} ${a.valueTwo ?? 0}`).join('')}`);
      }
    }
  }
  const r = spawnSync(helper(), [], { input: lines.join('\n') + '\n' });
  if (r.status !== 0) throw new Error(`libseccomp-export: ${r.stderr}`);
  return decodeFilter(new Uint8Array(r.stdout));
}

const U64 = (1n << 64n) - 1n;

/** Values around every constant a comparison on this argument uses. */
function edgeValues(conds: LinuxSeccompArg[]): bigint[] {
  const out = new Set<bigint>([0n, 1n, 0xffffffffn, 0x100000000n, U64, 0x7fffffffn, 0x80000000n]);
  for (const c of conds) {
    for (const raw of [c.value, c.valueTwo ?? 0]) {
      const v = BigInt(raw);
      for (const e of [v, v - 1n, v + 1n, v ^ (1n << 32n), v | (1n << 40n), v ^ 1n, ~v]) out.add(BigInt.asUintN(64, e));
    }
    if (c.op === 'SCMP_CMP_MASKED_EQ') {
      const mask = BigInt(c.value);
      const datum = BigInt(c.valueTwo ?? 0);
      out.add(datum | (~mask & U64)).add(datum | (~mask & 0xf0f0f0f0f0f0f0f0n));
    }
  }
  return [...out];
}

interface Case { arch: number; nr: number; args?: bigint[] }

function cases(p: LinuxSeccomp): Case[] {
  const out: Case[] = [];
  const edges = [0x3fffffff, X32_SYSCALL_BIT, X32_SYSCALL_BIT + 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1000, 4095];
  for (const audit of [AUDIT_ARCH.X86_64, AUDIT_ARCH.I386, AUDIT_ARCH.AARCH64, 0x12345678]) {
    for (let nr = 0; nr < 600; nr++) out.push({ arch: audit, nr });
    for (let nr = X32_SYSCALL_BIT; nr < X32_SYSCALL_BIT + 600; nr++) out.push({ arch: audit, nr });
    for (const nr of edges) out.push({ arch: audit, nr });
  }
  // argument edges, for every ABI's number of each syscall with argument rules
  for (const s of p.syscalls ?? []) {
    const args = s.args ?? [];
    if (!args.length) continue;
    const byIndex = new Map<number, LinuxSeccompArg[]>();
    for (const a of args) byIndex.set(a.index, [...(byIndex.get(a.index) ?? []), a]);
    const indexes = [...byIndex.keys()];
    const values = indexes.map((i) => edgeValues(byIndex.get(i)!));
    const combos: bigint[][] = [];
    const walk = (k: number, acc: bigint[]) => {
      if (k === indexes.length) {
        const full = [0n, 0n, 0n, 0n, 0n, 0n];
        indexes.forEach((ix, j) => (full[ix] = acc[j]!));
        combos.push(full);
        return;
      }
      for (const v of values[k]!) walk(k + 1, [...acc, v]);
    };
    walk(0, []);
    for (const name of s.names) {
      for (const arch of Object.values(ARCHES)) {
        const nr = arch.syscalls[name];
        if (nr === undefined) continue;
        for (const a of combos) out.push({ arch: arch.audit, nr, args: a });
      }
    }
  }
  return out;
}

/*
 * Equal verdicts prove something only if the cases reach the rules: each
 * rule's verdict must come out, from libseccomp's filter, for each of its
 * syscalls on each ABI the profile lists; and a rule with argument
 * comparisons must also, for some arguments, give another verdict (both
 * sides of its comparisons were tried). What no case reached is returned.
 */
function unreachedRules(p: LinuxSeccomp, all: Case[], verdicts: number[]): string[] {
  const def = actionValue(p.defaultAction, p.defaultErrnoRet, 'default');
  const seen = new Map<string, Set<number>>(); // "audit:nr" -> the verdicts its cases got
  all.forEach((c, i) => {
    const key = `${c.arch}:${c.nr}`;
    seen.set(key, (seen.get(key) ?? new Set()).add(verdicts[i]!));
  });
  const arches = (p.architectures?.length ? p.architectures : ['SCMP_ARCH_X86_64' as const]).map((a) => ARCHES[a]).filter((a) => a !== undefined);
  const out: string[] = [];
  const decided = new Set<string>(); // names an earlier rule without arguments already decides: later rules never apply
  (p.syscalls ?? []).forEach((s, i) => {
    const ret = actionValue(s.action, s.errnoRet, 'rule');
    if (ret === def) return; // dropped, as runc drops it
    for (const arch of arches) {
      for (const name of s.names) {
        const nr = arch.syscalls[name];
        if (nr === undefined || decided.has(name)) continue;
        const got = seen.get(`${arch.audit}:${nr}`) ?? new Set<number>();
        const where = `syscalls[${i}] ${name} on ${arch.name}`;
        if (!got.has(ret)) out.push(`${where}: no case gave its verdict 0x${ret.toString(16)}`);
        else if (s.args?.length && got.size < 2) out.push(`${where}: its comparisons held for every case`);
      }
    }
    if (!s.args?.length) for (const name of s.names) decided.add(name);
  });
  return out;
}

function assertSameVerdicts(p: LinuxSeccomp) {
  const ours = compileSeccomp(p, { warn: () => {}, native: 'SCMP_ARCH_X86_64' }).program;
  const theirs = libseccompFilter(p);
  const all = cases(p);
  let differences: string[] = [];
  const verdicts: number[] = [];
  for (const c of all) {
    const a = runFilter(ours, c);
    const b = runFilter(theirs, c);
    verdicts.push(b);
    if (a !== b) differences.push(`arch 0x${c.arch.toString(16)} nr 0x${(c.nr >>> 0).toString(16)} args [${(c.args ?? []).join(',')}]: runts 0x${a.toString(16)}, libseccomp 0x${b.toString(16)}`);
  }
  differences = differences.slice(0, 10);
  assert.deepEqual(differences, [], `verdicts differ (first 10 of the ${all.length} cases shown)`);
  assert.deepEqual(unreachedRules(p, all, verdicts).slice(0, 10), [], 'rules the cases never reached (first 10)');
}

const x86_64 = 'SCMP_ARCH_X86_64' as const;
const everyOp = (index: number, value: number, valueTwo = 0): LinuxSeccompArg[] =>
  (['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const)
    .map((op) => ({ index, value, ...(op === 'SCMP_CMP_MASKED_EQ' ? { valueTwo } : {}), op }));

const PROFILES: Record<string, LinuxSeccomp> = {
  'allow by default, a deny list with every action': {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: [x86_64],
    syscalls: [
      { names: ['getcwd', 'chroot'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      { names: ['mount'], action: 'SCMP_ACT_ERRNO' },
      { names: ['reboot'], action: 'SCMP_ACT_KILL_PROCESS' },
      { names: ['kexec_load'], action: 'SCMP_ACT_KILL' },
      { names: ['swapon'], action: 'SCMP_ACT_KILL_THREAD' },
      { names: ['ptrace'], action: 'SCMP_ACT_TRAP' },
      { names: ['acct'], action: 'SCMP_ACT_TRACE', errnoRet: 7 },
      { names: ['syslog'], action: 'SCMP_ACT_LOG' },
      { names: ['getpid'], action: 'SCMP_ACT_ALLOW' },
    ],
  },
  'deny by default with ENOSYS, x86 and x32 too': {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38,
    architectures: [x86_64, 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: ['read', 'write', 'exit', 'exit_group', 'openat', 'close', 'mmap', 'brk', 'rt_sigreturn', 'futex'], action: 'SCMP_ACT_ALLOW' },
      { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
      { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
    ],
  },
  'every comparison, with 64-bit values': {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: [x86_64],
    syscalls: [
      { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0x1_0000_0005, op: 'SCMP_CMP_GT' }] },
      { names: ['setns'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0x8000_0000_0000, op: 'SCMP_CMP_GE' }] },
      { names: ['unshare'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0x2_0000_0000, op: 'SCMP_CMP_LT' }] },
      { names: ['setuid'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0x1_ffff_ffff, op: 'SCMP_CMP_LE' }] },
      { names: ['setgid'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 0x3_0000_0007, op: 'SCMP_CMP_NE' }] },
      { names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0xffff_0000_ffff, valueTwo: 0x1234_0000_5678, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['mmap'], action: 'SCMP_ACT_KILL_PROCESS', args: [{ index: 2, value: 7, op: 'SCMP_CMP_EQ' }, { index: 3, value: 0x20, op: 'SCMP_CMP_MASKED_EQ', valueTwo: 0x20 }] },
    ],
  },
  'a repeated argument index means OR (runc)': {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: [x86_64],
    syscalls: [{ names: ['prctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 22, op: 'SCMP_CMP_EQ' }, { index: 0, value: 38, op: 'SCMP_CMP_EQ' }] }],
  },
};
for (const [i, op] of everyOp(0, 0x10).entries()) {
  PROFILES[`${op.op} alone, against a 32-bit ABI too`] = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: [x86_64, 'SCMP_ARCH_X86'],
    syscalls: [{ names: ['fchmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 10 + i, args: [op] }],
  };
}

/** The helper needs gcc and libseccomp-dev: a failure in CI, a skip on a laptop without them. */
function needsHelper(t: TestContext): boolean {
  try {
    helper();
    return true;
  } catch (e) {
    return !lacks(t, (e as Error).message);
  }
}

for (const [name, profile] of Object.entries(PROFILES)) {
  test(`same verdicts as libseccomp: ${name}`, (t) => {
    if (needsHelper(t)) assertSameVerdicts(profile);
  });
}

test('same verdicts as libseccomp: podman\'s default profile (default capabilities)', (t) => {
  if (!needsHelper(t)) return;
  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT'];
  if (lacks(t, !existsSync(PODMAN_PROFILE) && `${PODMAN_PROFILE} is missing: install golang-github-containers-common`)) return;
  const podman = JSON.parse(readFileSync(PODMAN_PROFILE, 'utf8')) as SeccompTemplate;
  assertSameVerdicts(resolveTemplate(podman, { caps, machine: 'x64' }));
});

test('same verdicts as libseccomp: runts\'s own default profile, with CAP_SYS_ADMIN and without', (t) => {
  if (!needsHelper(t)) return;
  assertSameVerdicts(resolveTemplate(DEFAULT_SECCOMP_TEMPLATE, { caps: ['CAP_KILL', 'CAP_AUDIT_WRITE'], machine: 'x64' }));
  assertSameVerdicts(resolveTemplate(DEFAULT_SECCOMP_TEMPLATE, { caps: ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'], machine: 'x64' }));
});
