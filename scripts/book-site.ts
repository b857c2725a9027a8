/**
 * book-site: build the book's site and check it in a real browser.
 *
 *   node scripts/book-site.ts [--no-build] [--out DIR] [--tap FILE] [--report] [--screenshots DIR]
 *
 * Builds docs/ with VitePress (into DIR with --out), serves the result on
 * 127.0.0.1, and opens every page in headless Chromium (Debian's
 * /usr/bin/chromium, driven by playwright-core) in a 1280x720 window. A page
 * passes when:
 *
 * - it loads with no console error, no uncaught exception and no failed request;
 * - it shows as many rendered Mermaid diagrams as its markdown has ```mermaid
 *   blocks, each one legible: drawn at least 90% as wide as the smaller of its
 *   natural width and the column (or wider, scrolling sideways), with no label
 *   smaller than MIN_LABEL_PX on screen (font size times the SVG's scale) —
 *   in the desktop window and in a phone's;
 * - after the light/dark switch, every diagram is drawn again for the dark
 *   theme (a new SVG, other colours) and, switched back, for the light one;
 * - every internal link on it leads to a page that exists and, for a link
 *   with #anchor, to an element with that id;
 * - it has the search box, the light/dark switch, the repository's link, a
 *   copy button on each code block and, on a page of the documentation
 *   layout, an "Edit this page" link to its markdown file in the repository;
 * - a chapter (docs/NN-*.md) shows its time and prerequisites under its title;
 * - the labs index lists every labs/NN-topic/ directory and every file in it.
 *
 * It also checks that the local search finds a word of the book. --report
 * prints the measured size of every diagram; --screenshots DIR saves a
 * picture of each chapter's first diagram.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, relative, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';

const repo = resolve(import.meta.dirname, '..');
const option = (name: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const dist = option('--out') ? resolve(option('--out')!) : join(repo, 'docs/.vitepress/dist');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** The smallest label, in CSS pixels on screen, a diagram may show. */
const MIN_LABEL_PX = 11;
const DESKTOP = { width: 1280, height: 720 };
const PHONE = { width: 390, height: 844 };

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain',
};

/** The built site's file for a URL path, as a static host would find it. */
function fileFor(urlPath: string): string | undefined {
  const p = decodeURIComponent(urlPath.split('?')[0]!.split('#')[0]!);
  const candidates = p.endsWith('/') ? [p + 'index.html'] : [p, p + '.html', p + '/index.html'];
  for (const c of candidates) {
    const f = join(dist, c);
    if (f.startsWith(dist) && existsSync(f) && statSync(f).isFile()) return f;
  }
  return undefined;
}

