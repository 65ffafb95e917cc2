import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeExportEntry,
  decodeLookupPointers,
  encodeExportEntry,
  encodeLookupPointers,
} from "../../../src/squashfs/format/lookup-table.js";
import { hex } from "../struct-helpers.js";
import { SquashfsRangeError } from "../../../src/squashfs/errors.js";

test("export entry: u64 inode reference", () => {
  assert.equal(hex(encodeExportEntry({ block: 0x1234, offset: 0x56 })), "5600341200000000");
  assert.equal(decodeExportEntry(encodeExportEntry({ block: 1, offset: 2 })), 0x10002);
});

test("pointer list: absolute u64 per block", () => {
  const b = encodeLookupPointers([0x60, 0x1_0000_0000]);
  assert.equal(hex(b), "6000000000000000" + "0000000001000000");
  assert.deepEqual(decodeLookupPointers(b, 2), [0x60, 0x1_0000_0000]);
});

test("lookup pointers and export entries beyond 2^53-1 are refused, not rounded", () => {
  const bytes = new Uint8Array(8).fill(0xff);
  bytes[7] = 0x7f;
  assert.throws(() => decodeLookupPointers(bytes, 1), SquashfsRangeError);
  assert.throws(() => decodeExportEntry(bytes), SquashfsRangeError);
});
