/**
 * `runts state` and `runts list`: what the kernel says about each container.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import type { RuntimeContext } from './create.ts';

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
