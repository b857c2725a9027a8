/**
 * Compile an OCI `linux.seccomp` profile into the classic BPF program the
 * kernel runs on every system call of the container.
 *
 * The program, per call:
 *   1. load the audit arch; an ABI the profile does not list is killed
 *      (the native ABI is always listed, as libseccomp and runc do);
 *   2. load the syscall number and find it by binary search over ranges of
 *      numbers that share a verdict (x32 numbers, bit 30 set under x86_64's
 *      audit arch, branch to their own section);
 *   3. a syscall with argument rules tries them in profile order: the first
 *      rule whose every comparison holds gives its action, else the default.
 *      Arguments are 64-bit; BPF compares 32-bit words, so each comparison is
 *      done on the high word, then the low one (32-bit ABIs: low word only).
 *
 * runc's rules are kept: a rule with the default action is dropped; a rule
 * comparing one argument more than once becomes one rule per comparison
 * (they are ORed); an unknown syscall name is skipped with a warning, unless
 * the profile names nothing this kernel knows.
 *
 * The book: docs/08-security.md, "runts's seccomp compiler"; where the step goes:
 * "Why the order of the steps matters".
 */
import { RuntsError } from '../../errors.ts';
import type { LinuxSeccomp, LinuxSeccompArg, SeccompAction, SeccompArch, SeccompFlag } from '../../oci/types.ts';
import { ARCHES, knownAnywhere, nativeArch, type Arch } from './arch.ts';
import { Assembler, BPF, encodeFilter, type Instruction, type Label } from './bpf.ts';

/** <linux/seccomp.h> return values. */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** <linux/seccomp.h> flags of seccomp(SECCOMP_SET_MODE_FILTER). */
export const SECCOMP_FILTER_FLAG: Record<SeccompFlag, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};

const EPERM = 1;
const ENOSYS = 38;

/**
 * Defaults that let through what they do not know: no ENOSYS for newer
 * syscalls (a tracer handles them itself; runc's list).
 */
const PERMISSIVE: readonly SeccompAction[] = ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'];

/** struct seccomp_data offsets. */
const NR = 0;
const ARCH = 4;
const argLow = (i: number) => 16 + 8 * i;
const argHigh = (i: number) => 20 + 8 * i;

export interface CompiledSeccomp {
  program: Instruction[];
  /** the program as struct sock_filter[] */
  filter: Uint8Array;
  flags: number;
  /** one line for `runts plan --explain` */
  summary: string;
}

export interface SeccompOptions {
  warn: (msg: string) => void;
  /** the ABI to filter besides those listed; the host's by default */
  native?: SeccompArch;
}

interface Rule {
  ret: number;
  args: LinuxSeccompArg[];
}

const FIELD = 'linux.seccomp';

/** The return value of an action; errnoRet defaults to EPERM for ERRNO and TRACE (runc). */
export function actionValue(action: SeccompAction, errnoRet: number | undefined, path: string): number {
  const data = (n: number | undefined) => {
    const v = n ?? EPERM;
    if (v > 0xffff) throw new RuntsError('EINVAL_CONFIG', `${path}: errno ${v} does not fit the 16 bits seccomp returns`, { path });
    return v;
  };
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD': return SECCOMP_RET.KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS': return SECCOMP_RET.KILL_PROCESS;
    case 'SCMP_ACT_TRAP': return SECCOMP_RET.TRAP;
    case 'SCMP_ACT_ERRNO': return (SECCOMP_RET.ERRNO | data(errnoRet)) >>> 0;
    case 'SCMP_ACT_TRACE': return (SECCOMP_RET.TRACE | data(errnoRet)) >>> 0;
    case 'SCMP_ACT_ALLOW': return SECCOMP_RET.ALLOW;
    case 'SCMP_ACT_LOG': return SECCOMP_RET.LOG;
    case 'SCMP_ACT_NOTIFY':
      throw new RuntsError('ENOTSUP', `${path}: SCMP_ACT_NOTIFY (a seccomp agent on listenerPath) is not supported by runts`, { path });
  }
}

