// The site of the book: VitePress, built from docs/.
// Mermaid fences become <Mermaid> components rendered in the browser (theme/Mermaid.vue);
// the {run}/{output}/{norun: ...} marks the book test reads are stripped from the fence info.
// A chapter's `time:` and `prerequisites:` front matter make a box under its title
// (chapter-meta.ts); docs/labs.md gets its index from labs/ (labs.ts); the repository's
// address comes from package.json (repository.ts).
import { defineConfig } from 'vitepress';
import { chapterMeta } from './chapter-meta';
import { labsIndex } from './labs';
import { branch, repositoryUrl } from './repository';

const chapters = [
  ['01-what-is-a-container', '1. What is a container'],
  ['02-preparing-environment', '2. Preparing the lab'],
  ['03-building-rootfs', '3. A minimal root filesystem'],
  ['04-namespaces', '4. Namespaces'],
  ['05-cgroups', '5. cgroups'],
  ['06-overlayfs', '6. OverlayFS'],
  ['07-networking', '7. Networking'],
  ['08-security', '8. Security'],
  ['09-writing-runtime', '9. Writing the runtime'],
  ['10-real-world-oci', '10. The real world: OCI'],
  ['11-advanced-topics', '11. Advanced topics'],
] as const;

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const docs = fileURLToPath(new URL('..', import.meta.url));
const here = (p: string) => existsSync(`${docs}/${p}.md`);
// the design notes, each titled by its first heading
const titleOf = (file: string) => /^# (?:Design: )?(.+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? file;
const designNotes = readdirSync(`${docs}/design`)
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((f) => ({ text: titleOf(`${docs}/design/${f}`), link: `/design/${f.replace(/\.md$/, '')}` }));

export default defineConfig({
  title: 'Containers From Scratch',
  description: 'A container is a process the kernel strategically lies to. Learn each lie, then write the runtime that tells them all.',
  lang: 'en-US',
  cleanUrls: false,
  lastUpdated: false,
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }]],
  srcExclude: ['**/README.md'],
  // the build cache stays out of docs/
  cacheDir: '../node_modules/.cache/vitepress',
  themeConfig: {
    nav: [
      { text: 'The book', link: '/01-what-is-a-container' },
      { text: 'Labs', link: '/labs' },
      { text: 'Design notes', link: '/design/runtime-core' },
    ],
    socialLinks: [{ icon: 'github', link: repositoryUrl, ariaLabel: 'The repository: the book, its labs and runts' }],
    editLink: { pattern: `${repositoryUrl}/edit/${branch}/docs/:path`, text: 'Edit this page' },
    sidebar: [
      {
        text: 'The book',
        items: [
          ...chapters.filter(([f]) => here(f)).map(([f, text]) => ({ text, link: `/${f}` })),
          ...(here('labs') ? [{ text: 'The labs, by chapter', link: '/labs' }] : []),
        ],
      },
      {
        text: 'Design notes',
        items: [
          ...designNotes,
          ...(here('kubernetes-runtimeclass') ? [{ text: 'Kubernetes RuntimeClass', link: '/kubernetes-runtimeclass' }] : []),
        ],
      },
    ],
    search: { provider: 'local' },
    outline: { level: [2, 3] },
    docFooter: { prev: 'Previous', next: 'Next' },
  },
  markdown: {
    config(md) {
      md.use(chapterMeta);
      md.use(labsIndex);
      const fence = md.renderer.rules.fence!;
      md.renderer.rules.fence = (tokens, idx, options, env, self) => {
        const token = tokens[idx]!;
        const info = token.info.trim();
        if (info.split(/\s+/)[0] === 'mermaid') {
          return `<Mermaid code="${encodeURIComponent(token.content)}" />\n`;
        }
        // the book test's marks are for the test, not the reader
        token.info = info.replace(/\s*\{(run|output|norun)\b[^}]*\}/, '');
        return fence(tokens, idx, options, env, self);
      };
    },
  },
});
