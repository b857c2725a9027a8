/**
 * The rootless front end's user namespace: where an unprivileged user's
 * `runts pull`, `run IMAGE`, `commit`, `rm`, ... do their work, as rootless
 * podman does in its own.
 *
 * Image files belong to many users (root's /etc/shadow, a daemon's uid
 * 1000), and an unprivileged process can neither chown a file to another
 * id nor mount OverlayFS on the host. In a user namespace that maps root to
 * the user and 1..N to the user's /etc/subuid range, both work: unpack
 * chowns to container ids (the disk holds the subordinate ids), and the
 * overlay is mounted in a mount namespace of that user namespace (kernel
 * >= 5.11, `userxattr`). So these commands re-execute runts there before
 * they do anything, through util-linux's `unshare` (>= 2.38, which maps a
 * range with Debian's setuid `newuidmap`/`newgidmap`): runts itself runs
 * nothing privileged, and `process.execve` replaces the process, so
 * signals and the exit status are the command's own.
 *
 * Inside, runts is uid 0 of a user namespace: rootless by detect.ts's
 * rule, writing its containers' id maps itself. A container gets a user
 * namespace of its own, mapped 1:1 onto this one (frontend/spec.ts).
 *
 * Design: docs/design/rootless.md, "The front end".
 */
import { existsSync } from 'node:fs';
import { RuntsError } from '../errors.ts';
import { idMapHost, type IdMapHost, type IdRange, subIdRanges } from './idmap.ts';

/** util-linux's unshare, which sets up the namespace and its maps. */
export const UNSHARE = '/usr/bin/unshare';

/** What the namespace maps: root to the user's own ids, 1..count to its first subordinate ranges. */
export interface FrontEndIdMap {
  uid: number;
  gid: number;
  subuid: IdRange;
  subgid: IdRange;
}

/**
 * The map for this user, or the one error that says what is missing and how
 * to add it. Read before anything is made, so a refusal leaves nothing.
 */
export function frontEndIdMap(host: IdMapHost, unshareFound: boolean): FrontEndIdMap {
  const who = `uid ${host.euid}${host.userName ? ` (${host.userName})` : ''}`;
  const name = host.userName ?? String(host.euid);
  const subuid = subIdRanges(host.subuid, { name: host.userName, id: host.euid })[0];
  const subgid = subIdRanges(host.subgid, { name: host.userName, id: host.euid })[0];
  if (!subuid || !subgid) {
    const missing = [!subuid && '/etc/subuid', !subgid && '/etc/subgid'].filter(Boolean).join(' and ');
    throw new RuntsError('EPERM', `the rootless front end needs a range of subordinate ids for the files of images (owned by root and other users inside), and ${missing} give${missing.includes(' and ') ? '' : 's'} ${who} none: as root, run \`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name}\` (any free range of 65536)`);
  }
  const tools = [!host.newuidmap && 'newuidmap', !host.newgidmap && 'newgidmap'].filter(Boolean);
  if (tools.length) {
    throw new RuntsError('ENOTSUP', `the rootless front end maps ${who}'s subordinate ids through ${tools.join(' and ')} (setuid root; Debian package uidmap), and ${tools.length > 1 ? 'they are' : 'it is'} not installed: as root, run \`apt-get install uidmap\``);
  }
  if (!unshareFound) throw new RuntsError('ENOTSUP', `the rootless front end enters its user namespace with ${UNSHARE} (util-linux >= 2.38), and it is not installed`);
  return { uid: host.euid, gid: host.egid, subuid, subgid };
}

/** unshare's arguments for that map, with a private mount namespace. */
export function unshareArgs(map: FrontEndIdMap): string[] {
  return [
    '--map-user=0', '--map-group=0',
    `--map-users=${map.subuid.start},1,${map.subuid.count}`,
    `--map-groups=${map.subgid.start},1,${map.subgid.count}`,
    '--mount', '--propagation=private',
  ];
}

/**
 * The ids this user namespace maps, as its own ids: one range per line of
 * /proc/self/uid_map (or gid_map, or `text`). A child namespace's map must
 * follow the same lines: the kernel maps each of its ranges through one
 * line of the parent's.
 */
export function namespaceRanges(text: string): IdRange[] {
  return text.trim().split('\n').map((line) => line.trim().split(/\s+/).map(Number)).map(([start, , count]) => ({ start: start!, count: count! }));
}

/**
 * Re-executes this runts command inside the front end's user namespace;
 * does not return. `args` are runts's own arguments (after node and the
 * script), `env` the environment to run them with.
 */
export function reexecInUserNamespace(map: FrontEndIdMap, args: string[], env: NodeJS.ProcessEnv): never {
  const argv = [UNSHARE, ...unshareArgs(map), process.execPath, ...process.execArgv, process.argv[1]!, ...args];
  process.execve!(UNSHARE, argv, env as Record<string, string>);
  throw new RuntsError('EINTERNAL', `exec ${UNSHARE} returned`);
}

/**
 * For an unprivileged caller: runs this command again inside the front
 * end's user namespace, with the state directory and the store it would
 * use out here made explicit (inside, runts is uid 0 and would pick
 * root's). Checks everything first: a refusal leaves nothing behind.
 */
export function enterFrontEndNamespace(args: string[], opts: { stateRoot: string; store: string; rootGiven: boolean }): never {
  const map = frontEndIdMap(idMapHost(), existsSync(UNSHARE));
  const runtsArgs = opts.rootGiven ? args : ['--root', opts.stateRoot, ...args];
  return reexecInUserNamespace(map, runtsArgs, { ...process.env, RUNTS_STORE: opts.store });
}
