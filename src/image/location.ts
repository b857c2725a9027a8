/**
 * Where the image store lives: /var/lib/runts, or RUNTS_STORE, or --store.
 * Kept apart from store.ts so the CLI can find a container's directory
 * without loading the store (and node:crypto with it).
 *
 * The book: docs/06-overlayfs.md.
 */
import { join } from 'node:path';

export const DEFAULT_STORE = '/var/lib/runts';
/** The variable that moves the store. */
export const STORE_ENV = 'RUNTS_STORE';

export function storeRoot(root?: string): string {
  return root || process.env[STORE_ENV] || DEFAULT_STORE;
}

/** The file that makes NAME a front-end container (frontend/run.ts): `rm NAME` is then the front end's. */
export function frontEndContainerFile(name: string, root?: string): string {
  return join(storeRoot(root), 'containers', name, 'container.json');
}
