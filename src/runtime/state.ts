/**
 * `runts state` and `runts list`: what the kernel says about each container.
 *
 * Without Node, dist/runts-fast prints the same document, recorded at
 * create: docs/design/fast-verbs.md.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import type { State } from '../oci/types.ts';
import type { RuntimeContext } from './create.ts';

/** What `runts state` prints for a state: the one shape, used by the CLI and by the fast verbs' record (fast-verbs.ts). */
export const stateText = (s: State): string => JSON.stringify(s, null, 2) + '\n';

export function state(ctx: RuntimeContext, id: string) {
  return ctx.store.state(ctx.store.read(id));
}

export function list(ctx: RuntimeContext) {
  const out = [];
  for (const id of ctx.store.ids()) {
    try {
      out.push(state(ctx, id));
    } catch {
      /* deleted while we listed */
    }
  }
  return out;
}
