/**
 * Lookup tables (format.adoc, "Storing Lookup Tables"): fixed-size records in metadata blocks,
 * followed directly by an uncompressed list of u64 absolute block positions. The superblock
 * points at that list. The kernel checks the list sits right after its blocks (each pointer less
 * than the next, the last one less than the list and at most 8194 bytes before it), so the two
 * are always written together here. The export table is the one lookup table with no other use:
 * inode number n → inode reference, at index n - 1.
 */
import type { Compressor } from "./compressor/compressor.js";
import { MetadataWriter, packRef, type MetadataRef } from "./metadata-writer.js";
import { concat, getU64, setU64, viewOf } from "./binary.js";

/** One pointer of the location list. */
export const LOOKUP_POINTER_SIZE = 8;
/** One export table record: a u64 inode reference. */
export const EXPORT_ENTRY_SIZE = 8;

export interface WrittenLookupTable {
  /** Metadata blocks, then the pointer list. */
  bytes: Uint8Array;
  /** Absolute position of the pointer list (what the superblock stores). */
  pointerListStart: number;
}

/** Encodes the location list: one absolute u64 position per metadata block. */
export function encodeLookupPointers(positions: readonly number[]): Uint8Array {
  const out = new Uint8Array(LOOKUP_POINTER_SIZE * positions.length);
  const v = viewOf(out);
  // u64 absolute position of each metadata block, in order
  positions.forEach((p, i) => setU64(v, i * LOOKUP_POINTER_SIZE, p, "lookup table pointer"));
  return out;
}

export function decodeLookupPointers(bytes: Uint8Array, count: number): number[] {
  const v = viewOf(bytes);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(getU64(v, i * LOOKUP_POINTER_SIZE));
  return out;
}

/**
 * Writes `records` (already encoded, equal sizes dividing 8192 so none straddles a block) as a
 * lookup table whose first block lands at absolute position `at`.
 */
export function writeLookupTable(compressor: Compressor, records: readonly Uint8Array[], at: number): WrittenLookupTable {
  const mw = new MetadataWriter(compressor);
  for (const r of records) mw.append(r);
  const { bytes, blockStarts } = mw.finish();
  const pointers = encodeLookupPointers(blockStarts.map((s) => at + s));
  return { bytes: concat([bytes, pointers]), pointerListStart: at + bytes.length };
}

export function encodeExportEntry(ref: MetadataRef): Uint8Array {
  const out = new Uint8Array(EXPORT_ENTRY_SIZE);
  // u64 inode reference: block << 16 | offset
  setU64(viewOf(out), 0, packRef(ref), "export inode ref");
  return out;
}

export function decodeExportEntry(bytes: Uint8Array, offset = 0): number {
  return getU64(viewOf(bytes), offset);
}
