/*
 * image-progress.test.ts - the progress display of `runts pull`, fed events
 * as pull() reports them and drawn on fake streams. A terminal's output is
 * replayed on a small screen model (cursor moves, line clears, autowrap at
 * the right edge) to check what a user would see: one line per layer, none
 * wrapped, the final state left on screen; a pipe's output has no escape
 * codes at all. Redraws are counted under mocked timers.
 */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { renderProgress, terminalLine, type LayerPhase, type PullEvent } from '../../src/image/progress.ts';

const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
type Layer = Extract<PullEvent, { type: 'layer' }>;
const layer = (n: number, phase: LayerPhase, bytes = 0, total = 20e6): Layer => ({ type: 'layer', digest: digest(n), phase, bytes, total });

class FakeStream {
  readonly isTTY: boolean;
  readonly columns: number;
  readonly rows: number;
  readonly writes: string[] = [];
  constructor(isTTY: boolean, columns = 80, rows = 24) {
    this.isTTY = isTTY;
    this.columns = columns;
    this.rows = rows;
  }
  write(text: string) {
    this.writes.push(text);
  }
  get output() {
    return this.writes.join('');
  }
}

/** The screen after `output`, as a terminal of `columns` with autowrap shows it (trailing blank lines dropped). */
function screen(output: string, columns: number): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < output.length; i++) {
    const esc = /^\x1b\[(\d*)([A-Za-z])/.exec(output.slice(i));
    if (esc) {
      const [all, n, op] = esc;
      if (op === 'A') row = Math.max(0, row - Number(n || 1));
      else if (op === 'K') lines[row] = '';
      else if (op === 'J') { lines[row] = (lines[row] ?? '').slice(0, col); lines.splice(row + 1); }
      else assert.fail(`unexpected escape ${JSON.stringify(all)}`);
      i += all.length - 1;
      continue;
    }
    const ch = output[i]!;
    if (ch === '\r') col = 0;
    else if (ch === '\n') { row++; col = 0; }
    else {
      if (col === columns) { row++; col = 0; } // autowrap: the line was too long
      const line = (lines[row] ?? '').padEnd(col);
      lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
      col++;
    }
    while (lines.length <= row) lines.push('');
  }
  while (lines.length && lines.at(-1) === '') lines.pop();
  return lines;
}

test('renderProgress draws on a terminal and writes plain lines elsewhere', () => {
  const tty = new FakeStream(true);
  const pipe = new FakeStream(false);
  for (const s of [tty, pipe]) {
    const render = renderProgress(s);
    render(layer(1, 'downloading', 5e6));
    render({ type: 'end', ok: true });
  }
  assert.match(tty.output, /\x1b\[/);
  assert.doesNotMatch(pipe.output, /\x1b/);
});

test('plain lines: one per change of phase, no byte counts, no escape codes', () => {
  const s = new FakeStream(false);
  const render = renderProgress(s);
  render({ type: 'note', text: 'reg/app:1: index sha256:abc: chose linux/amd64' });
  render(layer(1, 'waiting'));
  render(layer(2, 'exists'));
  for (let b = 0; b <= 20e6; b += 1e6) render(layer(1, 'downloading', b));
  render(layer(1, 'verifying', 20e6));
  render(layer(1, 'downloaded', 20e6));
  render(layer(1, 'unpacking'));
  render(layer(1, 'done'));
  render(layer(3, 'downloaded', 2100, 2100));
  render({ type: 'end', ok: true });
  assert.deepEqual(s.output.split('\n'), [
    'reg/app:1: index sha256:abc: chose linux/amd64',
    '222222222222: already exists',
    '111111111111: downloading 20.0 MB',
    '111111111111: verifying',
    '111111111111: downloaded 20.0 MB',
    '111111111111: unpacking',
    '111111111111: done',
    '333333333333: downloaded 2.1 kB',
    '',
  ]);
});

test('a terminal: one line per layer redrawn in place, the final state left on screen', () => {
  const s = new FakeStream(true, 80);
  const render = renderProgress(s);
  render({ type: 'note', text: 'reg/app:1: index sha256:abc: chose linux/amd64' });
  render(layer(1, 'waiting'));
  render(layer(2, 'exists'));
  render(layer(3, 'waiting'));
  render(layer(1, 'downloading', 5e6));
  render(layer(3, 'downloading', 1e6, 0));
  render({ type: 'end', ok: false });
  const first = screen(s.output, 80);
  assert.deepEqual(first, [
    'reg/app:1: index sha256:abc: chose linux/amd64',
    '111111111111: downloading [=======>                    ] 5.0 MB/20.0 MB  25%',
    '222222222222: already exists',
    '333333333333: downloading 1.0 MB',
  ]);
  // a second pull on the same terminal starts below what the first left
  const render2 = renderProgress(s);
  render2(layer(4, 'exists'));
  render2({ type: 'end', ok: true });
  assert.deepEqual(screen(s.output, 80), [...first, '444444444444: already exists']);
});

test('a narrow terminal: every line is cut to its width, nothing wraps, the bar goes first', () => {
  for (const columns of [60, 30, 12, 1]) {
    const s = new FakeStream(true, columns);
    const render = renderProgress(s);
    for (let n = 1; n <= 3; n++) render(layer(n, 'downloading', n * 1e6));
    render({ type: 'end', ok: true });
    const shown = screen(s.output, columns);
    assert.equal(shown.length, 3, `${columns} columns: ${JSON.stringify(shown)}`);
    for (const line of shown) assert.ok(line.length < columns || columns === 1, `${columns} columns: ${JSON.stringify(line)}`);
  }
  const l = layer(1, 'downloading', 5e6);
  assert.equal(terminalLine(l, 50), '111111111111: downloading 5.0 MB/20.0 MB  25%', 'no room for a bar');
  assert.equal(terminalLine(l, 30), '111111111111: downloading 5.0 ', 'cut at the width');
});

test('more layers than rows: the unfinished ones are shown, the rest summed up, the cursor never leaves the screen', () => {
  const s = new FakeStream(true, 80, 5);
  const render = renderProgress(s);
  for (let n = 1; n <= 8; n++) render(layer(n, n <= 5 ? 'done' : 'downloading', 1e6));
  render({ type: 'end', ok: true });
  assert.deepEqual(screen(s.output, 80), [
    '666666666666: downloading [=>                          ] 1.0 MB/20.0 MB   5%',
    '777777777777: downloading [=>                          ] 1.0 MB/20.0 MB   5%',
    '888888888888: downloading [=>                          ] 1.0 MB/20.0 MB   5%',
    '5 more layers (5 done)',
  ]);
  for (const up of s.output.matchAll(/\x1b\[(\d+)A/g)) assert.ok(Number(up[1]) < 5);
});

test('redraws are throttled to ten a second; the end draws at once', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  try {
    const s = new FakeStream(true);
    const render = renderProgress(s);
    // 2000 events over two seconds: a chunk every millisecond
    for (let ms = 0; ms < 2000; ms++) {
      render(layer(1, 'downloading', ms * 1e4));
      mock.timers.tick(1);
    }
    const throttled = s.writes.length;
    assert.ok(throttled >= 19 && throttled <= 21, `${throttled} redraws in 2 s`);
    render(layer(1, 'done'));
    render({ type: 'end', ok: true });
    assert.equal(s.writes.length, throttled + 1);
    mock.timers.tick(1000);
    assert.equal(s.writes.length, throttled + 1, 'no redraw after the end');
    assert.deepEqual(screen(s.output, 80), ['111111111111: done']);
  } finally {
    mock.timers.reset();
  }
});
