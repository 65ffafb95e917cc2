import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeXattrId, decodeXattrTableHeader } from "../../../src/squashfs/format/xattr-table.js";
import { XattrTable } from "../../../src/squashfs/writer/xattr-table-writer.js";
import { hex, rawCompressor } from "../struct-helpers.js";

const enc = new TextEncoder();

test("identical sets share one id; the table is kv blocks, id blocks, header, pointers", async () => {
  const t = new XattrTable();
  const a = new Map([
    ["user.b", enc.encode("2")],
    ["user.a", enc.encode("1")],
  ]);
  assert.equal(t.add("p", a), 0);
  assert.equal(
    t.add(
      "q",
      new Map([
        ["user.a", enc.encode("1")],
        ["user.b", enc.encode("2")],
      ]),
    ),
    0,
  );
  assert.equal(t.add("r", new Map([["security.capability", enc.encode("c")]])), 1);
  assert.equal(t.add("s", new Map()), null);
  const { bytes, headerStart } = t.write(rawCompressor, 100);
  // kv: set 0 = 2 × (4+1 key + 4+1 value) = 20, set 1 = (4+10) + (4+1) = 19 → one raw block of 39.
  const kvLen = 2 + 39;
  assert.equal(
    hex(bytes.subarray(0, kvLen)),
    "2780" +
      "0000" +
      "0100" +
      "61" +
      "01000000" +
      "31" +
      "0000" +
      "0100" +
      "62" +
      "01000000" +
      "32" +
      "0200" +
      "0a00" +
      hex(enc.encode("capability")) +
      "01000000" +
      "63",
  );
  const ids = bytes.subarray(kvLen, kvLen + 2 + 32);
  assert.equal(hex(ids.subarray(0, 2)), "2080");
  assert.deepEqual(decodeXattrId(ids, 2), { ref: { block: 0, offset: 0 }, count: 2, size: 20 });
  assert.deepEqual(decodeXattrId(ids, 18), { ref: { block: 0, offset: 20 }, count: 1, size: 19 });
  assert.equal(headerStart, 100 + kvLen + 34);
  const tail = bytes.subarray(kvLen + 34);
  assert.deepEqual(decodeXattrTableHeader(tail), { kvStart: 100, count: 2 });
  assert.equal(hex(tail.subarray(16)), (100 + kvLen).toString(16).padStart(2, "0") + "00000000000000");
});
