/**
 * Where a file's bytes are on disk: the size word of a data or fragment block (shared by writer and
 * reader), and what the data path (writer/data-writer.ts) tells the metadata path (inodes, fragment
 * table) about where a file's bytes went, so the two halves of the writer agree on one shape.
 */
import { checkRange } from "./binary.js";

/** Bit 24 of a data block size word: the block is stored uncompressed (format.adoc, "Data blocks"). */
export const BLOCK_UNCOMPRESSED = 1 << 24;
/** Bits 0–23 of a size word: the stored size. */
const BLOCK_SIZE_BITS = BLOCK_UNCOMPRESSED - 1;
/** Bits 25–31 of a size word: unused, always zero. */
export const BLOCK_SIZE_RESERVED = ~(BLOCK_UNCOMPRESSED | BLOCK_SIZE_BITS) >>> 0;

/**
 * The u32 size word of a data or fragment block (format.adoc, "Data and Fragment Blocks"), as the
 * file inode's block list and the fragment table store it: the stored size, | BLOCK_UNCOMPRESSED
 * when the block is stored raw. A word of 0 in a block list is a sparse (all-zero) block.
 */
export function encodeBlockSize(storedSize: number, uncompressed: boolean): number {
  checkRange("stored block size", storedSize, BLOCK_SIZE_BITS);
  return uncompressed ? storedSize | BLOCK_UNCOMPRESSED : storedSize;
}

/** Splits a size word; the reserved bits are the caller's to check (BLOCK_SIZE_RESERVED). */
export function decodeBlockSize(word: number): { storedSize: number; uncompressed: boolean } {
  return { storedSize: word & BLOCK_SIZE_BITS, uncompressed: (word & BLOCK_UNCOMPRESSED) !== 0 };
}

export interface FileLayout {
  /** Size in bytes of the file's content. */
  fileSize: number;
  /** Absolute image offset of the first stored data block (0 when the file has no stored blocks). */
  blocksStart: number;
  /**
   * One size word per full block, plus one for a tail that did not go to a fragment:
   * the stored size, `| BLOCK_UNCOMPRESSED` when stored raw, or 0 for a sparse (all-zero) block.
   */
  blockSizes: number[];
  /**
   * The fragment block the tail end went to (FragmentEntry index), or -1 when the file has no
   * fragment (tail stored as a block, or empty). Two numbers rather than an object: a tree of
   * small files has a fragment per file, and the object was ~40 bytes of each.
   */
  fragmentIndex: number;
  /** Offset of the tail end in that fragment block (0 without a fragment). */
  fragmentOffset: number;
  /** Bytes saved by sparse blocks (extended file inode `sparse` field). */
  sparseBytes: number;
}

/** One fragment table entry (format.adoc, "Fragment table"). */
export interface FragmentEntry {
  /** Absolute image offset of the fragment block. */
  start: number;
  /** Stored size word: the size, `| BLOCK_UNCOMPRESSED` when stored raw. */
  size: number;
}
