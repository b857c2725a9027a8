/**
 * tar-mutate.ts - tar-aware mutators for the fuzz engine (engine.ts).
 *
 * A random byte change in a tar header is caught by the header checksum
 * and goes no further, so these change one FIELD of a header (a size in
 * octal or GNU base-256, a type byte, a name, a magic) and then write the
 * checksum again; they insert PAX headers (local and global) with records
 * the reader interprets, GNU long names and link names, zero blocks; they
 * delete, repeat and cut whole blocks. The format: src/image/tar.ts.
 */
import { BLOCK, checksumOf, FIELD, type Field } from '../../src/image/tar.ts';
import type { Mutator, Rng } from './engine.ts';

const TYPEFLAGS = ['0', '\0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', 'V', 'M', 'D', 'A', 'Z'];
const NUMBER_FIELDS: Field[] = ['mode', 'uid', 'gid', 'size', 'mtime', 'devmajor', 'devminor'];
const TEXT_FIELDS: Field[] = ['name', 'linkname', 'uname', 'gname', 'prefix'];
const PAX_KEYS = ['path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'atime', 'uname', 'gname', 'comment',
  'SCHILY.xattr.user.a', 'SCHILY.xattr.security.capability', 'SCHILY.xattr.', 'LIBARCHIVE.xattr.user.b',
  'LIBARCHIVE.xattr.%zz', 'LIBARCHIVE.xattr.user%2Ex', 'GNU.sparse.size', 'hdrcharset'];
const PAX_VALUES = ['', '0', '-1', '1', '511', '512', '513', '1.5', '-1.5', '1e3', '0x10', ' 1', '9007199254740991',
  '9007199254740992', '99999999999999999999', 'abc', '../etc/passwd', '/', 'a/b/', '%zz', 'eA==', '====', '\u0000'];

/** Header blocks: 512-byte aligned blocks whose checksum holds. */
export function headersOf(b: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + BLOCK <= b.length; at += BLOCK) {
    const block = b.subarray(at, at + BLOCK);
    const stored = block.toString('latin1', FIELD.checksum[0], FIELD.checksum[0] + 8).replace(/[\0 ]+$/, '').trim();
    if (/^[0-7]+$/.test(stored) && parseInt(stored, 8) === checksumOf(block)) out.push(at);
  }
  return out;
}

/** Writes the checksum of the header block at `at` (in place). */
export function fixChecksum(b: Buffer, at: number): void {
  if (at + BLOCK > b.length) return;
  const block = b.subarray(at, at + BLOCK);
  block.write(`${checksumOf(block).toString(8).padStart(6, '0')}\0 `, FIELD.checksum[0], 8, 'latin1');
}

function numberField(rng: Rng, length: number): Buffer {
  const out = Buffer.alloc(length);
  switch (rng.below(8)) {
    case 0: out.write(rng.below(2 ** 30).toString(8).padStart(length - 1, '0').slice(-(length - 1)), 'latin1'); break;
    case 1: out.write('7'.repeat(length), 'latin1'); break; // no terminator
    case 2: out.write(rng.pick(['8', '9', '-1', ' 12 ', '0x1', '1e3', '77 7', '\u00ff']).padStart(length - 1, ' '), 'latin1'); break;
    case 3: break; // all NUL: zero
    case 4: { out[0] = 0x80; for (let i = 1; i < length; i++) out[i] = rng.below(256); break; } // base-256, positive
    case 5: { out.fill(0xff); out[length - 1] = rng.below(256); break; } // base-256, negative
    case 6: { out[0] = 0x80; out[length - 1] = rng.below(256); out[length - 2] = rng.below(256); break; } // base-256, small
    default: out.write(rng.pick([0, 1, 511, 512, 513, 1024, 4096, 65535, 8 << 20, (8 << 20) + 1]).toString(8).padStart(length - 1, '0'), 'latin1');
  }
  return out;
}

function textField(rng: Rng, length: number): Buffer {
  const out = Buffer.alloc(length);
  const text = rng.pick(['', '.', '..', '/', './', 'a/', '../../etc/passwd', '/etc/shadow', 'x'.repeat(length), 'dir/.wh.file', '.wh..wh..opq', 'é/ü', 'a\0b', 'a\nb']);
  out.write(text, 'utf8');
  return out;
}

function setField(b: Buffer, at: number, field: Field, value: Buffer): void {
  const [offset, length] = FIELD[field];
  value.copy(b, at + offset, 0, length);
}

