/**
 * Classic BPF, the language of seccomp filters: the opcodes we emit, an
 * assembler with symbolic labels, and the encoding the kernel reads
 * (struct sock_filter: u16 code, u8 jt, u8 jf, u32 k).
 *
 * Conditional jumps only reach 255 instructions forward; the assembler
 * keeps that promise itself by placing an unconditional `ja` (32-bit reach)
 * right after any jump whose target is further away, and repeating until
 * every offset fits. All jumps go forward: BPF has no loops, which is why
 * the kernel can prove a filter terminates.
 *
 * The book: docs/08-security.md, "seccomp by hand" and "runts's seccomp compiler".
 */
import { RuntsError } from '../../errors.ts';

export const BPF = {
  LD_W_ABS: 0x20, // A = 32-bit word at offset k of struct seccomp_data
  ALU_AND_K: 0x54, // A &= k
  JA: 0x05, // pc += k
  JEQ_K: 0x15, // pc += (A == k) ? jt : jf
  JGT_K: 0x25, // unsigned >
  JGE_K: 0x35, // unsigned >=
  JSET_K: 0x45, // A & k != 0
  RET_K: 0x06, // return k
} as const;

/** The kernel refuses longer programs (BPF_MAXINSNS). */
export const MAX_INSTRUCTIONS = 4096;

export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A jump target: a label's name. */
export type Label = string;

interface Pending {
  code: number;
  k: number;
  jt?: Label;
  jf?: Label;
  /** for JA: where to go */
  to?: Label;
}

export class Assembler {
  private code: Pending[] = [];
  /** label -> index of the instruction it names */
  private labels = new Map<Label, number>();
  private unnamed = 0;

  /** A fresh label name, for code that needs one. */
  fresh(hint = 'L'): Label {
    return `${hint}#${++this.unnamed}`;
  }

  /** Name the next instruction. */
  label(name: Label): this {
    if (this.labels.has(name)) throw new Error(`bpf: label ${name} defined twice`);
    this.labels.set(name, this.code.length);
    return this;
  }

  load(offset: number): this {
    this.code.push({ code: BPF.LD_W_ABS, k: offset });
    return this;
  }

  and(mask: number): this {
    this.code.push({ code: BPF.ALU_AND_K, k: mask >>> 0 });
    return this;
  }

  /** A conditional jump; a missing target means the next instruction. */
  jump(code: number, k: number, jt?: Label, jf?: Label): this {
    this.code.push({ code, k: k >>> 0, jt, jf });
    return this;
  }

  goto(to: Label): this {
    this.code.push({ code: BPF.JA, k: 0, to });
    return this;
  }

  ret(k: number): this {
    this.code.push({ code: BPF.RET_K, k: k >>> 0 });
    return this;
  }

  get length(): number {
    return this.code.length;
  }

  /** Resolve labels (adding trampolines for far jumps) and encode. */
  assemble(): Instruction[] {
    const code = this.code.map((p) => ({ ...p }));
    const labels = new Map(this.labels);
    const at = (l: Label | undefined, from: number) => {
      if (l === undefined) return from + 1;
      const i = labels.get(l);
      if (i === undefined) throw new Error(`bpf: label ${l} is never defined`);
      return i;
    };
    for (let changed = true; changed;) {
      changed = false;
      for (let i = 0; i < code.length && !changed; i++) {
        const p = code[i]!;
        if (p.code === BPF.JA || p.code === BPF.RET_K || p.code === BPF.LD_W_ABS || p.code === BPF.ALU_AND_K) continue;
        const far = (['jt', 'jf'] as const).filter((side) => at(p[side], i) - i - 1 > 255);
        if (!far.length) continue;
        // The trampolines sit right after the jump, where only the jump can
        // reach them; a fall-through side gets a label first, so it still
        // lands on the instruction that followed the jump.
        for (const side of ['jt', 'jf'] as const) {
          if (p[side] !== undefined) continue;
          const name = `next#${++this.unnamed}`;
          labels.set(name, i + 1);
          p[side] = name;
        }
        const inserted: Pending[] = [];
        for (const side of far) {
          inserted.push({ code: BPF.JA, k: 0, to: p[side] });
          p[side] = `tramp#${++this.unnamed}`;
        }
        // Every label at or after i+1 moves down by the number inserted.
        for (const [l, idx] of labels) if (idx > i) labels.set(l, idx + inserted.length);
        far.forEach((side, n) => labels.set(p[side]!, i + 1 + n));
        code.splice(i + 1, 0, ...inserted);
        changed = true;
      }
    }
    if (code.length > MAX_INSTRUCTIONS) {
      throw new RuntsError('EINVAL_CONFIG', `linux.seccomp: the filter needs ${code.length} BPF instructions, more than the kernel's ${MAX_INSTRUCTIONS}`);
    }
    return code.map((p, i) => {
      if (p.code === BPF.JA) {
        const to = at(p.to, i);
        if (to <= i) throw new Error('bpf: backward jump');
        return { code: p.code, jt: 0, jf: 0, k: to - i - 1 };
      }
      const jt = p.jt === undefined && p.jf === undefined && !isJump(p.code) ? 0 : at(p.jt, i) - i - 1;
      const jf = !isJump(p.code) ? 0 : at(p.jf, i) - i - 1;
      if (jt < 0 || jf < 0) throw new Error('bpf: backward jump');
      return { code: p.code, jt: isJump(p.code) ? jt : 0, jf, k: p.k >>> 0 };
    });
  }
}

function isJump(code: number): boolean {
  return (code & 0x07) === 0x05 && code !== BPF.JA;
}

/** struct sock_filter[], little-endian, as seccomp(2) takes it. */
export function encodeFilter(program: Instruction[]): Uint8Array {
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((ins, i) => {
    buf.writeUInt16LE(ins.code, i * 8);
    buf.writeUInt8(ins.jt, i * 8 + 2);
    buf.writeUInt8(ins.jf, i * 8 + 3);
    buf.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return new Uint8Array(buf);
}

export function decodeFilter(bytes: Uint8Array): Instruction[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Instruction[] = [];
  for (let o = 0; o + 8 <= buf.length; o += 8) {
    out.push({ code: buf.readUInt16LE(o), jt: buf.readUInt8(o + 2), jf: buf.readUInt8(o + 3), k: buf.readUInt32LE(o + 4) });
  }
  return out;
}
