/**
 * `runts state` and `runts list`: what the kernel says about each container.
 *
 * Without Node, dist/runts-fast prints the same document, recorded at
 * create: docs/design/fast-verbs.md.
 *
 * The book: docs/09-writing-runtime.md, "State".
 */
import type { State } from '../oci/types.ts';
import { readFileSync, statSync } from 'node:fs';
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
