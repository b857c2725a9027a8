// The labs index (docs/labs.md), written when the site is built from what is
// in labs/: for each labs/NN-topic/ directory, its README's title and first
// paragraph, the chapter it belongs to, and every file it holds, described by
// the README's list where the README describes it. The page itself holds only
// the marker LABS_MARKER where the index goes, so it can never fall out of
// step with the directory.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { MarkdownRenderer } from 'vitepress';
import { sourceUrl, top } from './repository';

export const LABS_MARKER = '<!-- labs-index -->';

interface Lab {
  dir: string;
  title: string;
  intro: string;
  /** README list items by the file they describe: the rest of the item after the file's name. */
  described: Map<string, string>;
  files: string[];
}

function readLab(dir: string): Lab {
  const path = `${top}/labs/${dir}`;
  const readme = existsSync(`${path}/README.md`) ? readFileSync(`${path}/README.md`, 'utf8') : '';
  const lines = readme.split('\n');
  const head = lines.findIndex((l) => /^# /.test(l));
  const title = head >= 0 ? lines[head]!.slice(2).trim() : dir;
  // the first paragraph after the title
  let i = head + 1;
  while (i < lines.length && !lines[i]!.trim()) i++;
  const intro: string[] = [];
  for (; i < lines.length && lines[i]!.trim() && !/^[-*] /.test(lines[i]!); i++) intro.push(lines[i]!);
  // top-level list items that start with a file's name in backticks: "- `name args` — what it is"
  const described = new Map<string, string>();
  let item: { name: string; text: string[] } | undefined;
  const flush = () => item && described.set(item.name, item.text.join(' ').replace(/\s+/g, ' ').trim());
  for (const l of lines) {
    const m = /^[-*] `([^`\s]+)([^`]*)`(.*)$/.exec(l);
    if (m) {
      flush();
      item = { name: m[1]!, text: [m[2]!.trim() ? `\`${m[2]!.trim()}\`${m[3]}` : m[3]!] };
    } else if (item && /^\s+\S/.test(l)) item.text.push(l.trim());
    else {
      flush();
      item = undefined;
    }
  }
  flush();
  const files = readdirSync(path)
    .filter((f) => f !== 'README.md' && !f.startsWith('.'));
  // the README's order first, then the files it does not describe
  const order = [...described.keys()];
  files.sort((a, b) => {
    const ia = order.indexOf(a), ib = order.indexOf(b);
    return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib) || a.localeCompare(b);
  });
  return { dir, title, intro: intro.join('\n'), described, files };
}

/** The lab directories, labs/NN-topic/, in chapter order. */
export function labDirs(): string[] {
  return readdirSync(`${top}/labs`)
    .filter((d) => /^\d\d-/.test(d) && statSync(`${top}/labs/${d}`).isDirectory())
    .sort();
}

/** The index, as markdown. */
export function labsMarkdown(): string {
  const out: string[] = [];
  for (const lab of labDirs().map(readLab)) {
    const chapter = existsSync(`${top}/docs/${lab.dir}.md`);
    out.push(`## ${lab.title}`, '');
    out.push(
      [
        chapter ? `Chapter: [${chapterTitle(lab.dir)}](./${lab.dir}.md)` : `Chapter ${Number(lab.dir.slice(0, 2))}`,
        `Directory: [\`labs/${lab.dir}/\`](${sourceUrl(`labs/${lab.dir}`, 'tree')})`,
      ].join(' · '),
      '',
    );
    if (lab.intro) out.push(lab.intro, '');
    for (const f of lab.files) {
      const isDir = statSync(`${top}/labs/${lab.dir}/${f}`).isDirectory();
      const link = `[\`${f}${isDir ? '/' : ''}\`](${sourceUrl(`labs/${lab.dir}/${f}`, isDir ? 'tree' : 'blob')})`;
      const what = lab.described.get(f);
      out.push(what ? `- ${link} ${what}` : `- ${link}`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** A chapter's title: its first heading. */
function chapterTitle(dir: string): string {
  const text = readFileSync(`${top}/docs/${dir}.md`, 'utf8').replace(/^---\n[\s\S]*?\n---\n/, '');
  const h = /^# (.+)$/m.exec(text);
  return h?.[1]?.trim() ?? dir;
}

/** Replaces the marker in a page with the index, before the page is parsed. */
export function labsIndex(md: MarkdownRenderer): void {
  md.core.ruler.before('normalize', 'labs-index', (state) => {
    if (!state.inlineMode && state.src.includes(LABS_MARKER)) state.src = state.src.replace(LABS_MARKER, () => labsMarkdown());
  });
}
