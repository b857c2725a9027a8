/**
 * A classic BPF interpreter for seccomp filters: runs a filter on one
 * struct seccomp_data the way the kernel would, without loading it. The
 * tests use it to ask a filter (ours, or libseccomp's) what it does with a
 * syscall, with no root and no risk.
 *
 * The book: docs/08-security.md, "runts's seccomp compiler" (labs/08-security/bpf.ts
 * runs it on a profile).
 */
import type { Instruction } from './bpf.ts';

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  args?: bigint[];
}

/** struct seccomp_data as 64 little-endian bytes. */
function layout(d: SeccompData): Buffer {
  const b = Buffer.alloc(64);
  b.writeInt32LE(d.nr | 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  b.writeBigUInt64LE(BigInt.asUintN(64, d.instructionPointer ?? 0n), 8);
  for (let i = 0; i < 6; i++) b.writeBigUInt64LE(BigInt.asUintN(64, d.args?.[i] ?? 0n), 16 + 8 * i);
  return b;
}

/** The filter's return value (SECCOMP_RET_* | data). Throws on a malformed program. */
export function runFilter(program: Instruction[], d: SeccompData): number {
  const data = layout(d);
  const mem = new Uint32Array(16);
  let A = 0;
  let X = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const { code, jt, jf, k } = program[pc]!;
    const cls = code & 0x07;
    switch (cls) {
      case 0x00: // LD
      case 0x01: { // LDX
        const mode = code & 0xe0;
        const size = code & 0x18;
        let v: number;
        if (mode === 0x20) { // ABS
          if (size !== 0x00 || k % 4 || k + 4 > 64) throw new Error(`bpf: bad load at ${pc} (offset ${k})`);
          v = data.readUInt32LE(k);
        } else if (mode === 0x00) v = k >>> 0; // IMM
        else if (mode === 0x60) v = mem[k]!; // MEM
        else if (mode === 0x80) v = 64; // LEN
        else throw new Error(`bpf: unsupported load ${code.toString(16)} at ${pc}`);
        if (cls === 0x00) A = v; else X = v;
        break;
      }
      case 0x02: mem[k] = A; break; // ST
      case 0x03: mem[k] = X; break; // STX
      case 0x04: { // ALU
        const src = code & 0x08 ? X : k;
        switch (code & 0xf0) {
          case 0x00: A = (A + src) >>> 0; break;
          case 0x10: A = (A - src) >>> 0; break;
          case 0x20: A = Math.imul(A, src) >>> 0; break;
          case 0x30: if (src === 0) return 0; A = Math.floor(A / src) >>> 0; break;
          case 0x40: A = (A | src) >>> 0; break;
          case 0x50: A = (A & src) >>> 0; break;
          case 0x60: A = src >= 32 ? 0 : (A << src) >>> 0; break;
          case 0x70: A = src >= 32 ? 0 : A >>> src; break;
          case 0x80: A = (-A) >>> 0; break;
          case 0xa0: A = (A ^ src) >>> 0; break;
          default: throw new Error(`bpf: unsupported alu ${code.toString(16)} at ${pc}`);
        }
        break;
      }
      case 0x05: { // JMP
        const src = code & 0x08 ? X : k >>> 0;
        let taken: boolean;
        switch (code & 0xf0) {
          case 0x00: pc += k; continue;
          case 0x10: taken = A === src; break;
          case 0x20: taken = A > src; break;
          case 0x30: taken = A >= src; break;
          case 0x40: taken = (A & src) !== 0; break;
          default: throw new Error(`bpf: unsupported jump ${code.toString(16)} at ${pc}`);
        }
        pc += taken ? jt : jf;
        break;
      }
      case 0x06: return (code & 0x18) === 0x10 ? A : k >>> 0; // RET A / RET K
      case 0x07: if (code & 0x80) A = X; else X = A; break; // TXA / TAX
    }
  }
  throw new Error('bpf: fell off the end of the filter');
}
