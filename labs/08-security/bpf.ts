/**
 * bpf.ts - look inside a seccomp filter made by runts's compiler.
 *
 *   node bpf.ts PROFILE.json [SYSCALL...]
 *
 * PROFILE.json is an OCI `linux.seccomp` object (or a whole config.json).
 * Prints the compiler's one-line summary (the one `runts plan` shows), the
 * classic BPF program as assembly, and then, for each SYSCALL, what the
 * filter answers when that call arrives from x86_64, x32 and i386
 * processes: the interpreter (src/security/seccomp/interpret.ts) runs the
 * program on a struct seccomp_data the way the kernel would, no root needed.
 * Needs Node 24 (it runs runts's TypeScript sources directly).
 *
 * The book: docs/08-security.md, "runts's seccomp compiler".
 */
import { readFileSync } from 'node:fs';
import { ARCHES, AUDIT_ARCH, X32_SYSCALL_BIT } from '../../src/security/seccomp/arch.ts';
import { BPF, type Instruction } from '../../src/security/seccomp/bpf.ts';
import { compileSeccomp, SECCOMP_RET } from '../../src/security/seccomp/compile.ts';
import { runFilter } from '../../src/security/seccomp/interpret.ts';

const [file, ...calls] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bpf.ts PROFILE.json [SYSCALL...]');
  process.exit(2);
}
const json = JSON.parse(readFileSync(file, 'utf8'));
const profile = json.linux?.seccomp ?? json;
const compiled = compileSeccomp(profile, { warn: (m) => console.error(`warning: ${m}`), native: 'SCMP_ARCH_X86_64' });

/** A return value as a name: ALLOW, ERRNO(1), KILL_PROCESS... */
function verdict(ret: number): string {
  const action = (ret & 0xffff0000) >>> 0;
  const data = ret & 0xffff;
  const name = Object.entries(SECCOMP_RET).find(([, v]) => v >>> 0 === (action === 0 ? 0 : action))?.[0] ?? `0x${action.toString(16)}`;
  return name === 'ERRNO' || name === 'TRACE' ? `${name}(${data})` : name;
}

const hex = (n: number) => '0x' + (n >>> 0).toString(16);
const AUDIT_NAMES: Record<number, string> = { [AUDIT_ARCH.X86_64]: 'x86_64', [AUDIT_ARCH.I386]: 'i386', [AUDIT_ARCH.AARCH64]: 'aarch64' };
const FIELDS: Record<number, string> = { 0: 'nr', 4: 'arch' };

const note = (text: string, comment?: string) => (comment ? `${text.padEnd(28)}; ${comment}` : text);

function disassemble(ins: Instruction, i: number): string {
  const target = (off: number) => i + 1 + off;
  switch (ins.code) {
    case BPF.LD_W_ABS: return note(`ld   [${ins.k}]`, `A = ${FIELDS[ins.k] ?? `args[${(ins.k - 16) >> 3}], ${(ins.k - 16) % 8 ? 'high' : 'low'} word`}`);
    case BPF.ALU_AND_K: return `and  #${hex(ins.k)}`;
    case BPF.JA: return `ja   ${target(ins.k)}`;
    case BPF.RET_K: return note(`ret  #${hex(ins.k)}`, verdict(ins.k));
    default: {
      const op = { [BPF.JEQ_K]: 'jeq', [BPF.JGT_K]: 'jgt', [BPF.JGE_K]: 'jge', [BPF.JSET_K]: 'jset' }[ins.code] ?? `op${hex(ins.code)}`;
      return note(`${op.padEnd(4)} #${hex(ins.k)}, ${target(ins.jt)}, ${target(ins.jf)}`, AUDIT_NAMES[ins.k]);
    }
  }
}

console.log(compiled.summary);
compiled.program.forEach((ins, i) => console.log(`${String(i).padStart(4)}: ${disassemble(ins, i)}`));

const ABIS = [
  { label: 'x86_64', arch: AUDIT_ARCH.X86_64, table: ARCHES.SCMP_ARCH_X86_64!.syscalls },
  { label: 'x32', arch: AUDIT_ARCH.X86_64, table: ARCHES.SCMP_ARCH_X32!.syscalls },
  { label: 'i386', arch: AUDIT_ARCH.I386, table: ARCHES.SCMP_ARCH_X86!.syscalls },
];
for (const name of calls) {
  const answers = ABIS.map(({ label, arch, table }) => {
    const nr = table[name];
    if (nr === undefined) return `${label}: (none)`;
    return `${label} ${nr >= X32_SYSCALL_BIT ? hex(nr) : nr}: ${verdict(runFilter(compiled.program, { nr, arch }))}`;
  });
  console.log(`${name.padEnd(10)} ${answers.join('   ')}`);
}
