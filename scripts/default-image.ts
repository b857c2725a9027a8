// default-image.ts - lays out runts' embedded default image: a minimal root
// filesystem made of Debian's busybox-static and a handful of /etc files.
//
//   node scripts/default-image.ts [ROOTFS]     (default: dist/images/busybox/rootfs)
//
// scripts/build.mjs calls buildDefaultImage(). The result is deterministic
// (same busybox in, same tree out, every mtime set to SOURCE_DATE_EPOCH or 0)
// and replaces the previous tree atomically (build beside it, then rename).

import { execFileSync } from 'node:child_process';
import {
  chmodSync, closeSync, copyFileSync, existsSync, lutimesSync, mkdirSync, openSync,
  readSync, renameSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where Debian's busybox-static package installs its binary. */
export const BUSYBOX = '/bin/busybox';

const ETC: Record<string, string> = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
  'etc/hostname': 'runts\n',
};

// [path, mode]; modes are set with chmod, so the umask does not matter.
const DIRS: Array<[string, number]> = [
  ['bin', 0o755], ['etc', 0o755], ['dev', 0o755], ['proc', 0o755], ['sys', 0o755],
  ['root', 0o700], ['tmp', 0o1777],
];

/** Throws unless `file` is an ELF executable with no program interpreter (static). */
export function assertStaticElf(file: string): void {
  const fd = openSync(file, 'r');
  try {
    const h = Buffer.alloc(64);
    readSync(fd, h, 0, 64, 0);
    if (h.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file}: not an ELF file`);
    const is64 = h[4] === 2;
    const le = h[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? h.readBigUInt64LE(0x20) : h.readBigUInt64BE(0x20)) : u32(h, 0x1c);
    const phentsize = u16(h, is64 ? 0x36 : 0x2a);
    const phnum = u16(h, is64 ? 0x38 : 0x2c);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (u32(ph, i * phentsize) === 3 /* PT_INTERP */) {
        throw new Error(`${file} is dynamically linked; the default image needs Debian's busybox-static (apt-get install busybox-static)`);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Builds the default image's root filesystem at `rootfs`; returns the applet count. */
export function buildDefaultImage(rootfs: string, busybox = BUSYBOX): number {
  if (!existsSync(busybox)) {
    throw new Error(`${busybox} not found: the default image needs Debian's busybox-static (apt-get install busybox-static)`);
  }
  assertStaticElf(busybox);
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' })
    .split('\n').filter((a) => /^[\w.[\-]+$/.test(a) && a !== 'busybox').sort();

  const tmp = `${rootfs}.new`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const made: string[] = [];
  for (const [dir, mode] of DIRS) {
    mkdirSync(path.join(tmp, dir));
    chmodSync(path.join(tmp, dir), mode);
    made.push(dir);
  }
  copyFileSync(busybox, path.join(tmp, 'bin/busybox'));
  chmodSync(path.join(tmp, 'bin/busybox'), 0o755);
  made.push('bin/busybox');
  for (const a of applets) {
    symlinkSync('busybox', path.join(tmp, 'bin', a));
    made.push(`bin/${a}`);
  }
  for (const [file, text] of Object.entries(ETC)) {
    writeFileSync(path.join(tmp, file), text, { mode: 0o644 });
    chmodSync(path.join(tmp, file), 0o644);
    made.push(file);
  }
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? 0);
  for (const p of [...made.reverse(), '.']) lutimesSync(path.join(tmp, p), epoch, epoch);

  const old = `${rootfs}.old`;
  rmSync(old, { recursive: true, force: true });
  if (existsSync(rootfs)) renameSync(rootfs, old);
  renameSync(tmp, rootfs);
  rmSync(old, { recursive: true, force: true });
  return applets.length;
}

if (import.meta.main) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  buildDefaultImage(path.resolve(process.argv[2] ?? path.join(root, 'dist/images/busybox/rootfs')));
}
