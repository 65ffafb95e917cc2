/**
 * Writing a lookup table (format.adoc, "Storing Lookup Tables"): the records in metadata blocks,
 * then the pointer list right after them, always together, since the kernel checks that the list
 * follows its blocks (format/lookup-table.ts has the records and the list).
 */
import type { Compressor } from "../compressor/compressor.js";
import { concat } from "../format/binary.js";
import { encodeLookupPointers } from "../format/lookup-table.js";
import { MetadataWriter } from "./metadata-writer.js";

export interface WrittenLookupTable {
  /** Metadata blocks, then the pointer list. */
  bytes: Uint8Array;
  /** Absolute position of the pointer list (what the superblock stores). */
  pointerListStart: number;
}

/**
 * Writes `records` (already encoded, equal sizes dividing 8192 so none straddles a block; or all
 * of them in one buffer, which cuts into the same blocks) as a lookup table whose first block
 * lands at absolute position `at`.
 */
export function writeLookupTable(
  compressor: Compressor,
  records: readonly Uint8Array[] | Uint8Array,
  at: number,
): WrittenLookupTable {
  const mw = new MetadataWriter(compressor);
  if (records instanceof Uint8Array) mw.append(records);
  else for (const r of records) mw.append(r);
  const { bytes, blockStarts } = mw.finish();
  const pointers = encodeLookupPointers(blockStarts.map((s) => at + s));
  return { bytes: concat([bytes, pointers]), pointerListStart: at + bytes.length };
}
