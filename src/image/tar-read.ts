/**
 * Tar read as a stream: an async generator over a byte stream whose entries
 * each stream their data as it is read, so a layer of gigabytes never sits
 * in memory. ustar and old v7 headers, both checksum forms, octal and GNU
 * base-256 numbers, PAX local and global headers (values kept as bytes),
 * GNU long names and link names; a stream that ends early is an error,
 * never a short archive. The format itself: tar.ts.
 *
 * The book: docs/06-overlayfs.md, "Images are tarballs of tarballs".
 */
import { RuntsError } from '../errors.ts';
import { BLOCK, checksumOf, FIELD, GNU_LONGLINK, GNU_LONGNAME, LIBARCHIVE_XATTR, padding, PAX_GLOBAL, PAX_LOCAL, XATTR, type Field, type TarHeader, type TarType } from './tar.ts';

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
 * Only a time may be negative (before 1970).
 */
function number(block: Buffer, field: Field, at: number): number {
  const [offset, length] = FIELD[field];
  const raw = block.subarray(offset, offset + length);
  if (raw[0]! & 0x80) {
    let value = 0n;
    for (const byte of raw) value = (value << 8n) | BigInt(byte);
    value = raw[0] === 0xff ? value - (1n << BigInt(8 * length)) : value - (0x80n << BigInt(8 * (length - 1)));
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`the ${field} of the header at byte ${at} is out of range`);
    if (value < 0n && field !== 'mtime') throw corrupt(`the ${field} of the header at byte ${at} is negative: ${value}`);
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

/** The extended attributes among PAX records: GNU tar's and star's raw bytes, libarchive's base64 (names URL-encoded). */
function xattrsOf(pax: Map<string, Buffer>): Map<string, Buffer> {
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    if (key.startsWith(XATTR)) xattrs.set(key.slice(XATTR.length), value);
    else if (key.startsWith(LIBARCHIVE_XATTR)) {
      let name: string;
      try { name = decodeURIComponent(key.slice(LIBARCHIVE_XATTR.length)); } catch { throw corrupt(`PAX ${JSON.stringify(key)}: the xattr name is not URL-encoded`); }
      xattrs.set(name, Buffer.from(value.toString('latin1'), 'base64'));
    }
  }
  return xattrs;
}

/** uid_t is 32 bits, and (uid_t)-1 means "leave it" to chown(2). */
const ID_MAX = 0xfffffffe;
/** The seconds a Date holds, either side of 1970. */
const TIME_MAX = 8.64e12;

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
    const uid = num('uid', h.uid), gid = num('gid', h.gid), mtime = num('mtime', h.mtime, true);
    for (const [key, id] of [['uid', uid], ['gid', gid]] as const) {
      if (id > ID_MAX) throw corrupt(`the ${key} of the entry at byte ${at} (${JSON.stringify(name)}) is ${id}, past the largest id (${ID_MAX})`);
    }
    if (Math.abs(mtime) > TIME_MAX) throw corrupt(`the mtime of the entry at byte ${at} (${JSON.stringify(name)}) is out of range: ${mtime}`);
    yield {
      name, type, typeflag: h.typeflag, mode: h.mode, size,
      uid, gid, mtime: new Date(mtime * 1000),
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