export function compileSeccomp(profile: LinuxSeccomp, opts: SeccompOptions): CompiledSeccomp {
  if (profile.listenerPath !== undefined) {
    throw new RuntsError('ENOTSUP', `${FIELD}.listenerPath: seccomp agents (SCMP_ACT_NOTIFY) are not supported by runts`, { path: `${FIELD}.listenerPath` });
  }
  const defaultRet = actionValue(profile.defaultAction, profile.defaultErrnoRet, `${FIELD}.defaultAction`);
  // A syscall newer than every one the profile names fails with ENOSYS, not
  // the default: libc then falls back to an older call (clone3 -> clone), as
  // on a kernel that lacks it. runc's filter does the same.
  const enosysRet = PERMISSIVE.includes(profile.defaultAction) ? undefined : (SECCOMP_RET.ERRNO | ENOSYS) >>> 0;
  const arches = selectArches(profile.architectures ?? [], opts);
  const rules = collectRules(profile, defaultRet, arches, opts.warn);
  const flags = (profile.flags ?? []).reduce((f, name) => f | SECCOMP_FILTER_FLAG[name], 0);

  const asm = new Assembler();
  asm.load(ARCH);
  const audits = [...new Set(arches.map((a) => a.audit))];
  for (const audit of audits) asm.jump(BPF.JEQ_K, audit, `audit:${audit}`);
  asm.ret(SECCOMP_RET.KILL_PROCESS);
  for (const audit of audits) {
    asm.label(`audit:${audit}`);
    // ABIs sharing an audit arch (x86_64, x32) split the number space.
    emitDispatch(asm, arches.filter((a) => a.audit === audit), rules, defaultRet, enosysRet === undefined ? undefined : { ret: enosysRet, profile });
  }
  const rets = new Set([defaultRet, SECCOMP_RET.KILL_PROCESS, ...(enosysRet === undefined ? [] : [enosysRet])]);
  for (const arch of arches) {
    for (const list of emitRuleBlocks(asm, arch, rules.get(arch)!, defaultRet)) rets.add(list[0]!.ret);
  }
  for (const r of rets) asm.label(retLabel(r)).ret(r);
  const program = asm.assemble();
  const listed = arches.map((a) => a.name.replace('SCMP_ARCH_', '').toLowerCase()).join(', ');
  const ruleCount = [...rules.values()].reduce((n, m) => n + m.size, 0);
  const summary = `${program.length} BPF instructions, default ${profile.defaultAction}${profile.defaultErrnoRet !== undefined ? `(${profile.defaultErrnoRet})` : ''}, ${ruleCount} syscall verdicts, arches ${listed}` +
    (flags ? `, flags ${(profile.flags ?? []).join('|')}` : '');
  return { program, filter: encodeFilter(program), flags, summary };
}

function selectArches(names: SeccompArch[], opts: SeccompOptions): Arch[] {
  const out: Arch[] = [ARCHES[opts.native ?? nativeArch()]!];
  names.forEach((name, i) => {
    const arch = ARCHES[name];
    if (!arch) {
      // an ABI this host's CPU cannot run, or one we have no table for: its
      // calls are killed, which is what leaving it out of the filter means
      opts.warn(`${FIELD}.architectures[${i}]: ${name} is not filtered by runts (no syscall table); its syscalls will be killed`);
      return;
    }
    if (!out.includes(arch)) out.push(arch);
  });
  return out;
}

