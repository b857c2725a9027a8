/**
 * `runts state` and `runts list`: what the kernel says about each container.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import { readFileSync, statSync } from 'node:fs';
import type { RuntimeContext } from './create.ts';

export function state(ctx: RuntimeContext, id: string) {
  return ctx.store.state(ctx.store.read(id));
}

export function list(ctx: RuntimeContext) {
  const out = [];
  for (const id of ctx.store.ids()) {
    try {
      const s = state(ctx, id);
      out.push(Object.assign(s, { owner: userName(statSync(ctx.store.dir(id)).uid) }));
    } catch {
      /* deleted while we listed */
    }
  }
  return out;
}

/** Who owns a container, as runc's list says it: the state directory's owner, by name (the host's /etc/passwd) or number. */
function userName(uid: number): string {
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    /* numbers only */
  }
  return passwd.split('\n').map((l) => l.split(':')).find((f) => f[2] === String(uid))?.[0] ?? String(uid);
}
