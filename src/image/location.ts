/**
 * Where the image store lives: /var/lib/runts, or RUNTS_STORE, or --store.
 * Kept apart from store.ts so the CLI can find a container's directory
 * without loading the store (and node:crypto with it).
 *
 * The book: docs/06-overlayfs.md.
 */
export const DEFAULT_STORE = '/var/lib/runts';

export function storeRoot(root?: string): string {
  return root || process.env.RUNTS_STORE || DEFAULT_STORE;
}