/** arch -> syscall number -> its rules, in profile order. */
function collectRules(profile: LinuxSeccomp, defaultRet: number, arches: Arch[], warn: (m: string) => void): Map<Arch, Map<number, Rule[]>> {
  const out = new Map<Arch, Map<number, Rule[]>>(arches.map((a) => [a, new Map()]));
  let named = 0;
  let known = 0;
  const unknown: string[] = [];
  (profile.syscalls ?? []).forEach((s, i) => {
    const path = `${FIELD}.syscalls[${i}]`;
    const ret = actionValue(s.action, s.errnoRet, `${path}.action`);
    const args = s.args ?? [];
    args.forEach((a, j) => checkArg(a, `${path}.args[${j}]`));
    s.names.forEach((name, j) => {
      named++;
      if (!knownAnywhere(name)) {
        unknown.push(`${path}.names[${j}]: unknown syscall "${name}"; skipped`);
        return;
      }
      known++;
      if (ret === defaultRet) return; // libseccomp refuses these; they change nothing
      for (const arch of arches) {
        const nr = arch.syscalls[name];
        if (nr === undefined) continue; // a syscall this ABI does not have
        const list = out.get(arch)!.get(nr) ?? [];
        for (const conds of splitRepeated(args)) list.push({ ret, args: conds });
        out.get(arch)!.set(nr, list);
      }
    });
  });
  if (named > 0 && known === 0) {
    throw new RuntsError('EINVAL_CONFIG', `${FIELD}.syscalls: none of the ${named} syscall names is known (first: "${profile.syscalls![0]!.names[0]}")`, { path: `${FIELD}.syscalls` });
  }
  for (const w of unknown) warn(w);
  return out;
}

/** runc: comparisons that repeat an argument index are ORed, one rule each. */
function splitRepeated(args: LinuxSeccompArg[]): LinuxSeccompArg[][] {
  const seen = new Set<number>();
  const repeated = args.some((a) => seen.size === seen.add(a.index).size);
  return repeated ? args.map((a) => [a]) : [args];
}

function checkArg(a: LinuxSeccompArg, path: string) {
  for (const [field, v] of [['value', a.value], ['valueTwo', a.valueTwo ?? 0]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RuntsError('EINVAL_CONFIG', `${path}.${field}: ${v} is not an unsigned integer runts can represent exactly`, { path: `${path}.${field}` });
    }
  }
}

/** Binary search over the number space of the ABIs under one audit arch. */
function emitDispatch(asm: Assembler, abis: Arch[], rules: Map<Arch, Map<number, Rule[]>>, defaultRet: number, enosys: { ret: number; profile: LinuxSeccomp } | undefined) {
  const kill = retLabel(SECCOMP_RET.KILL_PROCESS);
  // [start, target] pairs covering 0 .. 2^32-1; a target is a label
  const intervals: [number, Label][] = [];
  const push = (start: number, target: Label) => {
    if (intervals[intervals.length - 1]?.[0] === start) intervals.pop();
    if (intervals[intervals.length - 1]?.[1] === target) return;
    intervals.push([start, target]);
  };
  const defaultLabel = retLabel(defaultRet);
  const owners = [...abis].sort((a, b) => a.nrRange[0] - b.nrRange[0]);
  let cursor = 0;
  for (const arch of owners) {
    if (arch.nrRange[0] > cursor) push(cursor, kill);
    const table = rules.get(arch)!;
    push(arch.nrRange[0], defaultLabel);
    const numbers = [...table.keys()].sort((a, b) => a - b);
    for (const nr of numbers) {
      push(nr, targetOf(arch, nr, table.get(nr)!));
      if (nr + 1 <= arch.nrRange[1]) push(nr + 1, defaultLabel);
    }
    // above the newest syscall the profile names for this ABI, whatever its
    // action: ENOSYS
    const newest = enosys && newestNamed(enosys.profile, arch);
    if (enosys && newest !== undefined && newest + 1 <= arch.nrRange[1]) push(newest + 1, retLabel(enosys.ret));
    cursor = arch.nrRange[1] + 1;
  }
  if (cursor <= 0xffffffff) push(cursor, kill);
  if (abis.some((a) => a.ownsMinusOne)) push(0xffffffff, defaultLabel);
  asm.load(NR);
  emitSearch(asm, intervals);
}

function newestNamed(profile: LinuxSeccomp, arch: Arch): number | undefined {
  const numbers = (profile.syscalls ?? []).flatMap((s) => s.names.map((n) => arch.syscalls[n])).filter((n) => n !== undefined);
  return numbers.length ? Math.max(...numbers) : undefined;
}

