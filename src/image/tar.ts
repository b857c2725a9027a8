/**
 * Tar, read and written as a stream: the format of every image layer, of
 * `docker save` and of a saved OCI layout - an image is tarballs of tarballs.
 *
 * A tar archive is a row of 512-byte blocks. Each entry is one header block
 * (name, mode, owner, size, mtime, type, link name; numbers as octal text)
 * followed by its data, padded to a whole block. Two zero blocks end it.
 * What a 1988 header cannot hold travels in an extra entry just before:
 *   - a PAX extended header (type `x`, POSIX 2001): records `len key=value\n`
 *     for the next entry (type `g`: for all that follow). Long paths, big
 *     sizes and owners, and extended attributes as `SCHILY.xattr.<name>`;
 *   - a GNU long name (`L`) or long link name (`K`): the name as the data.
 * The values are bytes, not text: a file capability (`security.capability`)
 * is a binary struct, and both sides here keep it byte for byte.
 *
 * This module holds the format and the writer; tar-read.ts the reader.
 * The writer writes the POSIX ustar format, adding a PAX header only for an
 * entry that needs one. GNU tar, libarchive, Go's archive/tar (umoci, Docker,
 * containerd) read it.
 *
 * The book: docs/06-overlayfs.md, "Images are tarballs of tarballs".
 */
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { RuntsError } from '../errors.ts';

export type TarType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarHeader {
  name: string; type: TarType; mode: number; uid: number; gid: number;
  mtime: Date; size?: number; linkname?: string; devmajor?: number; devminor?: number;
  uname?: string; gname?: string;
  /** extended attributes by full name ('security.capability'), raw bytes */
  xattrs?: Map<string, Buffer>;
}

export const BLOCK = 512;
const ZERO_BLOCKS = Buffer.alloc(2 * BLOCK);

/** The ustar header block: [offset, length] of each field. */
export const FIELD = {
  name: [0, 100], mode: [100, 8], uid: [108, 8], gid: [116, 8], size: [124, 12], mtime: [136, 12],
  checksum: [148, 8], typeflag: [156, 1], linkname: [157, 100], magic: [257, 6], version: [263, 2],
  uname: [265, 32], gname: [297, 32], devmajor: [329, 8], devminor: [337, 8], prefix: [345, 155],
} as const;
export type Field = keyof typeof FIELD;

/** The type byte of each entry type; `7` (contiguous file) and NUL (old tars) read as files. */
const TYPEFLAG: Record<TarType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6' };
export const PAX_LOCAL = 'x', PAX_GLOBAL = 'g', GNU_LONGNAME = 'L', GNU_LONGLINK = 'K';
export const XATTR = 'SCHILY.xattr.', LIBARCHIVE_XATTR = 'LIBARCHIVE.xattr.';

export const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

/** Unsigned sum of the header bytes, the checksum field counted as eight spaces. */
export function checksumOf(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

// ---------------------------------------------------------------- writer

/** The largest number an octal field of `length` bytes holds (length - 1 digits and a NUL). */
const octalMax = (length: number) => 8 ** (length - 1) - 1;

/** One PAX record, `len key=value\n`, where len counts the whole record, its own digits too. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(` ${key}=`) + value.length + 1;
  let len = rest + 1;
  while (len !== rest + String(len).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

/** `name` as ustar's prefix + '/' + name, or null when it does not fit. */
function splitName(name: string): { prefix: string; name: string } | null {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i), rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) > 155) return null;
    if (rest && Buffer.byteLength(rest) <= 100) return { prefix, name: rest };
  }
  return null;
}

/** A header block; `fields` holds what fits, numbers already in range. */
function headerBlock(fields: Partial<Record<Field, string | number>>): Buffer {
  const block = Buffer.alloc(BLOCK);
  for (const [key, value] of Object.entries(fields) as [Field, string | number][]) {
    const [offset, length] = FIELD[key];
    const text = typeof value === 'number' ? value.toString(8).padStart(length - 1, '0') : value;
    block.write(text, offset, length, 'utf8');
  }
  block.write('ustar\x0000', FIELD.magic[0], 8, 'latin1');
  block.write(`${checksumOf(block).toString(8).padStart(6, '0')}\0 `, FIELD.checksum[0], 8, 'latin1');
  return block;
}

