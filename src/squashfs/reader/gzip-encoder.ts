/**
 * Which encoder wrote a gzip image, for `inspect`: SquashFS records no such thing (and, past
 * level 9, not even the level — compressor/gzip.ts), so the first compressed metadata block is
 * inflated and re-encoded with this machine's encoders at the levels the image allows; the one
 * that gives the very same bytes wrote it. Metadata blocks are made by the same compressor as the
 * data blocks, and are at most 8 KiB, so this costs a few milliseconds.
 */
import { open } from "node:fs/promises";
import { inflateSync } from "node:zlib";
import { identifyGzipEncoder, type GzipEncoderMatch } from "../compressor/gzip.js";
import { decodeMetadataHeader, METADATA_BLOCK_SIZE, METADATA_HEADER_SIZE } from "../format/metadata.js";
import { SUPERBLOCK_SIZE, SuperblockFlags, type Superblock } from "../format/superblock.js";

/** gzip id (format.adoc, "Compression"). */
const GZIP = 1;

/**
 * The encoder and level that reproduce the image's first compressed metadata block, or null: not
 * gzip, no compressed metadata block at the table starts, or written by an encoder this machine
 * does not have (mksquashfs's system zlib, another libdeflate release). `path` holds the SquashFS
 * at offset 0 (a .gvmi does too).
 */
export async function identifyGzipImage(path: string, sb: Superblock): Promise<GzipEncoderMatch | null> {
  if (sb.compressionId !== GZIP) return null;
  const handle = await open(path, "r");
  try {
    const read = async (at: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, at);
      return buf.subarray(0, bytesRead);
    };
    let recordedLevel: number | null = null;
    if ((sb.flags & SuperblockFlags.COMPRESSOR_OPTIONS) !== 0) {
      const options = await read(SUPERBLOCK_SIZE + METADATA_HEADER_SIZE, 4);
      if (options.length === 4) recordedLevel = options.readUInt32LE(0);
      if (recordedLevel === null || recordedLevel < 1 || recordedLevel > 9) return null;
    }
    for (const start of [sb.inodeTableStart, sb.directoryTableStart]) {
      const header = await read(start, METADATA_HEADER_SIZE);
      if (header.length < METADATA_HEADER_SIZE) continue;
      const { storedSize, uncompressed } = decodeMetadataHeader(header);
      if (uncompressed) continue;
      const compressed = await read(start + METADATA_HEADER_SIZE, storedSize);
      let raw: Buffer;
      try {
        raw = inflateSync(compressed, { maxOutputLength: METADATA_BLOCK_SIZE });
      } catch {
        return null;
      }
      return identifyGzipEncoder(raw, compressed, recordedLevel);
    }
    return null;
  } finally {
    await handle.close();
  }
}
