import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExportEntry, decodeLookupPointers, encodeExportEntry, encodeLookupPointers, writeLookupTable } from "../../src/squashfs/lookup-table.js";
import { hex, rawCompressor } from "./struct-helpers.js";
import { SquashfsRangeError } from "../../src/squashfs/errors.js";

test("export entry: u64 inode reference", () => {
  assert.equal(hex(encodeExportEntry({ block: 0x1234, offset: 0x56 })), "5600341200000000");
  assert.equal(decodeExportEntry(encodeExportEntry({ block: 1, offset: 2 })), 0x10002);
});

test("pointer list: absolute u64 per block", () => {
  const b = encodeLookupPointers([0x60, 0x1_0000_0000]);
  assert.equal(hex(b), "6000000000000000" + "0000000001000000");
  assert.deepEqual(decodeLookupPointers(b, 2), [0x60, 0x1_0000_0000]);
});

test("a lookup table is its blocks, then the pointer list right after them", async () => {
  const records = Array.from({ length: 1500 }, (_, i) => encodeExportEntry({ block: 0, offset: i }));
  const t = writeLookupTable(rawCompressor, records, 1000);
  // 1500 * 8 = 12000 bytes → a full raw block (8194) and one of 3808 + 2.
  assert.equal(t.pointerListStart, 1000 + 8194 + 3810);
  assert.equal(t.bytes.length, 8194 + 3810 + 16);
  assert.deepEqual(decodeLookupPointers(t.bytes.subarray(8194 + 3810), 2), [1000, 1000 + 8194]);
});

// Regression: pointers and export entries were converted with Number(bigint) unchecked, so a
// corrupt u64 silently became an inexact position.
test("lookup pointers and export entries beyond 2^53-1 are refused, not rounded", () => {
  const bytes = new Uint8Array(8).fill(0xff);
  bytes[7] = 0x7f;
  assert.throws(() => decodeLookupPointers(bytes, 1), SquashfsRangeError);
  assert.throws(() => decodeExportEntry(bytes), SquashfsRangeError);
});
