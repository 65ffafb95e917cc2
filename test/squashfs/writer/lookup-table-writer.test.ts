import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeLookupPointers, encodeExportEntry } from "../../../src/squashfs/format/lookup-table.js";
import { writeLookupTable } from "../../../src/squashfs/writer/lookup-table-writer.js";
import { rawCompressor } from "../struct-helpers.js";

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
