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
 * The reader is an async generator over a byte stream; each entry's data is
 * streamed from it as it is read, so a layer of gigabytes never sits in memory.
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

const BLOCK = 512;
const ZERO_BLOCKS = Buffer.alloc(2 * BLOCK);

/** The ustar header block: [offset, length] of each field. */
const FIELD = {
  name: [0, 100], mode: [100, 8], uid: [108, 8], gid: [116, 8], size: [124, 12], mtime: [136, 12],
  checksum: [148, 8], typeflag: [156, 1], linkname: [157, 100], magic: [257, 6], version: [263, 2],
  uname: [265, 32], gname: [297, 32], devmajor: [329, 8], devminor: [337, 8], prefix: [345, 155],
} as const;
type Field = keyof typeof FIELD;

/** The type byte of each entry type; `7` (contiguous file) and NUL (old tars) read as files. */
const TYPEFLAG: Record<TarType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6' };
const PAX_LOCAL = 'x', PAX_GLOBAL = 'g', GNU_LONGNAME = 'L', GNU_LONGLINK = 'K';
const XATTR = 'SCHILY.xattr.', LIBARCHIVE_XATTR = 'LIBARCHIVE.xattr.';

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

/** Unsigned sum of the header bytes, the checksum field counted as eight spaces. */
function checksumOf(block: Buffer): number {
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

// ---------------------------------------------------------------- reader

export interface TarEntry extends Omit<TarHeader, 'type' | 'size' | 'linkname' | 'uname' | 'gname' | 'xattrs'> {
  /** 'unknown' for a type this module does not know (GNU sparse, volume label, ...): skip it */
  type: TarType | 'unknown';
  /** the type byte as written: '0', '5', 'S', ... ('\0' for an old-style file) */
  typeflag: string;
  size: number; linkname: string; uname: string; gname: string;
  xattrs: Map<string, Buffer>;
  /** every PAX record in force for this entry (global ones too), values as bytes */
  pax: Map<string, Buffer>;
  /**
   * The data, streamed: read it, or leave it, before asking for the next
   * entry (what is left unread is skipped then). Empty but for files.
   */
  body: AsyncIterable<Buffer>;
}

/** More than this in a PAX header or a GNU long name is an attack, not a file. */
const MAX_META = 8 << 20;

const TYPE_OF: Record<string, TarType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'directory', '6': 'fifo' };

const corrupt = (why: string) => new RuntsError('EIMAGE', `corrupt tar: ${why}`);

/** The bytes of an input stream, handed out in exact amounts. */
class ByteReader {
  readonly #chunks: AsyncIterator<Uint8Array>;
  #buffered = Buffer.alloc(0);
  /** bytes handed out so far: where the next one sits in the stream */
  offset = 0;

  constructor(input: AsyncIterable<Uint8Array>) {
    this.#chunks = input[Symbol.asyncIterator]();
  }

