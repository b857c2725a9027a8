/**
 * The book's code blocks, read from a chapter's markdown.
 *
 * A chapter marks each shell block with what the test runner must do with it
 * (the words in braces after the language are ignored by the site):
 *
 *   ```sh {run}                       run it; the exit status must be 0
 *   ```sh {run status=1 timeout=300}  run it; expect exit status 1; allow 300 s
 *   ```sh {run vm}                    run it alone in a fresh lab VM (cgroup v2,
 *                                     AppArmor), from the checkout: scripts/book-vm.ts
 *   ```text {output}                  what the block just above printed
 *   ```sh {norun: REASON}             shown to the reader, never run here
 *
 * A shell block (sh, bash, console, shell) with no mark is an error: every
 * command in the book is either tested or says why it is not. An {output}
 * block must directly follow a {run} block (blank lines and prose between
 * the two are not allowed, so the reader sees them together). An {output}
 * block must check something: the wildcard rule is in book-match.ts
 * (wildcardProblem). The blocks run with `set -o pipefail`, so a pipeline
 * fails when any command in it fails, not only the last.
 */
import { wildcardProblem } from './book-match.ts';

export interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  /** 0-based index of the first line after the closing fence. */
  end: number;
  lang: string;
  kind: 'run' | 'output' | 'norun' | 'plain';
  code: string;
  status: number;
  timeout: number;
  vm: boolean;
  reason?: string;
  /** For a run block: the output block that follows it. */
  output?: Block;
}

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console']);
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s{`]*)\s*(\{[^}]*\})?.*$/;

export class BookFormatError extends Error {}

export function parseAttrs(text: string | undefined): { kind: Block['kind']; status: number; timeout: number; vm: boolean; reason?: string } {
  const out = { kind: 'plain' as Block['kind'], status: 0, timeout: 60, vm: false, reason: undefined as string | undefined };
  if (!text) return out;
  const body = text.slice(1, -1).trim();
  const norun = /^norun\s*:\s*(.+)$/.exec(body);
  if (norun) return { ...out, kind: 'norun', reason: norun[1]!.trim() };
  const words = body.split(/\s+/).filter(Boolean);
  const head = words.shift();
  if (head === 'run' || head === 'output') out.kind = head;
  else if (head === 'norun') throw new BookFormatError('{norun} needs a reason: {norun: why this block cannot run here}');
  else if (head !== undefined && !/^[\d,-]+$/.test(head)) throw new BookFormatError(`unknown block mark {${body}}`);
  for (const w of words) {
    const [k, v] = w.split('=');
    if (k === 'status' && v && /^\d+$/.test(v)) out.status = Number(v);
    else if (k === 'timeout' && v && /^\d+$/.test(v)) out.timeout = Number(v);
    else if (k === 'vm' && v === undefined) out.vm = true;
    else throw new BookFormatError(`unknown option "${w}" in {${body}}`);
  }
  return out;
}

/** Every fenced block of a markdown text, run blocks carrying their output block. */
export function extractBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE.exec(lines[i]!);
    if (!m) continue;
    const [, indent, fence, lang = '', attrs] = m;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length; i++) {
      const l = lines[i]!;
      if (l.trim().startsWith(fence!) && l.trim().replace(/[`~]/g, '') === '' && l.trim().length >= fence!.length) break;
      body.push(l.startsWith(indent!) ? l.slice(indent!.length) : l.trimStart());
    }
    if (i >= lines.length) throw new BookFormatError(`line ${start + 1}: code block never closed`);
    let a;
    try {
      a = parseAttrs(attrs);
    } catch (e) {
      throw new BookFormatError(`line ${start + 1}: ${(e as Error).message}`);
    }
    const block: Block = { line: start + 1, end: i + 1, lang, code: body.join('\n'), ...a };
    if (block.kind === 'plain' && SHELL_LANGS.has(lang)) {
      throw new BookFormatError(`line ${start + 1}: a ${lang} block must say {run} or {norun: reason}`);
    }
    if (block.kind === 'output') {
      const prev = blocks[blocks.length - 1];
      const between = lines.slice(prev ? prev.end : 0, start).every((l) => l.trim() === '');
      if (!prev || prev.kind !== 'run' || prev.output || !between) {
        throw new BookFormatError(`line ${start + 1}: an {output} block must directly follow a {run} block`);
      }
      const problem = wildcardProblem(block.code);
      if (problem) throw new BookFormatError(`line ${start + 1}: ${problem}`);
      prev.output = block;
      continue;
    }
    blocks.push(block);
  }
  return blocks;
}
