/**
 * Where a config.json that is not JSON goes wrong, in words a person can
 * act on: " at line L column C: unexpected X".
 *
 * The book: docs/09-writing-runtime.md, "Checking config.json";
 * docs/design/runtime-core.md.
 */

/** " at line L column C: unexpected X", found by re-scanning: V8 names a position for only some errors. */
export function describeJsonError(text: string, err: unknown): string {
  const at = firstJsonError(text);
  if (at < 0 && err instanceof RangeError) return ': nested too deeply to read'; // the stack ran out
  if (at < 0) return `: ${err instanceof Error ? err.message : String(err)}`;
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  const found = at < text.length ? JSON.stringify(String.fromCodePoint(text.codePointAt(at)!)) : 'end of input';
  return ` at line ${line} column ${column}: unexpected ${found}`;
}

/** Offset of the first character that cannot continue valid JSON (RFC 8259), or -1. */
function firstJsonError(text: string): number {
  let i = 0;
  // the scanner stops by throwing the offset where it got stuck
  const expect = (ch: string): void => {
    if (text[i] !== ch) throw i;
    i++;
  };
  const space = (): void => {
    while (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r') i++;
  };
  const string = (): void => {
    expect('"');
    for (;;) {
      const c = text[i];
      if (c === undefined || c < ' ') throw i;
      i++;
      if (c === '"') return;
      if (c !== '\\') continue;
      if (text[i] === 'u') {
        i++;
        for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(text[i] ?? '')) throw i;
      } else if ('"\\/bfnrt'.includes(text[i] ?? 'x')) {
        i++;
      } else {
        throw i;
      }
    }
  };
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (): void => {
    space();
    const open = text[i];
    if (open === '{' || open === '[') {
      const close = open === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (open === '{') {
          space();
          string();
          space();
          expect(':');
        }
        value();
        space();
        if (text[i] !== ',') break;
        i++;
      }
      expect(close);
      return;
    }
    if (open === '"') return string();
    const word = open === 't' ? 'true' : open === 'f' ? 'false' : open === 'n' ? 'null' : '';
    if (word !== '') {
      for (const ch of word) expect(ch);
      return;
    }
    number.lastIndex = i;
    if (!number.test(text)) throw i;
    i = number.lastIndex;
  };
  try {
    value();
    space();
    if (i < text.length) throw i;
    return -1;
  } catch (stuck) {
    if (typeof stuck === 'number') return stuck;
    // nested deeper than this recursive scanner can follow: V8's message it is
    if (stuck instanceof RangeError) return -1;
    throw stuck;
  }
}
