// The fast verbs' record (src/runtime/fast-verbs.ts): its format agrees
// with what runts-fast reads (native/fast-verbs.h), and it says what the
// TypeScript verbs would do.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileFastRecord, encodeFastRecord, FAST_KEY, FAST_MAGIC, FAST_RECORD, FAST_VERSION } from '../../src/runtime/fast-verbs.ts';
import { signalNumber } from '../../src/runtime/process.ts';
import { stateText } from '../../src/runtime/state.ts';
import { MAX_ID, Store, type ContainerRecord } from '../../src/runtime/store.ts';
import { ROOT_STATE_DIR } from '../../src/rootless/detect.ts';
import { FAULT_POINTS } from '../../src/sys/fault.ts';
import { DEFAULT_STORE, frontEndContainerFile, STORE_ENV } from '../../src/image/location.ts';

const header = readFileSync(new URL('../../native/fast-verbs.h', import.meta.url), 'utf8');
const defines = new Map<string, string>();
for (const m of header.matchAll(/^#define\s+(FAST_[A-Z0-9_]+)\s+("[^"]*"|\d+)/gm)) defines.set(m[1]!, m[2]!.replace(/^"|"$/g, ''));

const record: ContainerRecord = {
  ociVersion: '1.2.0', id: 'fv-unit', pid: 4242, pidStartTime: '123456', bundle: '/b', rootfs: '/b/rootfs',
  created: '2026-01-01T00:00:00.000Z', cgroupDirs: ['/nonexistent/cgroup/fv-unit'],
};
const store = new Store('/run/fv-unit-root');

/** The record's entries, read the way runts-fast reads them. */
function decode(text: string): { header: string; entries: [string, string][] } {
  const buf = Buffer.from(text);
  let at = buf.indexOf('\n') + 1;
  const entries: [string, string][] = [];
  while (at < buf.length) {
    const nl = buf.indexOf('\n', at);
    const [key, len] = buf.subarray(at, nl).toString().split(' ');
    const end = nl + 1 + Number(len);
    assert.equal(buf[end], 0x0a, `${key}: value followed by a newline`);
    entries.push([key!, buf.subarray(nl + 1, end).toString()]);
    at = end + 1;
  }
  return { header: buf.subarray(0, buf.indexOf('\n')).toString(), entries };
}

test('native/fast-verbs.h and fast-verbs.ts agree on the format', () => {
  assert.equal(defines.get('FAST_MAGIC'), FAST_MAGIC);
  assert.equal(Number(defines.get('FAST_VERSION')), FAST_VERSION);
  assert.equal(defines.get('FAST_RECORD'), FAST_RECORD);
  assert.equal(defines.get('FAST_DEFAULT_ROOT'), ROOT_STATE_DIR);
  assert.equal(Number(defines.get('FAST_MAX_ID')), MAX_ID);
  // where delete --force of a missing id looks for a front-end container of that name
  assert.equal(join(defines.get('FAST_FRONTEND_STORE')!, defines.get('FAST_FRONTEND_CONTAINER')!.replace('%s', 'x')), frontEndContainerFile('x', DEFAULT_STORE));
  assert.equal(defines.get('FAST_FRONTEND_STORE_ENV'), STORE_ENV);
  const cKeys = new Map([...defines].filter(([k]) => k.startsWith('FAST_KEY_')).map(([k, v]) => [k.slice('FAST_KEY_'.length), v]));
  assert.deepEqual(cKeys, new Map(Object.entries(FAST_KEY)));
});

test('the fault points runts-fast passes are fault points of src/sys/fault.ts', () => {
  const points = [...defines].filter(([k]) => k.startsWith('FAST_FAULT_') && k !== 'FAST_FAULT_ENV').map(([, v]) => v);
  assert.deepEqual(points, ['start.signalled', 'delete.killed', 'delete.uncgrouped']);
  for (const p of points) assert.ok((FAULT_POINTS as readonly string[]).includes(p), p);
  assert.equal(defines.get('FAST_FAULT_ENV'), 'RUNTS_FAULT');
});

test('the record encodes byte lengths and every key it writes is one runts-fast knows', () => {
  const rec = { ...record, annotations: { note: 'ünïcödé\nline' } };
  const { header: h, entries } = decode(encodeFastRecord(compileFastRecord(store, rec)));
  assert.equal(h, `${FAST_MAGIC} ${FAST_VERSION}`);
  const known = new Set<string>(Object.values(FAST_KEY));
  for (const [k] of entries) assert.ok(known.has(k), k);
  const get = (k: string) => entries.find(([key]) => key === k)?.[1];
  assert.equal(get(FAST_KEY.STATE_JSON), JSON.stringify(rec));
  assert.equal(get(FAST_KEY.OUT_RUNNING), stateText(store.stateAs(rec, 'running')));
  assert.equal(JSON.parse(get(FAST_KEY.OUT_STOPPED)!).pid, 0);
  assert.equal(get(FAST_KEY.LOCK), '/run/fv-unit-root/fv-unit/lock');
});

test('delete of a front-end container is left to Node\'s routing: the default store\'s file, whatever RUNTS_STORE said at create', () => {
  const saved = process.env.RUNTS_STORE;
  process.env.RUNTS_STORE = '/tmp/fv-elsewhere';
  try {
    assert.deepEqual(compileFastRecord(store, record).frontEnd, { file: frontEndContainerFile('fv-unit', DEFAULT_STORE), env: 'RUNTS_STORE' });
  } finally {
    if (saved === undefined) delete process.env.RUNTS_STORE;
    else process.env.RUNTS_STORE = saved;
  }
});

test('the verbs go fast only from the statuses their TypeScript rules allow', () => {
  const r = compileFastRecord(store, record);
  assert.deepEqual(r.fast, {
    start: ['created'], kill: ['created', 'running', 'paused'], killAll: ['created', 'running', 'paused', 'stopped'],
    delete: ['created', 'stopped'], deleteForce: ['created', 'running', 'stopped'],
  });
  // kill --all goes fast only when the cgroups it reads hold nothing: without cgroups, never
  assert.deepEqual(compileFastRecord(store, { ...record, cgroupDirs: [] }).fast.killAll, []);
  const hooked = compileFastRecord(store, { ...record, poststart: [{ path: '/bin/true' }], poststop: [{ path: '/bin/true' }] });
  assert.deepEqual([hooked.fast.start, hooked.fast.delete, hooked.fast.deleteForce], [[], [], []]);
  assert.ok(hooked.slow.start && hooked.slow.delete);
});

test('every signal spelling in the record means what signalNumber says', () => {
  const { signals, killDefault } = compileFastRecord(store, record);
  assert.equal(killDefault, 15);
  for (const [s, n] of signals) assert.equal(signalNumber(s), n, s);
  const spelled = new Map(signals);
  assert.deepEqual([spelled.get('KILL'), spelled.get('sigterm'), spelled.get('64'), spelled.get('Kill'), spelled.get('65')], [9, 15, 64, undefined, undefined]);
});
