// The TS and C halves of the plan protocol must agree on every constant
// (native/protocol.h <-> src/protocol/protocol.ts), and the messages are framed
// and decoded as protocol.h draws them (src/protocol/messages.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as protocol from '../../src/protocol/protocol.ts';
import { decodeFrames, decodeReply, encodeFrame } from '../../src/protocol/messages.ts';
import { MSG } from '../../src/protocol/protocol.ts';

const header = readFileSync(new URL('../../native/protocol.h', import.meta.url), 'utf8');
const defines = new Map<string, number>();
for (const m of header.matchAll(/^#define\s+([A-Z0-9_]+)\s+(0x[0-9a-f]+|\d+)u?\b/gim)) defines.set(m[1]!, Number(m[2]!));

const tsConstants: Record<string, number> = {
  RUNTS_PROTOCOL_VERSION: protocol.RUNTS_PROTOCOL_VERSION,
  RUNTS_PLAN_MAGIC: protocol.RUNTS_PLAN_MAGIC,
  RUNTS_SLOTS: protocol.RUNTS_SLOTS,
  ...protocol.MSG,
  ...protocol.VAL,
  ...protocol.STEP,
};

test('every C constant has the same value in TypeScript', () => {
  assert.ok(defines.size > 40, 'parsed the header');
  for (const [name, value] of defines) assert.equal(tsConstants[name], value, name);
});

test('every TypeScript constant exists in C', () => {
  for (const [name, value] of Object.entries(tsConstants)) assert.equal(defines.get(name), value, name);
});

test('the magic spells RNTS in memory order', () => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(protocol.RUNTS_PLAN_MAGIC);
  assert.equal(b.toString('latin1'), 'RNTS');
});

test('frames: split where they end, whole or still arriving; replies decode to their typed fields', () => {
  const error = Buffer.concat([Buffer.from([4, 0, 0, 0, 2, 0, 0, 0]), Buffer.from('mount /proc')]);
  const bytes = Buffer.concat([encodeFrame(MSG.MSG_PID, Buffer.from([0x39, 0x30, 0, 0])), encodeFrame(MSG.MSG_ERROR, error), encodeFrame(MSG.MSG_EXIT, Buffer.from([9, 0, 0, 0]))]);
  const partial = decodeFrames(bytes.subarray(0, bytes.length - 2));
  assert.equal(partial.frames.length, 2);
  assert.equal(partial.rest.length, 10);
  const { frames, rest } = decodeFrames(bytes);
  assert.equal(rest.length, 0);
  assert.deepEqual(frames.map(decodeReply), [
    { kind: 'pid', pid: 12345 },
    { kind: 'error', step: 4, errno: 2, what: 'mount /proc' },
    { kind: 'exit', status: 9 },
  ]);
  assert.deepEqual(decodeReply({ type: 99, payload: Buffer.alloc(0) }), { kind: 'unknown', type: 99 });
});
