/**
 * Where the image store lives: --store, else RUNTS_STORE, else
 * /var/lib/runts for root and, for an unprivileged user (the rootless front
 * end), `$XDG_DATA_HOME/runts` (default `~/.local/share/runts`, as podman
 * keeps `~/.local/share/containers`). Kept apart from store.ts so the CLI
 * can find a container's directory without loading the store (and
 * node:crypto with it).
 *
 * The book: docs/06-overlayfs.md; rootless: docs/design/rootless.md.
 */
import { isAbsolute, join } from 'node:path';
import { RuntsError } from '../errors.ts';

export const DEFAULT_STORE = '/var/lib/runts';
/** The variable that moves the store. */
export const STORE_ENV = 'RUNTS_STORE';

/** The store when neither --store nor RUNTS_STORE names one. */
export function defaultStoreRoot(env: NodeJS.ProcessEnv = process.env, euid: number = process.geteuid!()): string {
  if (euid === 0) return DEFAULT_STORE;
  // The XDG Base Directory rules: a relative XDG_DATA_HOME is ignored.
  const data = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : env.HOME && isAbsolute(env.HOME) ? join(env.HOME, '.local/share') : undefined;
  if (!data) {
    throw new RuntsError('EINVAL', `runts runs as an unprivileged user (uid ${euid}) and keeps its images in $XDG_DATA_HOME/runts (default ~/.local/share/runts), but neither XDG_DATA_HOME nor HOME is set: set one, or pass --store DIR`);
  }
  return join(data, 'runts');
}

export function storeRoot(root?: string): string {
  return root || process.env[STORE_ENV] || defaultStoreRoot();
}

/** The file that makes NAME a front-end container (frontend/run.ts): `rm NAME` is then the front end's. */
export function frontEndContainerFile(name: string, root?: string): string {
  return join(storeRoot(root), 'containers', name, 'container.json');
}
