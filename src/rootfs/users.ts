/**
 * User and group names, as an image's own /etc/passwd and /etc/group give
 * them: `--user nobody` for the front end's `run`, and for `exec` of any
 * container. The files are read from the host side of the root filesystem,
 * and a symlink on the way is refused: an image could point it at the
 * host's own files.
 *
 * The book: docs/03-building-rootfs.md.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntsError } from '../errors.ts';

/** `uid[:gid]` or `name[:group]`, names looked up in the image's own files. */
export function resolveUser(rootfs: string, user: string): { uid: number; gid: number } {
  if (!user) return { uid: 0, gid: 0 };
  const [u, g] = user.split(':');
  const passwd = readImageFile(rootfs, 'etc/passwd');
  let uid: number, gid: number | undefined;
  if (/^\d+$/.test(u!)) {
    uid = Number(u);
    const entry = passwd.find((f) => Number(f[2]) === uid);
    gid = entry ? Number(entry[3]) : undefined;
  } else {
    const entry = passwd.find((f) => f[0] === u);
    if (!entry) throw new RuntsError('EINVAL', `--user ${user}: no user ${u} in the image's /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const entry = readImageFile(rootfs, 'etc/group').find((f) => f[0] === g);
      if (!entry) throw new RuntsError('EINVAL', `--user ${user}: no group ${g} in the image's /etc/group`);
      gid = Number(entry[2]);
    }
  }
  return { uid, gid: gid ?? 0 };
}

/** A colon file of the image; a symlink on the way is refused (it could point at the host's). */
function readImageFile(rootfs: string, rel: string): string[][] {
  let path = rootfs;
  for (const part of rel.split('/')) {
    path = join(path, part);
    try {
      if (lstatSync(path).isSymbolicLink()) return [];
    } catch {
      return [];
    }
  }
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => l.split(':'));
}