/** A header block of `typeflag` with `size` bytes of data after it. */
function header(typeflag: string, size: number, name = '././@PaxHeader'): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', FIELD.mode[0], 'latin1');
  b.write(`${size.toString(8).padStart(11, '0')}\0`, FIELD.size[0], 'latin1');
  b.write(typeflag, FIELD.typeflag[0], 'latin1');
  b.write('ustar\x0000', FIELD.magic[0], 8, 'latin1');
  fixChecksum(b, 0);
  return b;
}

const padded = (data: Buffer) => Buffer.concat([data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK)]);

function paxRecords(rng: Rng): Buffer {
  const records: Buffer[] = [];
  for (let n = 1 + rng.below(4); n > 0; n--) {
    const key = rng.pick(PAX_KEYS);
    const value = rng.chance(0.1) ? 'v'.repeat(rng.size(2000)) : rng.pick(PAX_VALUES);
    const rest = Buffer.byteLength(` ${key}=${value}\n`);
    let len = rest + 1;
    while (len !== rest + String(len).length) len = rest + String(len).length;
    if (rng.chance(0.15)) len += rng.pick([-2, -1, 1, 2, 1000]); // a wrong length
    records.push(Buffer.from(`${len} ${key}=${value}${rng.chance(0.05) ? '' : '\n'}`, 'utf8'));
  }
  return Buffer.concat(records);
}

const blockStart = (rng: Rng, b: Buffer) => BLOCK * rng.below(Math.floor(b.length / BLOCK) + 1);

export const TAR_MUTATORS: Mutator[] = [
  // one field of a header, then its checksum again (most of the time)
  function headerField(b, rng) {
    const headers = headersOf(b);
    if (!headers.length) return undefined;
    const out = Buffer.from(b);
    const at = rng.pick(headers);
    const kind = rng.below(4);
    if (kind === 0) { const f = rng.pick(NUMBER_FIELDS); setField(out, at, f, numberField(rng, FIELD[f][1])); }
    else if (kind === 1) { const f = rng.pick(TEXT_FIELDS); setField(out, at, f, textField(rng, FIELD[f][1])); }
    else if (kind === 2) out.write(rng.pick(TYPEFLAGS), at + FIELD.typeflag[0], 'latin1');
    else out.write(rng.pick(['ustar\x0000', 'ustar  \0', '\0\0\0\0\0\0\0\0', 'ustaR\x0000']), at + FIELD.magic[0], 8, 'latin1');
    if (rng.chance(0.9)) fixChecksum(out, at);
    return out;
  },
  // a PAX header (local or global) before an entry
  function insertPax(b, rng) {
    const at = rng.chance(0.8) ? rng.pick(headersOf(b).concat(0)) : blockStart(rng, b);
    const data = paxRecords(rng);
    const pax = Buffer.concat([header(rng.chance(0.8) ? 'x' : 'g', data.length), padded(data)]);
    return Buffer.concat([b.subarray(0, at), pax, b.subarray(at)]);
  },
  // a GNU long name or long link name before an entry
  function insertLongName(b, rng) {
    const at = rng.pick(headersOf(b).concat(0));
    const name = Buffer.from(rng.pick(['n'.repeat(rng.size(5000)), '', '../x', 'a\0junk', '/abs/path']), 'utf8');
    const size = rng.chance(0.9) ? name.length : rng.below(4096);
    const long = Buffer.concat([header(rng.chance(0.5) ? 'L' : 'K', size, '././@LongLink'), padded(name)]);
    return Buffer.concat([b.subarray(0, at), long, b.subarray(at)]);
  },
  // whole blocks: delete, repeat, zero, cut at a block boundary
  function blocks(b, rng) {
    const at = blockStart(rng, b);
    switch (rng.below(4)) {
      case 0: return Buffer.concat([b.subarray(0, at), b.subarray(at + BLOCK)]);
      case 1: return Buffer.concat([b.subarray(0, at + BLOCK), b.subarray(at, at + BLOCK), b.subarray(at + BLOCK)]);
      case 2: return Buffer.concat([b.subarray(0, at), Buffer.alloc(BLOCK * (1 + rng.below(2))), b.subarray(at)]);
      default: return b.subarray(0, at);
    }
  },
  // after byte mutations: make a block that was a header pass its checksum again
  function rechecksum(b, rng) {
    if (b.length < BLOCK) return undefined;
    const out = Buffer.from(b);
    fixChecksum(out, BLOCK * rng.below(Math.floor(b.length / BLOCK)));
    return out;
  },
];