  async #more(): Promise<boolean> {
    const next = await this.#chunks.next();
    if (next.done) return false;
    this.#buffered = this.#buffered.length ? Buffer.concat([this.#buffered, next.value]) : Buffer.from(next.value);
    return true;
  }

  #take(n: number): Buffer {
    const out = this.#buffered.subarray(0, n);
    this.#buffered = this.#buffered.subarray(n);
    this.offset += n;
    return out;
  }

  /** Exactly `n` bytes, or null when the stream ends before the first; ending between is `truncated`. */
  async read(n: number, what: string): Promise<Buffer | null> {
    while (this.#buffered.length < n) {
      if (!(await this.#more())) {
        if (!this.#buffered.length) return null;
        throw new RuntsError('EIMAGE', `truncated tar: the stream ends inside ${what}, at byte ${this.offset + this.#buffered.length}`);
      }
    }
    return this.#take(n);
  }

  /** `n` bytes as they arrive, in chunks. */
  async *stream(n: number, what: string): AsyncGenerator<Buffer> {
    while (n > 0) {
      if (!this.#buffered.length && !(await this.#more())) throw new RuntsError('EIMAGE', `truncated tar: the stream ends inside ${what}, at byte ${this.offset}`);
      const chunk = this.#take(Math.min(n, this.#buffered.length));
      n -= chunk.length;
      yield chunk;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const _ of this.stream(n, what)) { /* skipped */ }
  }

  /** Reads to the end; what follows the end of an archive is ignored. */
  async drain(): Promise<void> {
    while (await this.#more()) this.offset += this.#take(this.#buffered.length).length;
  }
}

const isZero = (block: Buffer) => block.every((b) => b === 0);

/** A text field: up to its first NUL. */
function text(block: Buffer, field: Field): string {
  const [offset, length] = FIELD[field];
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.toString('utf8', 0, end === -1 ? length : end);
}

/**
 * A number field: octal text (NUL- or space-terminated), or GNU base-256 for
 * what octal cannot hold: the top bit of the first byte set, then the value
 * as big-endian two's complement (uids past 2097151, sizes past 8 GiB).
 */
function number(block: Buffer, field: Field, at: number): number {
  const [offset, length] = FIELD[field];
  const raw = block.subarray(offset, offset + length);
  if (raw[0]! & 0x80) {
    let value = 0n;
    for (const byte of raw) value = (value << 8n) | BigInt(byte);
    value = raw[0] === 0xff ? value - (1n << BigInt(8 * length)) : value - (0x80n << BigInt(8 * (length - 1)));
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`the ${field} of the header at byte ${at} is out of range`);
    return Number(value);
  }
  const digits = text(block, field).trim();
  if (!/^[0-7]*$/.test(digits)) throw corrupt(`the ${field} of the header at byte ${at} is not octal: ${JSON.stringify(digits)}`);
  return digits ? parseInt(digits, 8) : 0;
}

/** Checks the header's checksum: historic writers summed the bytes as signed chars, so either sum is accepted. */
function checkChecksum(block: Buffer, at: number): void {
  const unsigned = checksumOf(block);
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) signed += i >= 148 && i < 156 ? 0x20 : (block[i]! << 24) >> 24;
  const stored = text(block, 'checksum').trim();
  if (/^[0-7]+$/.test(stored) && (parseInt(stored, 8) === unsigned || parseInt(stored, 8) === signed)) return;
  throw corrupt(`bad header checksum at byte ${at}: the header says ${JSON.stringify(stored)}, its bytes sum to ${unsigned.toString(8)} (octal); not a tar archive, or a damaged one`);
}

interface RawHeader { name: string; typeflag: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string; uname: string; gname: string; devmajor: number; devminor: number }

/** A header block: v7 (no magic), POSIX ustar (`ustar\0`, with a name prefix) or old GNU (`ustar  \0`). */
function parseHeader(block: Buffer, at: number): RawHeader {
  checkChecksum(block, at);
  const magic = block.toString('latin1', FIELD.magic[0], FIELD.magic[0] + 8);
  const ustar = magic.startsWith('ustar\0'), gnu = magic === 'ustar  \0';
  const prefix = ustar ? text(block, 'prefix') : ''; // old GNU keeps times where ustar has its prefix
  const name = prefix ? `${prefix}/${text(block, 'name')}` : text(block, 'name');
  const typeflag = block.toString('latin1', FIELD.typeflag[0], FIELD.typeflag[0] + 1);
  const withOwners = ustar || gnu;
  return {
    name, typeflag,
    mode: number(block, 'mode', at), uid: number(block, 'uid', at), gid: number(block, 'gid', at),
    size: number(block, 'size', at), mtime: number(block, 'mtime', at), linkname: text(block, 'linkname'),
    uname: withOwners ? text(block, 'uname') : '', gname: withOwners ? text(block, 'gname') : '',
    devmajor: withOwners ? number(block, 'devmajor', at) : 0, devminor: withOwners ? number(block, 'devminor', at) : 0,
  };
}

/** The records of a PAX header: `len key=value\n`, len counting the whole record. Values stay bytes. */
function parsePax(data: Buffer, at: number): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  const bad = (why: string) => corrupt(`PAX header at byte ${at}: ${why}`);
  for (let pos = 0; pos < data.length;) {
    const space = data.indexOf(0x20, pos);
    const lenText = space === -1 ? '' : data.toString('latin1', pos, space);
    const len = Number(lenText);
    if (!/^[0-9]+$/.test(lenText) || len <= space - pos + 1 || pos + len > data.length) throw bad(`bad record length ${JSON.stringify(lenText)} at offset ${pos}`);
    if (data[pos + len - 1] !== 0x0a) throw bad(`the record at offset ${pos} does not end in a newline`);
    const record = data.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw bad(`the record at offset ${pos} has no key=value`);
    records.set(record.toString('utf8', 0, eq), Buffer.from(record.subarray(eq + 1)));
    pos += len;
  }
  return records;
}

/** A decimal PAX value; mtime may have a fraction (and be negative). */
function paxNumber(key: string, value: Buffer, fraction: boolean): number {
  const digits = value.toString('latin1');
  const n = Number(digits);
  if (!(fraction ? /^-?[0-9]+(\.[0-9]+)?$/ : /^[0-9]+$/).test(digits) || !Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER) {
    throw corrupt(`PAX ${key} is not a number: ${JSON.stringify(digits)}`);
  }
  return n;
}

/** The extended attributes among PAX records: GNU tar's and star's raw bytes, libarchive's base64. */
function xattrsOf(pax: Map<string, Buffer>): Map<string, Buffer> {
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    if (key.startsWith(XATTR)) xattrs.set(key.slice(XATTR.length), value);
    else if (key.startsWith(LIBARCHIVE_XATTR)) xattrs.set(decodeURIComponent(key.slice(LIBARCHIVE_XATTR.length)), Buffer.from(value.toString('latin1'), 'base64'));
  }
  return xattrs;
}

