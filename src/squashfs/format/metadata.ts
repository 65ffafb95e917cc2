/**
 * Metadata block framing (format.adoc, "Packing Metadata"; Linux squashfs_fs.h): the u16 header
 * in front of every metadata block (stored size, bit 15 = stored raw) and the reference to a record
 * inside a table (start of its block relative to the table, offset in the uncompressed block).
 */
import { SquashfsCorruptError, SquashfsInternalError } from "../errors.js";
import { viewOf } from "./binary.js";

/** Uncompressed size of a metadata block (SQUASHFS_METADATA_SIZE). */
export const METADATA_BLOCK_SIZE = 8192;
/** Size of the header in front of every metadata block. */
export const METADATA_HEADER_SIZE = 2;
/** Header bit 15: the block is stored uncompressed (SQUASHFS_COMPRESSED_BIT). */
export const METADATA_UNCOMPRESSED = 0x8000;

/** Encodes the u16 header of a metadata block. */
export function encodeMetadataHeader(storedSize: number, uncompressed: boolean): Uint8Array {
  if (!Number.isInteger(storedSize) || storedSize < 1 || storedSize > METADATA_BLOCK_SIZE) {
    throw new SquashfsInternalError(`metadata block size ${storedSize} outside 1 … ${METADATA_BLOCK_SIZE}`);
  }
  const out = new Uint8Array(METADATA_HEADER_SIZE);
  // stored size, bit 15 = uncompressed
  viewOf(out).setUint16(0, storedSize | (uncompressed ? METADATA_UNCOMPRESSED : 0), true);
  return out;
}

export function decodeMetadataHeader(
  bytes: Uint8Array,
  offset = 0,
): { storedSize: number; uncompressed: boolean } {
  const word = viewOf(bytes).getUint16(offset, true);
  const storedSize = word & ~METADATA_UNCOMPRESSED;
  if (storedSize === 0 || storedSize > METADATA_BLOCK_SIZE)
    throw new SquashfsCorruptError(`bad metadata header 0x${word.toString(16)}`);
  return { storedSize, uncompressed: (word & METADATA_UNCOMPRESSED) !== 0 };
}

/** Where a record starts: block start relative to the table, offset in the uncompressed block. */
export interface MetadataRef {
  block: number;
  offset: number;
}

/** The 64-bit on-disk form of a reference: block << 16 | offset (as a safe JS number). */
export function packRef(ref: MetadataRef): number {
  return ref.block * 0x10000 + ref.offset;
}

export function unpackRef(packed: number): MetadataRef {
  return { block: Math.floor(packed / 0x10000), offset: packed % 0x10000 };
}
