/**
 * book-site: build the book's site and check it in a real browser.
 *
 *   node scripts/book-site.ts [--no-build] [--tap FILE]
 *
 * Builds docs/ with VitePress, serves the result on 127.0.0.1, and opens every
 * page in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core). A page passes when it loads with no console error, no
 * uncaught exception and no failed request; when every Mermaid diagram on it
 * has rendered to an SVG (in light and in dark mode); and when every internal
 * link on it leads to a page that exists and, for a link with #anchor, to an
 * element with that id. It also checks that every page has the search box,
 * the light/dark switch and a copy button on each code block, and that the
 * local search finds a word of the book.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, relative, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';

const repo = resolve(import.meta.dirname, '..');
const dist = join(repo, 'docs/.vitepress/dist');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

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

interface PageReport {
  path: string;
  problems: string[];
  ids: Set<string>;
  links: { href: string; text: string }[];
  diagrams: number;
  copyButtons: number;
}

async function waitForDiagrams(page: Page): Promise<{ total: number; rendered: number; failed: number }> {
  const count = () =>
    page.evaluate(() => {
      const all = [...document.querySelectorAll('.mermaid-diagram')];
      return {
        total: all.length,
        rendered: all.filter((d) => d.getAttribute('data-rendered') === 'yes' && d.querySelector('svg')).length,
        failed: all.filter((d) => d.getAttribute('data-rendered') === 'error').length,
      };
    });
  const deadline = Date.now() + 20000;
  let c = await count();
  while (c.rendered + c.failed < c.total && Date.now() < deadline) {
    await page.waitForTimeout(200);
    c = await count();
  }
  return c;
}

async function checkPage(page: Page, base: string, path: string): Promise<PageReport> {
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
    await page.goto(base + path, { waitUntil: 'networkidle' });
    const light = await waitForDiagrams(page);
    if (light.rendered < light.total) problems.push(`${light.total - light.rendered} of ${light.total} Mermaid diagrams did not render to SVG`);
    // the same page in the other colour scheme: the diagrams render again
    if (light.total) {
      await page.evaluate(() => (document.querySelector('.VPSwitchAppearance') as HTMLElement | null)?.click());
      await page.waitForTimeout(300);
      const dark = await waitForDiagrams(page);
      if (dark.rendered < dark.total) problems.push(`${dark.total - dark.rendered} Mermaid diagrams did not render after switching light/dark`);
      await page.evaluate(() => (document.querySelector('.VPSwitchAppearance') as HTMLElement | null)?.click());
      await waitForDiagrams(page);
    }
    const info = await page.evaluate(() => ({
      ids: [...document.querySelectorAll('[id]')].map((e) => e.id),
      links: [...document.querySelectorAll('a[href]')].map((a) => ({ href: (a as HTMLAnchorElement).href, text: (a.textContent ?? '').trim().slice(0, 40) })),
      codeBlocks: document.querySelectorAll('div[class*="language-"]').length,
      copyButtons: document.querySelectorAll('button.copy').length,
      search: !!document.querySelector('.VPNavBarSearch, #local-search'),
      appearance: !!document.querySelector('.VPSwitchAppearance'),
    }));
    if (!info.search) problems.push('no search box');
    if (!info.appearance) problems.push('no light/dark switch');
    if (info.copyButtons < info.codeBlocks) problems.push(`${info.codeBlocks - info.copyButtons} code blocks without a copy button`);
    return { path, problems, ids: new Set(info.ids), links: info.links, diagrams: light.total, copyButtons: info.copyButtons };
  } finally {
    page.off('console', onConsole);
    page.off('pageerror', onPageError);
    page.off('requestfailed', onFailed);
    page.off('response', onResponse);
  }
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

async function main(argv: string[]) {
  const tapAt = argv.indexOf('--tap');
  const tap = tapAt >= 0 ? argv[tapAt + 1] : undefined;
  if (!argv.includes('--no-build')) {
    const t0 = Date.now();
    const b = spawnSync(process.execPath, [join(repo, 'node_modules/vitepress/bin/vitepress.js'), 'build', 'docs'], { cwd: repo, encoding: 'utf8' });
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
    const context = await browser.newContext();
    const page = await context.newPage();
    for (const path of pages()) reports.push(await checkPage(page, base, path));
    const links = checkLinks(reports, base);
    const search = await checkSearch(page, base);
    if (search) reports.find((r) => r.path === '/index.html')?.problems.push(search);
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
