// A chapter's time and prerequisites, from its front matter:
//
//   ---
//   time: 90 minutes
//   prerequisites: chapters 3 and 4
//   ---
//
// shown in a small box right under the chapter's title (the first # heading).
// A page without either field gets no box. The values are inline markdown, so
// a prerequisite can be a link.
import type { MarkdownRenderer } from 'vitepress';

const FIELDS = [
  ['time', 'Time'],
  ['prerequisites', 'Prerequisites'],
] as const;

export function chapterMeta(md: MarkdownRenderer): void {
  md.core.ruler.push('chapter-meta', (state) => {
    if (state.inlineMode) return; // the box's own values, rendered below
    const fm = (state.env?.frontmatter ?? {}) as Record<string, unknown>;
    const value = (key: string) => (typeof fm[key] === 'string' || typeof fm[key] === 'number' ? String(fm[key]).trim() : '');
    const rows = FIELDS.filter(([key]) => value(key)).map(
      ([key, label]) => `<div><dt>${label}</dt><dd>${md.renderInline(value(key), state.env)}</dd></div>`,
    );
    if (!rows.length) return;
    const title = state.tokens.findIndex((t) => t.type === 'heading_close' && t.tag === 'h1');
    if (title < 0) return;
    const box = new state.Token('html_block', '', 0);
    box.content = `<dl class="chapter-meta">${rows.join('')}</dl>\n`;
    state.tokens.splice(title + 1, 0, box);
  });
}
