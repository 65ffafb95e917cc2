/**
 * What the data path (writer/data-writer.ts) tells the metadata path (inodes, fragment table) about
 * where a file's bytes went. Shared so the two halves of the writer agree on one shape.
 */

/** Bit 24 of a data block size word: the block is stored uncompressed (format.adoc, "Data blocks"). */
export const BLOCK_UNCOMPRESSED = 1 << 24;

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
  /** Where the tail end went, or null when the file has no fragment (tail stored as a block, or empty). */
  fragment: { index: number; offset: number } | null;
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
