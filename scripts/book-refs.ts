/**
 * book-refs: every reference the project makes to a chapter or to one of its
 * own files must lead somewhere.
 *
 *   node scripts/book-refs.ts       lists each dangling reference as FILE:LINE, exits 1 if any
 *
 * It reads the book (docs/*.md, docs/design/*.md), README.md, and every text
 * file under labs/, src/, native/, test/, bench/ and scripts/, and checks:
 *
 *   - paths of repository files and directories, such as `docs/04-namespaces.md`,
 *     `labs/06-overlayfs/unpack.sh`, `src/network/` or `~/runts/labs/...`:
 *     a path counts when it starts with one of the top-level directories, is
 *     not part of a longer path or a URL, and looks like a path (a file name
 *     with an extension, a trailing `/`, or two levels or more: `test/bb` is
 *     more likely an image name than a file). Paths with wildcards or
 *     placeholders (`docs/NN-*.md`, `src/.../x.ts`, `${dir}/x`) and build
 *     output (`dist/`) are skipped;
 *   - markdown links to a file, `[chapter N](./NN-name.md)`, resolved from
 *     the file that holds them;
 *   - chapters named in words: "chapter N", "chapters N and M", "chapters N
 *     to M" need a docs/NN-*.md for each number.
 *
 * test/book/book-tools.test.ts runs it, so the book's tests fail on a dangling
 * reference.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export interface DanglingRef {
  file: string; // relative to the repository
  line: number; // 1-based
  ref: string;
  why: string;
}

const TOP = ['docs', 'labs', 'src', 'native', 'test', 'bench', 'scripts'];
const SCANNED_DIRS = ['labs', 'src', 'native', 'test', 'bench', 'scripts'];
const TEXT_EXT = /\.(md|ts|mts|js|mjs|c|h|sh|py|nft|json|txt|yml|yaml|conf|toml)$|(^|\/)(Makefile|README)$/;

function walk(dir: string, out: string[]) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && TEXT_EXT.test(p)) out.push(p);
  }
}

/** The files scanned, as absolute paths. */
export function scannedFiles(repo: string): string[] {
  const out: string[] = [];
  const md = (d: string) => safeList(join(repo, d)).filter((f) => f.endsWith('.md')).map((f) => join(repo, d, f));
  out.push(...md('docs'), ...md('docs/design'));
  if (existsSync(join(repo, 'README.md'))) out.push(join(repo, 'README.md'));
  for (const d of SCANNED_DIRS) walk(join(repo, d), out);
  return out;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The chapter numbers the book has: docs/NN-name.md. */
function chapters(repo: string): Set<number> {
  return new Set(safeList(join(repo, 'docs')).filter((f) => /^\d\d-.*\.md$/.test(f)).map((f) => Number(f.slice(0, 2))));
}

// A path that starts at the top of the repository: not preceded by a path or
// word character (so /usr/src/x and https://host/docs/x are not ours), except
// for ~/runts/ and $HOME/runts/, which name the checkout in the book.
const PATH_RE = new RegExp(String.raw`(?:(?<=~\/runts\/|\$HOME\/runts\/)|(?<![\w./~$@-]))((?:${TOP.join('|')})\/[\w./@+-]*)`, 'g');
const LINK_RE = /\]\(((?:\.{1,2}\/)?[\w./-]+\.md)(?:#[\w-]*)?\)/g;
const CHAPTER_RE = /\b[Cc]hapters?\s+(\d{1,2}(?:(?:\s*,\s*|\s+and\s+|\s+or\s+|\s*[–-]\s*|\s+to\s+)\d{1,2})*)\b/g;

function checkPath(repo: string, token: string): string | null {
  // trailing punctuation is prose, not path
  const p = token.replace(/[.,:;)]+$/, '');
  if (/[*<>{}$]|\.\.\.|\bNN\b|\bN\//.test(p) || /[/.][-_]?$|[-_]$/.test(p) && !p.endsWith('/')) return null;
  if (/(^|\/)(dist|node_modules)(\/|$)/.test(p)) return null;
  const segments = p.split('/').filter(Boolean);
  if (!p.endsWith('/') && segments.length < 3 && !/\.\w+$/.test(segments[segments.length - 1]!)) return null;
  if (!existsSync(join(repo, p))) return p;
  return null;
}

/** Every dangling reference in the repository at `repo`. */
export function danglingRefs(repo: string): DanglingRef[] {
  repo = resolve(repo);
  const have = chapters(repo);
  const out: DanglingRef[] = [];
  for (const abs of scannedFiles(repo)) {
    const file = relative(repo, abs);
    let text;
    try {
      if (statSync(abs).size > 2_000_000) continue;
      text = readFileSync(abs, 'utf8');
    } catch {
      continue;
    }
    if (text.includes('\0')) continue;
    text.split('\n').forEach((line, i) => {
      const add = (ref: string, why: string) => out.push({ file, line: i + 1, ref, why });
      for (const m of line.matchAll(PATH_RE)) {
        const missing = checkPath(repo, m[1]!);
        if (missing) add(missing, 'no such file or directory in the repository');
      }
      if (abs.endsWith('.md')) {
        for (const m of line.matchAll(LINK_RE)) {
          const target = resolve(dirname(abs), m[1]!);
          if (!existsSync(target)) add(m[1]!, `the link leads nowhere (${relative(repo, target)})`);
        }
      }
      for (const m of line.matchAll(CHAPTER_RE)) {
        const nums = m[1]!.split(/[^\d]+/).filter(Boolean).map(Number);
        // "chapters N to M", "N–M": every chapter of the range
        const range = /\d\s*(?:[–-]|\s+to\s+)\s*\d/.test(m[1]!) && nums.length === 2;
        const all = range ? Array.from({ length: Math.max(0, nums[1]! - nums[0]! + 1) }, (_, k) => nums[0]! + k) : nums;
        for (const n of all) if (!have.has(n)) add(m[0], `there is no chapter ${n} (docs/${String(n).padStart(2, '0')}-*.md)`);
      }
    });
  }
  return out;
}

if (import.meta.main) {
  const repo = resolve(import.meta.dirname, '..');
  const refs = danglingRefs(repo);
  for (const r of refs) console.log(`${r.file}:${r.line}: ${r.ref}: ${r.why}`);
  console.log(`book-refs: ${refs.length} dangling reference${refs.length === 1 ? '' : 's'}`);
  process.exitCode = refs.length ? 1 : 0;
}
