import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeIdEntry, encodeIdEntry } from "../../../src/squashfs/format/id-table.js";
import { SquashfsRangeError } from "../../../src/squashfs/errors.js";
import { hex } from "../struct-helpers.js";

test("id entry: u32", () => {
  assert.equal(hex(encodeIdEntry(0xfffffffe)), "feffffff");
  assert.equal(decodeIdEntry(encodeIdEntry(1000)), 1000);
  assert.throws(() => encodeIdEntry(2 ** 32), SquashfsRangeError);
});
