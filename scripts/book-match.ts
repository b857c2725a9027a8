/**
 * Does a command's real output match what the book shows?
 *
 * The book shows real output, with placeholders where a value differs from
 * one run or machine to the next:
 *   <PID> <N> <UID> <INODE> ...   any decimal number (any <NAME> that ends in ID or is N/INODE/SIZE/MS)
 *   <HEX>                         hexadecimal digits
 *   <...>                         anything on the rest of the line, or in the middle of it
 *   <ANY-OTHER-NAME>              one word (no spaces)
 *   ...    (a line by itself)     any number of lines, including none
 * Trailing spaces and trailing empty lines are ignored on both sides; any run
 * of spaces or tabs matches any other, and leading spaces are optional, since
 * columns move with the width of the values.
 *
 * An expected output must check something (wildcardProblem, applied to every
 * {output} block when a chapter is read): at least one of its non-empty lines
 * has literal text (something other than placeholders), and at most half of
 * its non-empty lines are pure wildcards, a `...` line or a line of nothing
 * but `<...>`. A block that would match anything is refused, naming its line.
 */

const NUMBER_NAMES = /^(N|PID|PPID|INODE|SIZE|MS|SECONDS|BYTES|COUNT|[A-Z]*ID|PORT|MAJOR|MINOR)$/;

/* Literal text; any run of spaces or tabs matches any other (columns shift with the values). */
function escape(s: string): string {
  return s
    .split(/[ \t]+/)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[ \\t]+');
}

function lineRegex(line: string): string {
  let out = '';
  let last = 0;
  for (const m of line.matchAll(/<(\.\.\.|[A-Z][A-Z0-9_-]*)>/g)) {
    out += escape(line.slice(last, m.index));
    const name = m[1]!;
    if (name === '...') out += '[^\\n]*?';
    else if (name === 'HEX') out += '[0-9a-fA-F]+';
    else if (NUMBER_NAMES.test(name)) out += '\\d+';
    else out += '\\S+';
    last = m.index! + m[0].length;
  }
  out += escape(line.slice(last));
  // leading spaces (right-aligned columns) are optional
  return out.startsWith('[ \\t]+') ? '[ \\t]*' + out.slice('[ \\t]+'.length) : out;
}

export function normalize(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n').map((l) => l.replace(/\s+$/, ''));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  while (lines.length && lines[0] === '') lines.shift();
  return lines;
}

export function outputRegex(expected: string): RegExp {
  const parts = normalize(expected).map((l) => (l.trim() === '...' ? null : lineRegex(l)));
  let src = '';
  parts.forEach((p, i) => {
    if (p === null) src += '(?:[^\\n]*\\n)*?';
    else src += p + (i < parts.length - 1 ? '\\n' : '');
  });
  // a trailing "..." line swallows the final newline-less line too
  if (parts[parts.length - 1] === null) src += '[^\\n]*';
  return new RegExp('^' + src + '$');
}

export interface Mismatch {
  /** 1-based line in the expected block where the two first differ. */
  line: number;
  expected: string;
  actual: string;
}

/** null when the output matches; otherwise where it first goes wrong. */
export function matchOutput(expected: string, actual: string): Mismatch | null {
  const act = normalize(actual);
  if (outputRegex(expected).test(act.join('\n'))) return null;
  // Locate the first differing line, walking the two side by side; a "..." line
  // skips forward to the next actual line that matches the line after it.
  const exp = normalize(expected);
  let a = 0;
  for (let e = 0; e < exp.length; e++) {
    if (exp[e]!.trim() === '...') {
      const next = exp[e + 1];
      if (next === undefined) return { line: e + 1, expected: exp.slice(e).join('\n'), actual: act.slice(a).join('\n') };
      const re = new RegExp('^' + lineRegex(next) + '$');
      while (a < act.length && !re.test(act[a]!)) a++;
      continue;
    }
    const re = new RegExp('^' + lineRegex(exp[e]!) + '$');
    if (a >= act.length || !re.test(act[a]!)) {
      return { line: e + 1, expected: exp[e]!, actual: a < act.length ? act[a]! : '(no more output)' };
    }
    a++;
  }
  return { line: exp.length + 1, expected: '(end of output)', actual: act.slice(a).join('\n') };
}

const PLACEHOLDER = /<(\.\.\.|[A-Z][A-Z0-9_-]*)>/g;

/** A line that matches any line (or any lines): `...`, or only `<...>` placeholders. */
export function isPureWildcard(line: string): boolean {
  const t = line.trim();
  return t === '...' || (t !== '' && t.replace(/<\.\.\.>/g, '').trim() === '');
}

/** A line with text of its own, beyond placeholders. */
function isLiteral(line: string): boolean {
  return line.trim() !== '...' && line.replace(PLACEHOLDER, '').trim() !== '';
}

/** Why an expected output checks too little, or null when it is fine (see the header). */
export function wildcardProblem(expected: string): string | null {
  const lines = normalize(expected).filter((l) => l.trim() !== '');
  if (!lines.length) return null; // an empty output block: the command must print nothing
  if (!lines.some(isLiteral)) return 'an {output} block needs at least one line of literal text, not only placeholders';
  const wild = lines.filter(isPureWildcard).length;
  if (wild * 2 > lines.length) {
    return `an {output} block may be at most half wildcards: ${wild} of its ${lines.length} lines are "..." or "<...>"`;
  }
  return null;
}
