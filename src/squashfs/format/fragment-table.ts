/**
 * The fragment table (format.adoc, "Fragment Table"): a lookup table of 16-byte records, one
 * per fragment block, which file inodes index by number.
 */
import type { FragmentEntry } from "./data-layout.js";
import { BLOCK_UNCOMPRESSED } from "./data-layout.js";
import { checkRange, getU64, setU32, setU64, viewOf } from "./binary.js";

export const FRAGMENT_ENTRY_SIZE = 16;

export function encodeFragmentEntry(e: FragmentEntry): Uint8Array {
  const out = new Uint8Array(FRAGMENT_ENTRY_SIZE);
  const v = viewOf(out);
  // start: absolute position of the fragment block
  setU64(v, 0, e.start, "fragment start");
  // size: stored size, bit 24 = uncompressed
  checkRange("fragment size", e.size & ~BLOCK_UNCOMPRESSED, 1 << 20);
  setU32(v, 8, e.size, "fragment size word");
  // unused: zero (the kernel ignores it)
  v.setUint32(12, 0, true);
  return out;
}

export function decodeFragmentEntry(bytes: Uint8Array, offset = 0): FragmentEntry {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAGMENT_ENTRY_SIZE);
  return { start: getU64(v, 0), size: v.getUint32(8, true) };
}