/** The data of an entry type that has some: link, symlink, device, dir and fifo headers carry none, whatever their size says. */
const hasData = (typeflag: string) => !(typeflag in TYPE_OF) || TYPE_OF[typeflag] === 'file';

/**
 * Reads a tar archive (already decompressed) entry by entry. PAX headers and
 * GNU long names are applied to the entries they describe and not yielded.
 * Ends at two zero blocks (then reads the rest of the stream, the record
 * padding, without looking at it), or at the end of the stream on a block
 * boundary; a stream that ends anywhere else is an error.
 */
export async function* readTar(input: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const bytes = new ByteReader(input);
  let globals = new Map<string, Buffer>();
  let local = new Map<string, Buffer>(); // PAX records for the next entry
  let longName: string | undefined, longLink: string | undefined;
  let previous = 'the first header';
  for (;;) {
    const at = bytes.offset;
    const block = await bytes.read(BLOCK, `the header after ${previous}`);
    if (!block) {
      if (local.size || longName !== undefined || longLink !== undefined) throw new RuntsError('EIMAGE', `truncated tar: the stream ends after ${previous}`);
      break;
    }
    if (isZero(block)) {
      const next = await bytes.read(BLOCK, 'the end-of-archive marker');
      if (next && !isZero(next)) throw corrupt(`a zero block at byte ${at} followed by data`);
      break;
    }
    const h = parseHeader(block, at);
    const describe = `the ${h.typeflag === PAX_LOCAL || h.typeflag === PAX_GLOBAL ? 'PAX header' : h.typeflag === GNU_LONGNAME || h.typeflag === GNU_LONGLINK ? 'GNU long name' : 'entry'} at byte ${at} (${JSON.stringify(h.name)})`;

    if ([PAX_LOCAL, PAX_GLOBAL, GNU_LONGNAME, GNU_LONGLINK].includes(h.typeflag)) {
      if (h.size > MAX_META) throw corrupt(`${describe} is ${h.size} bytes, more than ${MAX_META}`);
      const data = (await bytes.read(h.size + padding(h.size), `the data of ${describe}`) ?? Buffer.alloc(0)).subarray(0, h.size);
      if (h.size && !data.length) throw new RuntsError('EIMAGE', `truncated tar: the stream ends inside the data of ${describe}`);
      const asName = () => { const end = data.indexOf(0); return data.toString('utf8', 0, end === -1 ? data.length : end); };
      if (h.typeflag === PAX_LOCAL) local = new Map([...local, ...parsePax(data, at)]);
      else if (h.typeflag === PAX_GLOBAL) globals = new Map([...globals, ...parsePax(data, at)]);
      else if (h.typeflag === GNU_LONGNAME) longName = asName();
      else longLink = asName();
      previous = describe;
      continue;
    }

    // PAX records override the header; an empty value means "use the header's".
    const pax = new Map([...globals, ...local]);
    const value = (key: string) => (pax.get(key)?.length ? pax.get(key) : undefined);
    const str = (key: string) => value(key)?.toString('utf8');
    const num = (key: string, fallback: number, fraction = false) => { const v = value(key); return v ? paxNumber(key, v, fraction) : fallback; };
    const name = str('path') ?? longName ?? h.name;
    const type = h.typeflag === '\0' && name.endsWith('/') ? 'directory' : (TYPE_OF[h.typeflag] ?? 'unknown');
    const size = hasData(h.typeflag) ? num('size', h.size) : 0;
    const end = bytes.offset + size;
    const what = `the data of ${JSON.stringify(name)} (the entry at byte ${at})`;
    yield {
      name, type, typeflag: h.typeflag, mode: h.mode, size,
      uid: num('uid', h.uid), gid: num('gid', h.gid), mtime: new Date(num('mtime', h.mtime, true) * 1000),
      linkname: str('linkpath') ?? longLink ?? h.linkname, uname: str('uname') ?? h.uname, gname: str('gname') ?? h.gname,
      devmajor: h.devmajor, devminor: h.devminor, xattrs: xattrsOf(pax), pax,
      body: {
        async *[Symbol.asyncIterator]() {
          if (bytes.offset > end) throw new RuntsError('EINTERNAL', `tar: ${what} read after the next entry`);
          yield* bytes.stream(end - bytes.offset, what);
        },
      },
    };
    if (bytes.offset > end) throw new RuntsError('EINTERNAL', `tar: ${what} read past its end`);
    await bytes.skip(end - bytes.offset + padding(size), what);
    local = new Map();
    longName = longLink = undefined;
    previous = `the entry at byte ${at} (${JSON.stringify(name)})`;
  }
  await bytes.drain();
}