function checkHeader(h: TarHeader): void {
  const bad = (why: string) => new RuntsError('EINVAL', `tar entry ${JSON.stringify(h.name)}: ${why}`);
  if (!h.name) throw bad('an empty name');
  if (h.name.includes('\0') || h.linkname?.includes('\0')) throw bad('a NUL byte in the name or link name');
  if (!(h.type in TYPEFLAG)) throw bad(`unknown type ${JSON.stringify(h.type)}`);
  for (const key of ['mode', 'uid', 'gid', 'size', 'devmajor', 'devminor'] as const) {
    const n = h[key];
    if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) throw bad(`${key} ${n} is not a whole number >= 0`);
  }
  if (Number.isNaN(h.mtime.getTime())) throw bad('an invalid mtime');
  if ((h.type === 'link' || h.type === 'symlink') && !h.linkname) throw bad(`a ${h.type} needs a link name`);
  if (h.type !== 'file' && h.size) throw bad(`a ${h.type} has no data, yet size is ${h.size}`);
  for (const key of ['devmajor', 'devminor'] as const) if ((h[key] ?? 0) > octalMax(8)) throw bad(`${key} ${h[key]} is too large`);
  for (const [name, value] of h.xattrs ?? []) {
    if (!name || name.includes('=') || name.includes('\0')) throw bad(`bad xattr name ${JSON.stringify(name)}`);
    if (!Buffer.isBuffer(value)) throw bad(`xattr ${name} is not a Buffer`);
  }
}

/**
 * Writes a tar archive to `out`, one entry at a time, waiting for `out`
 * when it is full. Calls to add() may overlap: entries are written in the
 * order of the calls. Nothing else may write to `out` meanwhile.
 */
export class TarWriter {
  readonly #out: NodeJS.WritableStream;
  #queue: Promise<void> = Promise.resolve();
  #broken: Error | null = null;
  #finished = false;

