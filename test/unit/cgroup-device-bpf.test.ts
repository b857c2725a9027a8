/*
 * The cgroup v2 device program, run in a small interpreter of the eBPF
 * instructions it uses, on sample requests: the last matching rule decides,
 * defaults stay allowed, anything unmatched is denied.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEV_ACCESS, DEV_TYPE, deviceProgram, encodeProgram, type Insn } from '../../src/cgroups/device-bpf.ts';
import { deviceRules } from '../../src/cgroups/device-rules.ts';

/* Runs the program on bpf_cgroup_dev_ctx { access_type, major, minor }. */
function run(prog: Insn[], type: 'b' | 'c', access: string, major: number, minor: number): number {
  const ctx = [(([...access].reduce((m, a) => m | DEV_ACCESS[a as 'r'], 0)) << 16) | DEV_TYPE[type], major, minor];
  const r = new Array<number>(11).fill(0);
  for (let pc = 0, steps = 0; steps < 10_000; pc++, steps++) {
    const i = prog[pc];
    assert.ok(i, `pc ${pc} ran off the program`);
    switch (i.code) {
      case 0x61: assert.equal(i.src, 1); r[i.dst] = ctx[i.off / 4]!; break;
      case 0x54: r[i.dst] = (r[i.dst]! & i.imm) >>> 0; break;
      case 0x74: r[i.dst] = r[i.dst]! >>> i.imm; break;
      case 0xbc: r[i.dst] = r[i.src]!; break;
      case 0xb7: r[i.dst] = i.imm; break;
      case 0x55: if (r[i.dst] !== i.imm) pc += i.off; break;
      case 0x95: return r[0]!;
      default: assert.fail(`unexpected opcode ${i.code.toString(16)}`);
    }
  }
  throw new Error('the program did not end');
}

test('deny all, then the defaults: /dev/null opens, a disk does not', () => {
  const prog = deviceProgram(deviceRules([{ allow: false, access: 'rwm' }]));
  assert.equal(run(prog, 'c', 'rw', 1, 3), 1, '/dev/null');
  assert.equal(run(prog, 'c', 'r', 136, 4), 1, '/dev/pts/4');
  assert.equal(run(prog, 'b', 'r', 8, 0), 0, '/dev/sda');
  assert.equal(run(prog, 'b', 'm', 8, 0), 1, 'mknod of any block device');
  assert.equal(run(prog, 'c', 'w', 10, 229), 0, '/dev/fuse');
});

test('the last matching rule decides, and access bits must all be granted', () => {
  const prog = deviceProgram(deviceRules([
    { allow: false, access: 'rwm' },
    { allow: true, type: 'b', major: 8, access: 'r' },
    { allow: false, type: 'b', major: 8, minor: 1, access: 'rwm' },
  ]));
  assert.equal(run(prog, 'b', 'r', 8, 0), 1, 'sda readable');
  assert.equal(run(prog, 'b', 'rw', 8, 0), 0, 'sda not writable');
  assert.equal(run(prog, 'b', 'r', 8, 1), 0, 'sda1 denied by the later rule');
  assert.equal(run(prog, 'c', 'r', 8, 0), 0, 'the type must match');
});

test('no rules at all: only the defaults are allowed', () => {
  const prog = deviceProgram(deviceRules(undefined));
  assert.equal(run(prog, 'c', 'rw', 1, 5), 1);
  assert.equal(run(prog, 'b', 'rw', 7, 0), 0);
});

test('allow all wins when it comes last', () => {
  const prog = deviceProgram(deviceRules([{ allow: false, access: 'rwm' }, { allow: true, access: 'rwm' }]));
  assert.equal(run(prog, 'b', 'rw', 8, 0), 1);
});

test('nothing follows a rule that matches everything (the verifier refuses dead code)', () => {
  const prog = deviceProgram([{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: false, type: 'a', major: -1, minor: -1, access: 'rwm' }]);
  assert.deepEqual(prog.slice(-2).map((i) => i.code), [0xb7, 0x95]);
  assert.equal(prog.at(-2)!.imm, 0, 'deny everything');
  assert.equal(prog.filter((i) => i.code === 0x95).length, 1, 'the /dev/null rule is shadowed and gone');
});

test('the program is encoded as struct bpf_insn (8 bytes, little endian)', () => {
  const bytes = encodeProgram([{ code: 0x61, dst: 2, src: 1, off: 4, imm: -1 }]);
  assert.deepEqual([...bytes], [0x61, 0x12, 4, 0, 0xff, 0xff, 0xff, 0xff]);
});
