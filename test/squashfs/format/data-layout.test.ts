import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BLOCK_SIZE_RESERVED,
  BLOCK_UNCOMPRESSED,
  decodeBlockSize,
  encodeBlockSize,
} from "../../../src/squashfs/format/data-layout.js";
import { SquashfsRangeError } from "../../../src/squashfs/errors.js";
import { hex } from "../struct-helpers.js";

/** A size word as the block list stores it: u32 little-endian. */
function wordBytes(word: number): string {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, word, true);
  return hex(out);
}

test("block size word: stored size in bits 0–23, bit 24 = stored raw", () => {
  assert.equal(wordBytes(encodeBlockSize(0x1234, false)), "34120000");
  assert.equal(wordBytes(encodeBlockSize(0x20000, true)), "00000201");
  assert.equal(BLOCK_UNCOMPRESSED, 0x0100_0000);
  assert.equal(BLOCK_SIZE_RESERVED, 0xfe00_0000);
  assert.deepEqual(decodeBlockSize(0x0102_0000), { storedSize: 0x20000, uncompressed: true });
  assert.deepEqual(decodeBlockSize(0x1234), { storedSize: 0x1234, uncompressed: false });
  // 0 is a sparse block in a file's block list.
  assert.deepEqual(decodeBlockSize(0), { storedSize: 0, uncompressed: false });
});

test("block size word: a size that would spill into the flag bit is refused, not wrapped", () => {
  assert.throws(() => encodeBlockSize(0x100_0000, false), SquashfsRangeError);
  assert.throws(() => encodeBlockSize(-1, true), SquashfsRangeError);
});