function serve(): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const f = fileFor(req.url ?? '/');
    if (!f) {
      res.writeHead(404, { 'content-type': TYPES['.html']! });
      res.end(existsSync(join(dist, '404.html')) ? readFileSync(join(dist, '404.html')) : 'not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(f)] ?? 'application/octet-stream' });
    res.end(readFileSync(f));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    ok({ server, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` });
  }));
}

function pages(dir = dist): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'assets') out.push(...pages(p));
    else if (e.name.endsWith('.html') && e.name !== '404.html') out.push('/' + relative(dist, p));
  }
  return out.sort();
}

/** The markdown file a page was built from, relative to docs/: /design/x.html -> design/x.md */
const sourceOf = (path: string) => path.slice(1).replace(/\.html$/, '.md');
const isChapter = (path: string) => /^\/\d\d-[^/]+\.html$/.test(path);

/** How many ```mermaid (or ~~~mermaid) blocks a markdown text has, outside other fenced blocks. */
function mermaidBlocks(markdown: string): number {
  let n = 0;
  let open: string | undefined;
  for (const line of markdown.split('\n')) {
    const m = /^\s*(`{3,}|~{3,})\s*(\S*)/.exec(line);
    if (!m) continue;
    if (!open) {
      open = m[1]!;
      if (/^mermaid\b/.test(m[2]!)) n++;
    } else if (m[1]![0] === open[0] && m[1]!.length >= open.length && line.trim() === m[1]) open = undefined;
  }
  return n;
}

/** The repository's web address, from package.json (as the site's config reads it). */
function repositoryUrl(): string | undefined {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { repository?: string | { url?: string } };
  const raw = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  return raw?.replace(/^git\+/, '').replace(/\.git$/, '');
}

interface DiagramSize {
  page: string;
  index: number;
  kind: string;
  natural: number;
  rendered: number;
  column: number;
  scrolls: boolean;
  /** The smallest label's font size on screen, in CSS pixels. */
  label: number;
  /** The smallest height of a label's box on screen (a line or more of text). */
  labelBox: number;
}

interface PageReport {
  path: string;
  problems: string[];
  ids: Set<string>;
  links: { href: string; text: string }[];
  diagrams: number;
  copyButtons: number;
  sizes: DiagramSize[];
}

interface DiagramState {
  rendered: number;
  failed: number;
  total: number;
  /** For each diagram: the theme it says it was drawn for, its SVG's id, the colours of its shapes. */
  each: { theme: string; id: string; fills: string }[];
}

function diagramState(page: Page): Promise<DiagramState> {
  return page.evaluate(() => {
    const all = [...document.querySelectorAll('.mermaid-diagram')];
    return {
      total: all.length,
      rendered: all.filter((d) => d.getAttribute('data-rendered') === 'yes' && d.querySelector('svg')).length,
      failed: all.filter((d) => d.getAttribute('data-rendered') === 'error').length,
      each: all.map((d) => {
        const svg = d.querySelector('svg');
        const fills = new Set<string>();
        for (const s of svg?.querySelectorAll('rect, polygon, circle, ellipse, path') ?? []) fills.add(getComputedStyle(s).fill);
        return { theme: d.getAttribute('data-theme') ?? '', id: svg?.id ?? '', fills: [...fills].sort().join(' ') };
      }),
    };
  });
}

/** Waits until every diagram has rendered or failed, and `done` holds (20 s at most). */
async function waitForDiagrams(page: Page, done: (s: DiagramState) => boolean = () => true): Promise<DiagramState> {
  const deadline = Date.now() + 20000;
  let s = await diagramState(page);
  while ((s.rendered + s.failed < s.total || !done(s)) && Date.now() < deadline) {
    await page.waitForTimeout(100);
    s = await diagramState(page);
  }
  return s;
}

/** Clicks the light/dark switch, as the reader does. */
const switchAppearance = (page: Page) => page.evaluate(() => (document.querySelector('.VPSwitchAppearance') as HTMLElement | null)?.click());

/** The size of every diagram on the page, as the reader sees it. */
function measureDiagrams(page: Page, path: string): Promise<DiagramSize[]> {
  return page.evaluate((path) => {
    return [...document.querySelectorAll('.mermaid-diagram')].flatMap((fig, index) => {
      const svg = fig.querySelector('svg');
      if (!svg) return [];
      const natural = svg.viewBox.baseVal?.width || svg.getBBox().width;
      let label = Infinity;
      let labelBox = Infinity;
      // every element that holds text itself (not only through its children)
      for (const t of svg.querySelectorAll('text, tspan, foreignObject *')) {
        if (!t.textContent?.trim() || [...t.children].some((c) => c.textContent?.trim())) continue;
        const box = t.getBoundingClientRect();
        if (!box.width || !box.height) continue; // not shown
        const holder = (t.closest('foreignObject') ?? t) as SVGGraphicsElement;
        const scale = holder.getScreenCTM()?.a ?? 1;
        label = Math.min(label, parseFloat(getComputedStyle(t).fontSize) * scale);
        labelBox = Math.min(labelBox, box.height);
      }
      return [{
        page: path,
        index,
        kind: svg.getAttribute('aria-roledescription') ?? '?',
        natural,
        rendered: svg.getBoundingClientRect().width,
        column: fig.clientWidth,
        scrolls: fig.scrollWidth > fig.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(fig).overflowX),
        label,
        labelBox,
      }];
    });
  }, path);
}

/** What is wrong with a diagram's size, if anything. */
function illegible(d: DiagramSize, where: string): string[] {
  const out: string[] = [];
  const name = `diagram ${d.index + 1} (${d.kind})${where}`;
  const want = Math.min(d.natural, d.column) * 0.9;
  if (d.rendered < want) out.push(`${name} is drawn ${d.rendered.toFixed(0)} px wide: less than 90% of min(natural ${d.natural.toFixed(0)} px, column ${d.column} px)`);
  if (d.rendered > d.column + 1 && !d.scrolls) out.push(`${name} is ${d.rendered.toFixed(0)} px wide in a ${d.column} px column that does not scroll`);
  if (!(d.label >= MIN_LABEL_PX)) out.push(`${name} has labels ${d.label.toFixed(1)} px tall on screen: less than ${MIN_LABEL_PX} px`);
  return out;
}

async function checkPage(page: Page, base: string, path: string, repoUrl: string | undefined): Promise<PageReport> {
  const problems: string[] = [];
  const onConsole = (m: { type(): string; text(): string; location(): { url: string } }) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()} (${m.location().url})`);
  };
  const onPageError = (e: Error) => problems.push(`uncaught exception: ${e.message}`);
  const onFailed = (r: { url(): string; failure(): { errorText: string } | null }) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`);
  const onResponse = (r: { url(): string; status(): number }) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  };
  page.on('console', onConsole);
  page.on('pageerror', onPageError);
  page.on('requestfailed', onFailed);
  page.on('response', onResponse);
  try {
    await page.setViewportSize(DESKTOP);
    await page.goto(base + path, { waitUntil: 'networkidle' });
    const light = await waitForDiagrams(page, (s) => s.each.every((d) => d.theme === 'light' || !d.id));
    if (light.rendered < light.total) problems.push(`${light.total - light.rendered} of ${light.total} Mermaid diagrams did not render to SVG`);
    const source = join(repo, 'docs', sourceOf(path));
    const blocks = existsSync(source) ? mermaidBlocks(readFileSync(source, 'utf8')) : 0;
    if (light.rendered !== blocks) problems.push(`${light.rendered} diagrams rendered, but docs/${sourceOf(path)} has ${blocks} mermaid blocks`);
    const sizes = await measureDiagrams(page, path);
    for (const d of sizes) problems.push(...illegible(d, ''));

    // the other colour scheme: every diagram is drawn again, for it
    if (light.total) {
      await switchAppearance(page);
      // (a diagram that failed in light mode has already been reported)
      const drawnAgain = (d: DiagramState['each'][number], i: number) => !light.each[i]?.id || (d.theme === 'dark' && d.id && d.id !== light.each[i]?.id);
      const redrawn = (s: DiagramState) => s.each.every(drawnAgain);
      const dark = await waitForDiagrams(page, redrawn);
      const isDark = await page.evaluate(() => document.documentElement.classList.contains('dark'));
      if (!isDark) problems.push('the light/dark switch did not turn the page dark');
      if (dark.rendered < light.rendered) problems.push(`${light.rendered - dark.rendered} Mermaid diagrams did not render after switching to dark`);
      const stale = dark.each.filter((d, i) => !drawnAgain(d, i)).length;
      if (stale) problems.push(`${stale} of ${dark.total} diagrams were not drawn again for the dark theme`);
      const sameColours = dark.each.filter((d, i) => light.each[i]?.id && d.fills === light.each[i]?.fills).length;
      if (sameColours) problems.push(`${sameColours} of ${dark.total} diagrams have the same colours in dark mode as in light mode`);
      for (const d of await measureDiagrams(page, path)) problems.push(...illegible(d, ' in dark mode'));
      await switchAppearance(page);
      const lightAgain = (d: DiagramState['each'][number], i: number) => !dark.each[i]?.id || (d.theme === 'light' && d.id !== dark.each[i]?.id);
      const back = await waitForDiagrams(page, (s) => s.each.every(lightAgain));
      if (!back.each.every(lightAgain)) problems.push('diagrams were not drawn again for the light theme after switching back');
    }

    const info = await page.evaluate(() => ({
      ids: [...document.querySelectorAll('[id]')].map((e) => e.id),
      links: [...document.querySelectorAll('a[href]')].map((a) => ({ href: (a as HTMLAnchorElement).href, text: (a.textContent ?? '').trim().slice(0, 40) })),
      codeBlocks: document.querySelectorAll('div[class*="language-"]').length,
      copyButtons: document.querySelectorAll('button.copy').length,
      search: !!document.querySelector('.VPNavBarSearch, #local-search'),
      appearance: !!document.querySelector('.VPSwitchAppearance'),
      social: [...document.querySelectorAll('.VPNavBar .VPSocialLink')].map((a) => (a as HTMLAnchorElement).href),
      docLayout: !!document.querySelector('.VPDoc'),
      editLink: (document.querySelector('.VPDocFooter .edit-link a') as HTMLAnchorElement | null)?.href,
      chapterMeta: (() => {
        const h1 = document.querySelector('.vp-doc h1');
        const box = h1?.nextElementSibling;
        if (!box?.matches('dl.chapter-meta')) return null;
        return [...box.querySelectorAll('div')].map((d): [string, string] => [d.querySelector('dt')?.textContent?.trim() ?? '', d.querySelector('dd')?.textContent?.trim() ?? '']);
      })(),
    }));
    if (!info.search) problems.push('no search box');
    if (!info.appearance) problems.push('no light/dark switch');
    if (info.copyButtons < info.codeBlocks) problems.push(`${info.codeBlocks - info.copyButtons} code blocks without a copy button`);
    if (!repoUrl) problems.push('package.json has no repository url');
    else if (!info.social.some((h) => h.replace(/\/$/, '') === repoUrl)) problems.push(`no link to the repository (${repoUrl}) in the nav bar`);
    if (info.docLayout) {
      const want = `${repoUrl}/edit/main/docs/${sourceOf(path)}`;
      if (info.editLink !== want) problems.push(`"Edit this page" links to ${info.editLink ?? 'nothing'}, not ${want}`);
      else if (!existsSync(join(repo, 'docs', sourceOf(path)))) problems.push(`"Edit this page" links to docs/${sourceOf(path)}, which does not exist`);
    }
    if (isChapter(path)) {
      const meta = new Map(info.chapterMeta ?? []);
      if (!info.chapterMeta) problems.push('no time/prerequisites box right under the chapter title (front matter `time:` and `prerequisites:`)');
      else for (const k of ['Time', 'Prerequisites']) if (!meta.get(k)) problems.push(`the box under the chapter title has no ${k}`);
    }
    return { path, problems, ids: new Set(info.ids), links: info.links, diagrams: light.total, copyButtons: info.copyButtons, sizes };
  } finally {
    page.off('console', onConsole);
    page.off('pageerror', onPageError);
    page.off('requestfailed', onFailed);
    page.off('response', onResponse);
  }
}

/** The diagrams again, in a phone's window: scrolled sideways, never shrunk to illegible. */
async function checkPhone(page: Page, base: string, r: PageReport): Promise<void> {
  await page.setViewportSize(PHONE);
  await page.goto(base + r.path, { waitUntil: 'networkidle' });
  await waitForDiagrams(page, (s) => s.each.every((d) => d.theme !== '' || !d.id));
  for (const d of await measureDiagrams(page, r.path)) r.problems.push(...illegible(d, ` on a ${PHONE.width} px phone`));
  await page.setViewportSize(DESKTOP);
}

/** The labs index lists every labs/NN-topic/ directory and every file in it. */
function checkLabs(reports: PageReport[]): string[] {
  const labs = readdirSync(join(repo, 'labs')).filter((d) => /^\d\d-/.test(d) && statSync(join(repo, 'labs', d)).isDirectory());
  const index = reports.find((r) => r.path === '/labs.html');
  if (!index) return labs.length ? ['no labs index page (docs/labs.md)'] : [];
  const hrefs = index.links.map((l) => decodeURIComponent(l.href).replace(/\/$/, ''));
  const problems: string[] = [];
  for (const lab of labs) {
    if (!hrefs.some((h) => h.endsWith(`/labs/${lab}`))) problems.push(`the labs index does not list labs/${lab}/`);
    for (const f of readdirSync(join(repo, 'labs', lab))) {
      if (f === 'README.md' || f.startsWith('.')) continue;
      if (!hrefs.some((h) => h.endsWith(`/labs/${lab}/${f}`))) problems.push(`the labs index does not list labs/${lab}/${f}`);
    }
  }
  return problems;
}

function checkLinks(reports: PageReport[], base: string): number {
  const byPath = new Map(reports.map((r) => [r.path, r]));
  let checked = 0;
  for (const r of reports) {
    for (const { href, text } of r.links) {
      if (!href.startsWith(base)) continue;
      checked++;
      const url = new URL(href);
      const file = fileFor(url.pathname);
      if (!file) {
        r.problems.push(`broken link "${text}" -> ${url.pathname}`);
        continue;
      }
      if (!url.hash || url.hash === '#') continue;
      const target = byPath.get('/' + relative(dist, file));
      const id = decodeURIComponent(url.hash.slice(1));
      if (target && !target.ids.has(id)) r.problems.push(`broken anchor "${text}" -> ${url.pathname}${url.hash}`);
    }
  }
  return checked;
}

/** The local search finds a word that only the book's text contains; null when it does. */
async function checkSearch(page: Page, base: string): Promise<string | null> {
  await page.goto(base + '/index.html', { waitUntil: 'networkidle' });
  await page.click('.VPNavBarSearch button');
  const input = page.locator('input.search-input, #localsearch-input').first();
  await input.waitFor({ timeout: 10000 });
  await input.fill('pivot_root');
  try {
    await page.waitForSelector('.VPLocalSearchBox .results li', { timeout: 10000 });
  } catch {
    return 'local search: no result for "pivot_root"';
  }
  const hits = await page.locator('.VPLocalSearchBox .results li').count();
  console.log(`  local search: ${hits} results for "pivot_root"`);
  await page.keyboard.press('Escape');
  return null;
}

/** A picture of each chapter's first diagram, as the reader sees it. */
async function screenshots(page: Page, base: string, reports: PageReport[], dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const r of reports.filter((r) => isChapter(r.path) && r.diagrams)) {
    await page.goto(base + r.path, { waitUntil: 'networkidle' });
    await waitForDiagrams(page, (s) => s.each.every((d) => d.theme !== '' || !d.id));
    const file = join(dir, r.path.slice(1).replace(/\.html$/, '.png'));
    await page.locator('.mermaid-diagram').first().screenshot({ path: file });
    console.log(`  screenshot: ${file}`);
  }
}

function printSizes(reports: PageReport[]): void {
  const rows = reports.flatMap((r) => r.sizes);
  console.log('\n  page                                diagram  kind          natural  drawn  column  scrolls  smallest label: font, box');
  for (const d of rows) {
    console.log(
      `  ${d.page.padEnd(36)}${String(d.index + 1).padStart(7)}  ${d.kind.padEnd(12)}${d.natural.toFixed(0).padStart(9)}${d.rendered.toFixed(0).padStart(7)}${String(d.column).padStart(8)}  ${(d.scrolls ? 'yes' : 'no').padEnd(7)}  ${d.label.toFixed(1)} px, ${d.labelBox.toFixed(1)} px`,
    );
  }
  console.log('');
}

async function main(argv: string[]) {
  const tap = option('--tap');
  if (!argv.includes('--no-build')) {
    const t0 = Date.now();
    const b = spawnSync(process.execPath, [join(repo, 'node_modules/vitepress/bin/vitepress.js'), 'build', 'docs', '--outDir', dist], { cwd: repo, encoding: 'utf8' });
    if (b.status !== 0) {
      console.log(b.stdout + b.stderr);
      console.log('site: the VitePress build failed');
      console.log('\nsite: 0 passed, 1 failed');
      process.exitCode = 1;
      return;
    }
    console.log(`built the site in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  const { server, base } = await serve();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
  const reports: PageReport[] = [];
  try {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    const repoUrl = repositoryUrl();
    for (const path of pages()) reports.push(await checkPage(page, base, path, repoUrl));
    for (const r of reports.filter((r) => r.diagrams)) await checkPhone(page, base, r);
    const links = checkLinks(reports, base);
    const labs = checkLabs(reports);
    (reports.find((r) => r.path === '/labs.html') ?? reports.find((r) => r.path === '/index.html'))?.problems.push(...labs);
    const search = await checkSearch(page, base);
    if (search) reports.find((r) => r.path === '/index.html')?.problems.push(search);
    if (option('--screenshots')) await screenshots(page, base, reports, resolve(option('--screenshots')!));
    if (argv.includes('--report')) printSizes(reports);
    let failed = 0;
    for (const r of reports) {
      console.log(`  ${r.problems.length ? 'FAIL' : 'ok  '} ${r.path} (${r.diagrams} diagrams, ${r.copyButtons} copy buttons)`);
      for (const p of r.problems) console.log(`       ${p}`);
      if (r.problems.length) failed++;
    }
    const diagrams = reports.reduce((n, r) => n + r.diagrams, 0);
    console.log(`site: ${reports.length} pages, ${diagrams} diagrams, ${links} internal links checked`);
    if (tap) {
      const lines = ['TAP version 13', ...reports.map((r, i) => `${r.problems.length ? 'not ok' : 'ok'} ${i + 1} - site ${r.path}`), `1..${reports.length}`, `# pass ${reports.length - failed}`, `# fail ${failed}`];
      writeFileSync(tap, lines.join('\n') + '\n');
    }
    console.log(`\nsite: ${reports.length - failed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  } finally {
    await browser.close();
    server.close();
  }
}

await main(process.argv.slice(2));
