// Where the book's sources live, read from package.json's "repository" field
// (defined there once, for npm and for the site alike).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The checkout's top directory. */
export const top = fileURLToPath(new URL('../..', import.meta.url));

const pkg = JSON.parse(readFileSync(`${top}/package.json`, 'utf8')) as {
  repository?: string | { type?: string; url?: string };
  homepage?: string;
};
const raw = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
if (!raw) throw new Error('package.json has no "repository" url: the site links to it');

/** The repository's web address: https://github.com/OWNER/NAME */
export const repositoryUrl = raw.replace(/^git\+/, '').replace(/\.git$/, '');
/** The branch the site is built from. */
export const branch = 'main';
/** The web address of a file or directory of the repository, by its path from the top. */
export const sourceUrl = (path: string, kind: 'blob' | 'tree' = 'blob') => `${repositoryUrl}/${kind}/${branch}/${path}`;
