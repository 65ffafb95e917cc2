/**
 * Generators of hostile compressed streams and tar headers, for the bounds tests of every reader
 * (layers, tar input, the SquashFS reader). Each is built from the format's own definition (RFC
 * 8878 for zstd, RFC 1951/1952 through node:zlib for gzip, POSIX/GNU for tar numbers), so a
 * test states exactly what the hostile bytes claim.
 */
import { Readable } from "node:stream";
import { createGzip } from "node:zlib";
import { rawTarHeader } from "./tar.js";

/** zstd's frame magic, little-endian (RFC 8878 §3.1.1). */
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** A zstd block header: Last_Block, Block_Type (0 raw, 1 RLE, 2 compressed), Block_Size. */
export function zstdBlockHeader(last: boolean, type: 0 | 1 | 2 | 3, size: number): Buffer {
  const word = (last ? 1 : 0) | (type << 1) | (size << 3);
  return Buffer.from([word & 0xff, (word >> 8) & 0xff, (word >> 16) & 0xff]);
}

/**
 * A zstd frame of `blocks` RLE blocks of 128 KiB of `byte` each (4 bytes of input per 128 KiB of
 * output: the largest ratio a block can have), declaring a window of 2^`windowLog` bytes
 * (10 … 41; the window descriptor's exponent is windowLog − 10).
 */
export function zstdRleFrame(opts: { windowLog: number; blocks: number; byte?: number }): Buffer {
  const header = Buffer.concat([ZSTD_MAGIC, Buffer.from([0x00, (opts.windowLog - 10) << 3])]);
  const parts: Buffer[] = [header];
  for (let i = 0; i < opts.blocks; i++) {
    parts.push(zstdBlockHeader(i === opts.blocks - 1, 1, 128 * 1024), Buffer.from([opts.byte ?? 0]));
  }
  return Buffer.concat(parts);
}

/**
 * A single-segment zstd frame declaring `contentSize` bytes (8-byte Frame_Content_Size: the window
 * is the content size) and holding one raw block of `body`.
 */
export function zstdSingleSegmentFrame(contentSize: bigint, body: Buffer): Buffer {
  const fcs = Buffer.alloc(8);
  fcs.writeBigUInt64LE(contentSize);
  // Frame_Header_Descriptor: FCS flag 3 (8 bytes), Single_Segment 1.
  return Buffer.concat([ZSTD_MAGIC, Buffer.from([0xe0]), fcs, zstdBlockHeader(true, 0, body.length), body]);
}

/** A valid zstd frame holding `data` in raw blocks of at most 128 KiB (no compression, no checksum). */
export function zstdRawFrame(data: Buffer): Buffer {
  // Window descriptor exponent 7: a 128 KiB window, the smallest that holds a whole block.
  const parts: Buffer[] = [ZSTD_MAGIC, Buffer.from([0x00, 7 << 3])];
  const block = 128 * 1024;
  for (let at = 0; at < data.length || at === 0; at += block) {
    const part = data.subarray(at, at + block);
    parts.push(zstdBlockHeader(at + block >= data.length, 0, part.length), part);
    if (data.length === 0) break;
  }
  return Buffer.concat(parts);
}

/** A skippable zstd frame (magic 0x184D2A5?) of `size` bytes: decoders pass over it. */
export function zstdSkippableFrame(size: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x184d2a53, 0);
  head.writeUInt32LE(size, 4);
  return Buffer.concat([head, Buffer.alloc(size, 0xaa)]);
}

/**
 * A gzip stream of `prefix` then `zeros` zero bytes, generated and compressed as it is read (a
 * 1 GiB bomb is never in memory): deflate's ceiling is ~1032:1, so the output is ~1 KiB per MiB.
 */
export function gzipZeros(
  zeros: number,
  prefix: Buffer = Buffer.alloc(0),
  suffix: Buffer = Buffer.alloc(0),
): Readable {
  const chunk = Buffer.alloc(1024 * 1024);
  async function* source(): AsyncGenerator<Buffer> {
    if (prefix.length > 0) yield prefix;
    for (let left = zeros; left > 0; left -= chunk.length)
      yield left >= chunk.length ? chunk : chunk.subarray(0, left);
    if (suffix.length > 0) yield suffix;
  }
  return Readable.from(source()).pipe(createGzip({ level: 9 }));
}

/** A tar header (via `rawTarHeader`) whose 12-byte size field is the base-256 number `value`. */
export function base256SizeHeader(name: string, value: bigint): Buffer {
  const field = Buffer.alloc(12);
  let v = value < 0n ? (1n << 96n) + value : value;
  for (let i = 11; i >= 0; i--) {
    field[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (value >= 0n) field[0] = (field[0] ?? 0) | 0x80;
  return rawTarHeader(name, "0", 0, [[124, field.toString("latin1")]]);
}

/** A pax `x` member (header and padded data) holding `records` in order. */
export function paxMember(records: Array<[string, string]>, name = "PaxHeaders/entry"): Buffer {
  let body = "";
  for (const [key, value] of records) {
    const rest = ` ${key}=${value}\n`;
    let len = Buffer.byteLength(rest) + 1;
    while (String(len).length + Buffer.byteLength(rest) !== len)
      len = String(len).length + Buffer.byteLength(rest);
    body += `${len}${rest}`;
  }
  const data = Buffer.from(body);
  return Buffer.concat([
    rawTarHeader(name, "x", data.length),
    data,
    Buffer.alloc((512 - (data.length % 512)) % 512),
  ]);
}

/** The end-of-archive marker: two zero blocks. */
export const TAR_END = Buffer.alloc(1024);
