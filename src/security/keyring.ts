/**
 * The container's session keyring.
 *
 * A session keyring is inherited across fork and exec, so a container started
 * from a shell that holds keys (a login session, `keyctl session`) would hold
 * the same keyring: read its keys, add to it, clear it. As runc does, INIT
 * joins a keyring of its own, named after the container, in the container's
 * user namespace; `runts exec` joins the same one by name. `--no-new-keyring`
 * (runc's flag) keeps the caller's.
 *
 * The book: docs/08-security.md; design: docs/design/security.md, "The session keyring".
 */
import { steps, type Step } from '../protocol/steps.ts';

/** Possessor search; user view, write, search (linux/key.h): so the
 * container's own processes, and exec'd ones, can find the keyring by name. */
const KEY_POS_SEARCH = 0x08000000;
const KEY_USR_VIEW = 0x00010000;
const KEY_USR_WRITE = 0x00040000;
const KEY_USR_SEARCH = 0x00080000;
export const SESSION_KEYRING_PERM = KEY_POS_SEARCH | KEY_USR_VIEW | KEY_USR_WRITE | KEY_USR_SEARCH;

export function sessionKeyringName(id: string): string {
  return `_ses.${id}`;
}

/** The step that gives the container its own session keyring, unless the caller keeps theirs. */
export function sessionKeyringStep(id: string, noNewKeyring: boolean | undefined): Step | undefined {
  return noNewKeyring ? undefined : steps.sessionKeyring(sessionKeyringName(id), SESSION_KEYRING_PERM);
}
