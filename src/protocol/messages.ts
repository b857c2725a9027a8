/**
 * The messages between runts and runts-init on their socket, both ways:
 * frames (u32 type | u32 length | payload, little-endian), the payloads
 * runts sends, and typed decoders for what runts-init replies. The plan
 * itself is encoded by encode.ts; every message is drawn, with its
 * payload, in native/protocol.h (twin: protocol.ts).
 *
 * The book: docs/09-writing-runtime.md, "The plan and the C stage".
 */
import { MSG } from './protocol.ts';

export interface Frame {
  type: number;
  payload: Buffer;
}

/** One frame, ready to write. */
export function encodeFrame(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(type, 0);
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

/** The whole frames at the start of buf, and what is left of it (a frame still arriving). */
export function decodeFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let off = 0;
  while (buf.length - off >= 8) {
    const len = buf.readUInt32LE(off + 4);
    if (buf.length - off < 8 + len) break;
    frames.push({ type: buf.readUInt32LE(off), payload: buf.subarray(off + 8, off + 8 + len) });
    off += 8 + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/** What runts-init says, decoded. */
export type Reply =
  /** First, before anything: the protocol it speaks. */
  | { kind: 'hello'; version: number }
  /** INIT exists: its pid in runts's pid namespace. */
  | { kind: 'pid'; pid: number }
  /** INIT paused for the host-side hooks (STEP_HOOKS_SYNC). */
  | { kind: 'hooks' }
  /** INIT is set up (STEP_REPORT_CREATED). */
  | { kind: 'created' }
  /** A step failed: its index in the plan, errno (0: none), and what was being done. */
  | { kind: 'error'; step: number; errno: number; what: string }
  /** INIT's wait status (a supervising PARENT). */
  | { kind: 'exit'; status: number }
  | { kind: 'unknown'; type: number };

export function decodeReply({ type, payload }: Frame): Reply {
  switch (type) {
    case MSG.MSG_HELLO: return { kind: 'hello', version: payload.readUInt32LE(0) };
    case MSG.MSG_PID: return { kind: 'pid', pid: payload.readUInt32LE(0) };
    case MSG.MSG_HOOKS: return { kind: 'hooks' };
    case MSG.MSG_CREATED: return { kind: 'created' };
    case MSG.MSG_ERROR: return { kind: 'error', step: payload.readInt32LE(0), errno: payload.readInt32LE(4), what: payload.subarray(8).toString('utf8') };
    case MSG.MSG_EXIT: return { kind: 'exit', status: payload.readInt32LE(0) };
    default: return { kind: 'unknown', type };
  }
}