  /** An error of `out` fails the add() or finish() under way, or the next one. */
  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
    out.on('error', (err: Error) => { this.#broken ??= err; });
  }

  /**
   * Adds an entry. body: a Buffer or a Readable of exactly header.size bytes
   * (files only). A header that is wrong is refused before anything is
   * written; a failure while writing (a short body, `out` failing) leaves
   * the archive unusable, and every later call fails too.
   */
  add(header: TarHeader, body?: Buffer | NodeJS.ReadableStream): Promise<void> {
    try {
      if (this.#finished) throw new RuntsError('EINTERNAL', `tar entry ${JSON.stringify(header.name)} added after finish()`);
      const entry = prepare(header, body);
      return this.#then(() => this.#writeEntry(entry, body));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Writes the two end blocks, ends `out` and resolves once `out` has taken it all. */
  finish(): Promise<void> {
    this.#finished = true;
    return this.#then(async () => {
      await this.#write(ZERO_BLOCKS);
      this.#out.end();
      await finished(this.#out, { readable: false });
    });
  }

  /** Runs `step` after every earlier call, unless one of them broke the archive. */
  #then(step: () => Promise<void>): Promise<void> {
    const done = this.#queue.then(() => {
      if (this.#broken) throw new RuntsError('EINVAL', `tar: the archive is unusable after an earlier failure: ${this.#broken.message}`, { cause: this.#broken });
      return step().catch((err: Error) => { this.#broken = err; throw err; });
    });
    this.#queue = done.catch(() => {});
    return done;
  }

  async #write(chunk: Buffer): Promise<void> {
    if (this.#broken) throw this.#broken;
    if (chunk.length && !this.#out.write(chunk)) await once(this.#out, 'drain');
  }

  async #writeEntry(entry: Prepared, body: Buffer | NodeJS.ReadableStream | undefined): Promise<void> {
    for (const block of entry.blocks) await this.#write(block);
    const { name, size } = entry;
    if (body === undefined) return;
    let written = 0;
    if (Buffer.isBuffer(body)) {
      await this.#write(body);
      written = body.length;
    } else {
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        written += bytes.length;
        if (written > size) break;
        await this.#write(bytes);
      }
    }
    // A short or long body would shift every later header: the archive is lost.
    if (written !== size) throw new RuntsError('EINVAL', `tar entry ${JSON.stringify(name)}: size is ${size}, the body ${written > size ? 'is longer' : `has ${written} bytes`}`);
    await this.#write(Buffer.alloc(padding(size)));
  }
}

interface Prepared { name: string; size: number; blocks: Buffer[] }

/** The header blocks of an entry (a PAX header first when needed); throws on a bad header. */
function prepare(h: TarHeader, body: Buffer | NodeJS.ReadableStream | undefined): Prepared {
  checkHeader(h);
  const bad = (why: string) => new RuntsError('EINVAL', `tar entry ${JSON.stringify(h.name)}: ${why}`);
  const size = h.type === 'file' ? (h.size ?? (Buffer.isBuffer(body) ? body.length : 0)) : 0;
  if (h.type !== 'file' && body !== undefined) throw bad(`a ${h.type} has no body`);
  if (Buffer.isBuffer(body) && body.length !== size) throw bad(`size is ${size}, the body has ${body.length} bytes`);
  if (size && body === undefined) throw bad(`size is ${size}, but there is no body`);
  if (body !== undefined && !Buffer.isBuffer(body) && h.size === undefined) throw bad('a streamed body needs header.size');
  const name = h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const mtime = Math.floor(h.mtime.getTime() / 1000);
  const linkname = h.linkname ?? '';
  // names may fill their field; owner names need their NUL
  const fitsText = (text: string, field: Field) => Buffer.byteLength(text) <= FIELD[field][1] - (field === 'uname' || field === 'gname' ? 1 : 0);
  const fitsNumber = (n: number, field: Field) => n >= 0 && n <= octalMax(FIELD[field][1]);

  // What the ustar fields cannot hold goes into a PAX header first.
  const pax: Buffer[] = [];
  const split = splitName(name);
  if (!split) pax.push(paxRecord('path', Buffer.from(name)));
  if (!fitsText(linkname, 'linkname')) pax.push(paxRecord('linkpath', Buffer.from(linkname)));
  const numbers = { uid: h.uid, gid: h.gid, size, mtime };
  for (const [key, n] of Object.entries(numbers)) if (!fitsNumber(n, key as Field)) pax.push(paxRecord(key, Buffer.from(String(n))));
  for (const key of ['uname', 'gname'] as const) if (!fitsText(h[key] ?? '', key)) pax.push(paxRecord(key, Buffer.from(h[key]!)));
  for (const [key, value] of h.xattrs ?? []) pax.push(paxRecord(XATTR + key, value));

  const blocks: Buffer[] = [];
  if (pax.length) {
    const records = Buffer.concat(pax);
    const paxName = `PaxHeaders/${name.replace(/\/$/, '').split('/').pop()}`;
    blocks.push(headerBlock({ name: paxName, mode: 0o644, uid: 0, gid: 0, size: records.length, mtime: 0, typeflag: PAX_LOCAL }));
    blocks.push(records, Buffer.alloc(padding(records.length)));
  }
  blocks.push(headerBlock({
    name: split?.name ?? name, prefix: split?.prefix ?? '', // a long name is cut here, whole in the PAX path
    mode: h.mode & 0o7777, uid: fitsNumber(h.uid, 'uid') ? h.uid : 0, gid: fitsNumber(h.gid, 'gid') ? h.gid : 0,
    size: fitsNumber(size, 'size') ? size : 0, mtime: fitsNumber(mtime, 'mtime') ? mtime : 0,
    typeflag: TYPEFLAG[h.type], linkname: fitsText(linkname, 'linkname') ? linkname : '',
    uname: fitsText(h.uname ?? '', 'uname') ? (h.uname ?? '') : '', gname: fitsText(h.gname ?? '', 'gname') ? (h.gname ?? '') : '',
    devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0,
  }));
  return { name: h.name, size, blocks };
}
