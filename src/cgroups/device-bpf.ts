/**
 * cgroup v2 device rules as an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE).
 * The kernel runs it on every open or mknod of a device node by a process of
 * the cgroup, with a struct bpf_cgroup_dev_ctx:
 *
 *   u32 access_type   (access << 16) | type; access: MKNOD 1, READ 2,
 *                     WRITE 4; type: BLOCK 1, CHAR 2
 *   u32 major, u32 minor
 *
 * and allows the access when it returns 1. The rule list (device-rules.ts)
 * is checked from its last rule back, since the last matching rule decides;
 * a rule matches when its type, major and minor match (or are wildcards)
 * and it grants every bit the request asks for. No match: deny.
 *
 * The executor loads and attaches it (native/steps_cgroup.c).
 *
 * The book: docs/05-cgroups.md, "Devices".
 */
import type { Step } from '../protocol/steps.ts';
import type { DeviceRule } from './device-rules.ts';

// eBPF opcodes (linux/bpf.h): class | op | source
const LDX_MEM_W = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JMP_JNE_K = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_EXIT = 0x95; // BPF_JMP | BPF_EXIT

export const DEV_TYPE = { b: 1, c: 2 } as const;
export const DEV_ACCESS = { m: 1, r: 2, w: 4 } as const;

export interface Insn { code: number; dst: number; src: number; off: number; imm: number }

const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });

/*
 * Registers: r1 the context; r2 type, r3 access, r4 major, r5 minor;
 * r6 scratch; r0 the verdict.
 */
export function deviceProgram(rules: DeviceRule[]): Insn[] {
  const prog: Insn[] = [
    insn(LDX_MEM_W, 2, 1, 0, 0), // r2 = ctx->access_type
    insn(ALU32_AND_K, 2, 0, 0, 0xffff), //   & 0xffff: the type
    insn(LDX_MEM_W, 3, 1, 0, 0), // r3 = ctx->access_type
    insn(ALU32_RSH_K, 3, 0, 0, 16), //   >> 16: the access bits
    insn(LDX_MEM_W, 4, 1, 4, 0), // r4 = ctx->major
    insn(LDX_MEM_W, 5, 1, 8, 0), // r5 = ctx->minor
  ];
  for (const rule of [...rules].reverse()) {
    const checks: Insn[][] = [];
    if (rule.type !== 'a') checks.push([insn(JMP_JNE_K, 2, 0, 0, DEV_TYPE[rule.type])]);
    const mask = [...rule.access].reduce((m, a) => m | DEV_ACCESS[a as keyof typeof DEV_ACCESS], 0);
    if (mask !== 7) {
      // the request must ask for nothing outside the rule's bits
      checks.push([insn(ALU32_MOV_X, 6, 3, 0, 0), insn(ALU32_AND_K, 6, 0, 0, ~mask & 7), insn(JMP_JNE_K, 6, 0, 0, 0)]);
    }
    if (rule.type !== 'a' && rule.major !== -1) checks.push([insn(JMP_JNE_K, 4, 0, 0, rule.major)]);
    if (rule.type !== 'a' && rule.minor !== -1) checks.push([insn(JMP_JNE_K, 5, 0, 0, rule.minor)]);
    const block = [...checks.flat(), insn(ALU64_MOV_K, 0, 0, 0, rule.allow ? 1 : 0), insn(JMP_EXIT, 0, 0, 0, 0)];
    // each jump skips to the end of this rule's block
    block.forEach((ins, i) => {
      if (ins.code === JMP_JNE_K) ins.off = block.length - i - 1;
    });
    prog.push(...block);
    // A rule without checks matches everything: what follows could never
    // run, and the verifier refuses unreachable instructions.
    if (checks.length === 0) return prog;
  }
  prog.push(insn(ALU64_MOV_K, 0, 0, 0, 0), insn(JMP_EXIT, 0, 0, 0, 0));
  return prog;
}

/** struct bpf_insn: u8 code, u8 dst:4 | src:4, s16 off, s32 imm (little endian hosts). */
export function encodeProgram(prog: Insn[]): Uint8Array {
  const buf = new DataView(new ArrayBuffer(prog.length * 8));
  prog.forEach((p, i) => {
    buf.setUint8(i * 8, p.code);
    buf.setUint8(i * 8 + 1, (p.src << 4) | p.dst);
    buf.setInt16(i * 8 + 2, p.off, true);
    buf.setInt32(i * 8 + 4, p.imm, true);
  });
  return new Uint8Array(buf.buffer);
}

export function deviceFilterStep(dir: string, rules: DeviceRule[]): Step {
  const prog = deviceProgram(rules);
  return {
    op: 'STEP_CGROUP_DEVICE_FILTER',
    actor: 'parent',
    values: [{ kind: 'str', value: dir }, { kind: 'str', value: encodeProgram(prog) }],
    text: `attach a device program to ${dir} (${rules.length} rules, ${prog.length} eBPF instructions)`,
  };
}
