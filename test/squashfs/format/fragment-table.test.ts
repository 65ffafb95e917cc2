import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeFragmentEntry,
  encodeFragmentEntry,
  FRAGMENT_ENTRY_SIZE,
} from "../../../src/squashfs/format/fragment-table.js";
import { BLOCK_UNCOMPRESSED } from "../../../src/squashfs/format/data-layout.js";
import { SquashfsRangeError } from "../../../src/squashfs/errors.js";
import { hex } from "../struct-helpers.js";

test("fragment entry: u64 start, size word, zero", () => {
  const e = { start: 0x1_0000_0060, size: 0x1234 | BLOCK_UNCOMPRESSED };
  const b = encodeFragmentEntry(e);
  assert.equal(b.length, FRAGMENT_ENTRY_SIZE);
  assert.equal(hex(b), "6000000001000000" + "34120001" + "00000000");
  assert.deepEqual(decodeFragmentEntry(b), e);
  assert.throws(() => encodeFragmentEntry({ start: -1, size: 1 }), SquashfsRangeError);
});