function emitSearch(asm: Assembler, intervals: [number, Label][]) {
  if (intervals.length === 1) {
    asm.goto(intervals[0]![1]);
    return;
  }
  const mid = intervals.length >> 1;
  const right = asm.fresh('ge');
  const leftTarget = mid === 1 ? intervals[0]![1] : undefined;
  const rightTarget = intervals.length - mid === 1 ? intervals[mid]![1] : right;
  asm.jump(BPF.JGE_K, intervals[mid]![0], rightTarget, leftTarget);
  if (!leftTarget) emitSearch(asm, intervals.slice(0, mid));
  if (rightTarget === right) {
    asm.label(right);
    emitSearch(asm, intervals.slice(mid));
  }
}

const retLabel = (ret: number) => `ret:${ret >>> 0}`;
const blockLabel = (arch: Arch, nr: number) => `sys:${arch.name}:${nr}`;

function targetOf(arch: Arch, nr: number, list: Rule[]): Label {
  return list[0]!.args.length === 0 ? retLabel(list[0]!.ret) : blockLabel(arch, nr);
}

/** The argument rules of each syscall that has some; returns every rule list. */
function emitRuleBlocks(asm: Assembler, arch: Arch, table: Map<number, Rule[]>, defaultRet: number): Rule[][] {
  for (const [nr, list] of table) {
    if (list[0]!.args.length === 0) continue;
    asm.label(blockLabel(arch, nr));
    for (const rule of list) {
      if (rule.args.length === 0) {
        asm.ret(rule.ret);
        break;
      }
      const next = asm.fresh('rule');
      for (const a of rule.args) emitComparison(asm, a, arch.bits, next);
      asm.ret(rule.ret);
      asm.label(next);
    }
    if (list[list.length - 1]!.args.length) asm.ret(defaultRet);
  }
  return [...table.values()];
}

/** Falls through when the comparison holds, jumps to fail when not. */
function emitComparison(asm: Assembler, a: LinuxSeccompArg, bits: 32 | 64, fail: Label) {
  const v = BigInt(a.value);
  const hi = (n: bigint) => Number((n >> 32n) & 0xffffffffn);
  const lo = (n: bigint) => Number(n & 0xffffffffn);
  const pass = asm.fresh('pass');
  const wide = bits === 64;
  switch (a.op) {
    case 'SCMP_CMP_EQ':
      if (wide) asm.load(argHigh(a.index)).jump(BPF.JEQ_K, hi(v), undefined, fail);
      asm.load(argLow(a.index)).jump(BPF.JEQ_K, lo(v), undefined, fail);
      break;
    case 'SCMP_CMP_NE':
      if (wide) asm.load(argHigh(a.index)).jump(BPF.JEQ_K, hi(v), undefined, pass);
      asm.load(argLow(a.index)).jump(BPF.JEQ_K, lo(v), fail, undefined);
      break;
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE': {
      const low = a.op === 'SCMP_CMP_GT' ? BPF.JGT_K : BPF.JGE_K;
      if (wide) asm.load(argHigh(a.index)).jump(BPF.JGT_K, hi(v), pass).jump(BPF.JEQ_K, hi(v), undefined, fail);
      asm.load(argLow(a.index)).jump(low, lo(v), undefined, fail);
      break;
    }
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE': {
      // LT is "not GE", LE is "not GT"
      const low = a.op === 'SCMP_CMP_LT' ? BPF.JGE_K : BPF.JGT_K;
      if (wide) asm.load(argHigh(a.index)).jump(BPF.JGT_K, hi(v), fail).jump(BPF.JEQ_K, hi(v), undefined, pass);
      asm.load(argLow(a.index)).jump(low, lo(v), fail, undefined);
      break;
    }
    case 'SCMP_CMP_MASKED_EQ': {
      const d = BigInt(a.valueTwo ?? 0);
      if (wide) asm.load(argHigh(a.index)).and(hi(v)).jump(BPF.JEQ_K, hi(d), undefined, fail);
      asm.load(argLow(a.index)).and(lo(v)).jump(BPF.JEQ_K, lo(d), undefined, fail);
      break;
    }
  }
  asm.label(pass);
}
