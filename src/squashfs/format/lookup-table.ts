/**
 * Lookup tables (format.adoc, "Storing Lookup Tables"): fixed-size records in metadata blocks,
 * followed directly by an uncompressed list of u64 absolute block positions. The superblock
 * points at that list. The kernel checks the list sits right after its blocks (each pointer less
 * than the next, the last one less than the list and at most 8194 bytes before it), so the two
 * are always written together (writer/lookup-table-writer.ts). The export table is the one lookup
 * table with no other use: inode number n → inode reference, at index n - 1.
 */
import { getU64, setU64, viewOf } from "./binary.js";
import { packRef, type MetadataRef } from "./metadata.js";

/** One pointer of the location list. */
export const LOOKUP_POINTER_SIZE = 8;
/** One export table record: a u64 inode reference. */
export const EXPORT_ENTRY_SIZE = 8;

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

export function encodeExportEntry(ref: MetadataRef): Uint8Array {
  const out = new Uint8Array(EXPORT_ENTRY_SIZE);
  // u64 inode reference: block << 16 | offset
  setU64(viewOf(out), 0, packRef(ref), "export inode ref");
  return out;
}

/**
 * The export table's records, all at once: one u64 packed inode reference (`packRef`) per inode.
 * One buffer rather than a Uint8Array per inode, which on a tree of small files cost ~100 bytes
 * per entry at the moment the tree is largest.
 */
export function encodeExportEntries(packedRefs: Float64Array): Uint8Array {
  const out = new Uint8Array(EXPORT_ENTRY_SIZE * packedRefs.length);
  const v = viewOf(out);
  for (let i = 0; i < packedRefs.length; i++)
    setU64(v, i * EXPORT_ENTRY_SIZE, packedRefs[i]!, "export inode ref");
  return out;
}

export function decodeExportEntry(bytes: Uint8Array, offset = 0): number {
  return getU64(viewOf(bytes), offset);
}
