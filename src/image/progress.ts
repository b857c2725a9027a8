/**
 * What `runts pull` shows while it works, as docker and podman show it.
 *
 * pull() (registry.ts) reports events: a note, a layer's phase with the bytes
 * it has so far, and the end. renderProgress() draws them on a stream:
 *
 * - a terminal gets one line per layer, redrawn in place (cursor up, clear
 *   line, rewrite) at most ten times a second, each line cut to the width
 *   of the terminal so none wraps and the cursor arithmetic stays right, and
 *   no more lines than the terminal has rows (the rest are summed up in a
 *   last line). The end draws the final state and leaves it on screen.
 * - anything else (a pipe, a log file) gets plain lines, one per change of
 *   phase, with no escape codes.
 *
 * The book: docs/06-overlayfs.md, "Pulling an image by hand".
 */

export type LayerPhase = 'waiting' | 'exists' | 'downloading' | 'verifying' | 'downloaded' | 'unpacking' | 'done';

export type PullEvent =
  | { type: 'note'; text: string }
  /** `bytes` so far of `total` (the manifest's size; 0 when it gives none) */
  | { type: 'layer'; digest: string; phase: LayerPhase; bytes: number; total: number }
  | { type: 'end'; ok: boolean };

/** What the renderers need of a stream; process.stderr is one. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

/** The renderer for `stream`: redrawn lines on a terminal, plain lines elsewhere. */
export function renderProgress(stream: ProgressStream): (event: PullEvent) => void {
  return stream.isTTY ? terminalRenderer(stream) : plainRenderer(stream);
}

/** The least time between two redraws: ten a second at most. */
const REDRAW_MS = 100;

type Layer = Extract<PullEvent, { type: 'layer' }>;

const shortDigest = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);
const size = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);
const finished = (l: Layer) => l.phase === 'done' || l.phase === 'exists';

const WORDS: Record<LayerPhase, string> = {
  waiting: 'waiting', exists: 'already exists', downloading: 'downloading', verifying: 'verifying',
  downloaded: 'downloaded', unpacking: 'unpacking', done: 'done',
};

/** One line for a log: the phase, with the size where it says something. */
function plainLine(l: Layer): string {
  const sized = (l.phase === 'downloading' || l.phase === 'downloaded') && l.total;
  return `${shortDigest(l.digest)}: ${WORDS[l.phase]}${sized ? ` ${size(l.total)}` : ''}`;
}

function plainRenderer(stream: ProgressStream): (event: PullEvent) => void {
  const phases = new Map<string, LayerPhase>();
  return (e) => {
    if (e.type === 'note') stream.write(`${e.text}\n`);
    if (e.type !== 'layer' || e.phase === 'waiting' || phases.get(e.digest) === e.phase) return;
    phases.set(e.digest, e.phase);
    stream.write(`${plainLine(e)}\n`);
  };
}

/** Room for the numbers after the bar, `999.9 kB/999.9 MB 100%`: every bar has the same width. */
const TAIL = 22;

/** One line for a terminal `width` columns wide: a bar while downloading, when there is room. */
export function terminalLine(l: Layer, width: number): string {
  if (l.phase !== 'downloading') return fit(plainLine(l), width);
  const head = `${shortDigest(l.digest)}: ${WORDS[l.phase]}`;
  if (!l.total) return fit(`${head} ${size(l.bytes)}`, width);
  const done = Math.min(1, l.bytes / l.total);
  const tail = `${size(l.bytes)}/${size(l.total)} ${String(Math.floor(done * 100)).padStart(3)}%`;
  const barWidth = Math.min(30, width - head.length - TAIL - 4);
  if (barWidth < 10) return fit(`${head} ${tail}`, width);
  const filled = Math.floor(done * barWidth);
  const bar = `${'='.repeat(filled)}${filled < barWidth ? '>' : ''}`.padEnd(barWidth);
  return fit(`${head} [${bar}] ${tail}`, width);
}

const fit = (line: string, width: number) => line.slice(0, width);

/** The lines of the block: every layer, or as many as fit with the unfinished ones first and a summary. */
function blockLines(layers: Layer[], width: number, rows: number): string[] {
  if (layers.length <= rows) return layers.map((l) => terminalLine(l, width));
  const room = Math.max(0, rows - 1);
  const shown = new Set([...layers.filter((l) => !finished(l)), ...layers.filter(finished)].slice(0, room));
  const hidden = layers.filter((l) => !shown.has(l));
  const doneCount = hidden.filter(finished).length;
  return [
    ...layers.filter((l) => shown.has(l)).map((l) => terminalLine(l, width)),
    fit(`${hidden.length} more layers (${doneCount} done)`, width),
  ];
}

const ESC = '\x1b[';

function terminalRenderer(stream: ProgressStream): (event: PullEvent) => void {
  const layers = new Map<string, Layer>();
  const notes: string[] = [];
  let drawn = 0;
  let lastDraw = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const draw = () => {
    // one column short of the edge: a line that fills the row would leave the cursor in the wrap position
    const width = Math.max(1, (stream.columns || 80) - 1);
    // the block stays below the top of the screen, so moving up `drawn` lines lands on its first line
    const block = blockLines([...layers.values()], width, Math.max(1, (stream.rows || 24) - 1));
    // notes take the block's place and scroll away above it; they are never redrawn, so they may wrap
    const lines = [...notes.splice(0), ...block];
    lastDraw = Date.now();
    if (!lines.length && !drawn) return;
    stream.write(`${drawn ? `${ESC}${drawn}A` : ''}${lines.map((l) => `\r${ESC}2K${l}\n`).join('')}${ESC}J`);
    drawn = block.length;
  };

  return (e) => {
    if (e.type === 'note') notes.push(e.text);
    if (e.type === 'layer') layers.set(e.digest, e);
    if (e.type === 'end') {
      clearTimeout(timer);
      timer = undefined;
      draw();
      return;
    }
    if (timer) return;
    const wait = lastDraw + REDRAW_MS - Date.now();
    if (wait <= 0) draw();
    else timer = setTimeout(() => { timer = undefined; draw(); }, wait);
  };
}
