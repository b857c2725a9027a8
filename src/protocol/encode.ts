/**
 * Encode a list of steps into the binary plan native/protocol.h describes
 * (printed as words by explain.ts).
 *
 * The book: docs/09-writing-runtime.md, "The plan and the C stage".
 */
import { RUNTS_PLAN_MAGIC, RUNTS_PROTOCOL_VERSION, STEP, VAL } from './protocol.ts';
import type { Step, Value } from './steps.ts';

class Writer {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer) {
    this.chunks.push(b);
    this.length += b.length;
  }
  u8(n: number) {
    this.push(Buffer.of(n));
  }
  u32(n: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n >>> 0);
    this.push(b);
  }
  u64(n: bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, n));
    this.push(b);
  }
  bytes(v: string | Uint8Array) {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
    if (typeof v === 'string' && b.includes(0)) throw new Error(`plan string contains a NUL byte: ${JSON.stringify(v)}`);
    this.u32(b.length);
    this.push(b);
  }
  buffer() {
    return Buffer.concat(this.chunks, this.length);
  }
}

function writeValue(w: Writer, v: Value) {
  switch (v.kind) {
    case 'int':
      w.u8(VAL.VAL_INT);
      w.u64(v.value);
      break;
    case 'str':
      w.u8(VAL.VAL_STR);
      w.bytes(v.value);
      break;
    case 'strs':
      w.u8(VAL.VAL_STRS);
      w.u32(v.value.length);
      for (const s of v.value) w.bytes(s);
      break;
    case 'ints':
      w.u8(VAL.VAL_INTS);
      w.u32(v.value.length);
      for (const n of v.value) w.u64(n);
      break;
  }
}

export function encodePlan(plan: Step[]): Buffer {
  if (!isLittleEndian()) throw new Error('runts: big-endian hosts are not supported');
  const w = new Writer();
  w.u32(RUNTS_PLAN_MAGIC);
  w.u32(RUNTS_PROTOCOL_VERSION);
  w.u32(plan.length);
  w.u32(0);
  for (const s of plan) {
    const payload = new Writer();
    for (const v of s.values) writeValue(payload, v);
    w.u32(STEP[s.op]);
    w.u32(payload.length);
    w.push(payload.buffer());
  }
  return w.buffer();
}

function isLittleEndian() {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
