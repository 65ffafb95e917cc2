import { crc32 } from "node:zlib";

/**
 * The .xz container around one raw LZMA2 stream (tukaani xz-file-format 1.2): one stream with check
 * CRC32, one block whose header declares the single filter LZMA2 and its dictionary size, no
 * compressed/uncompressed sizes in the block header (what liblzma's stream encoder writes, so the
 * bytes match `lzma_stream_encoder` exactly), then the index and the stream footer. The kernel's
 * lib/xz accepts exactly this: check None/CRC32, LZMA2 with dictionary ≤ what it preallocated.
 */

/** Stream header magic (6 bytes) and stream footer magic (2 bytes). */
const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] as const;
const FOOTER_MAGIC = [0x59, 0x5a] as const;
/** Stream flags: first byte 0, second byte the check type (1 = CRC32). */
export const XZ_CHECK_CRC32 = 1;
/** Filter ID of LZMA2. */
const FILTER_LZMA2 = 0x21;
/** LZMA2 dictionary sizes encodable in its one property byte: 4 KiB … 3 · 2^30 (byte 0…39), 40 = 4 GiB − 1. */
const MIN_DICT = 4096;

/**
 * LZMA2 properties byte for `dictSize`: the smallest code whose size (2 | (b & 1)) << (b / 2 + 11)
 * is ≥ dictSize, as liblzma rounds (lzma2_encoder.c). Declaring the rounded-up size never exceeds
 * the block size for the power-of-two block sizes SquashFS allows.
 */
export function lzma2DictByte(dictSize: number): number {
  if (!Number.isInteger(dictSize) || dictSize < 1 || dictSize > 0xffffffff)
    throw new RangeError(`bad LZMA2 dictionary size ${dictSize}`);
  if (dictSize === 0xffffffff) return 40;
  for (let b = 0; b < 40; b++) if (lzma2DictSize(b) >= Math.max(dictSize, MIN_DICT)) return b;
  return 40;
}

/** The dictionary size an LZMA2 properties byte declares. */
export function lzma2DictSize(b: number): number {
  if (b === 40) return 0xffffffff;
  return (2 | (b & 1)) * 2 ** (Math.floor(b / 2) + 11);
}

/** Multibyte integer (7 bits a byte, low first) as used throughout the format. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function withCrc(bytes: number[]): number[] {
  return [...bytes, ...u32le(crc32(Uint8Array.from(bytes)))];
}

function pad4(bytes: number[]): number[] {
  while (bytes.length % 4 !== 0) bytes.push(0);
  return bytes;
}

/** The 12-byte stream header for a CRC32-checked stream: FD 37 7A 58 5A 00 | 00 01 | CRC32. */
export function xzStreamHeader(): Uint8Array {
  return Uint8Array.from([...HEADER_MAGIC, ...withCrc([0x00, XZ_CHECK_CRC32])]);
}

/** The 12-byte block header: size 02, flags 00 (one filter, no sizes), LZMA2 (21) with 1 property byte. */
export function xzBlockHeader(dictSize: number): Uint8Array {
  const body = pad4([0x00, 0x00, FILTER_LZMA2, 0x01, lzma2DictByte(dictSize)]);
  body[0] = (body.length + 4) / 4 - 1;
  return Uint8Array.from(withCrc(body));
}

/** Index with one record (unpadded block size, uncompressed size), padded, with its CRC32. */
export function xzIndex(unpaddedSize: number, uncompressedSize: number): Uint8Array {
  return Uint8Array.from(
    withCrc(pad4([0x00, ...varint(1), ...varint(unpaddedSize), ...varint(uncompressedSize)])),
  );
}

/** The 12-byte stream footer: CRC32 | backward size (index size / 4 − 1) | 00 01 | 59 5A. */
export function xzStreamFooter(indexSize: number): Uint8Array {
  const tail = [...u32le(indexSize / 4 - 1), 0x00, XZ_CHECK_CRC32];
  return Uint8Array.from([...u32le(crc32(Uint8Array.from(tail))), ...tail, ...FOOTER_MAGIC]);
}

/**
 * A complete single-block .xz stream: `lzma2` is the raw LZMA2 encoding of `uncompressed` made with
 * a dictionary of at most `dictSize` bytes (the block header declares it, rounded up to an LZMA2 size).
 * Empty input gives a stream without blocks (`lzma2` is then ignored).
 */
export function encodeXzStream(lzma2: Uint8Array, uncompressed: Uint8Array, dictSize: number): Uint8Array {
  const header = xzStreamHeader();
  if (uncompressed.length === 0) {
    // Like liblzma's stream encoder: no block at all, an index with zero records (00 00 00 00 + CRC32).
    const emptyIndex = Uint8Array.from(withCrc([0x00, 0x00, 0x00, 0x00]));
    return Uint8Array.from([...header, ...emptyIndex, ...xzStreamFooter(emptyIndex.length)]);
  }
  const blockHeader = xzBlockHeader(dictSize);
  const unpadded = blockHeader.length + lzma2.length + 4;
  const padding = (4 - ((blockHeader.length + lzma2.length) % 4)) % 4;
  const index = xzIndex(unpadded, uncompressed.length);
  const footer = xzStreamFooter(index.length);
  const out = new Uint8Array(
    header.length + blockHeader.length + lzma2.length + padding + 4 + index.length + footer.length,
  );
  let off = 0;
  for (const part of [header, blockHeader, lzma2]) {
    out.set(part, off);
    off += part.length;
  }
  off += padding;
  out.set(u32le(crc32(uncompressed)), off);
  off += 4;
  out.set(index, off);
  out.set(footer, off + index.length);
  return out;
}
