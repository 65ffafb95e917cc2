import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeXattrId,
  decodeXattrKey,
  decodeXattrTableHeader,
  decodeXattrValue,
  encodeXattrId,
  encodeXattrKey,
  encodeXattrTableHeader,
  encodeXattrValue,
  splitXattrName,
  XattrTable,
} from "../../src/squashfs/xattr-table.js";
import { SquashfsXattrNamespaceError } from "../../src/squashfs/errors.js";
import { hex, rawCompressor } from "./struct-helpers.js";

const enc = new TextEncoder();

test("xattr key, value, id and table header against hex", () => {
  const key = { type: 2, name: enc.encode("capability") };
  assert.equal(hex(encodeXattrKey(key)), "0200" + "0a00" + hex(enc.encode("capability")));
  assert.deepEqual(decodeXattrKey(encodeXattrKey(key), 0), key);
  assert.equal(hex(encodeXattrValue(enc.encode("ab"))), "02000000" + "6162");
  assert.deepEqual(decodeXattrValue(encodeXattrValue(enc.encode("ab")), 0), enc.encode("ab"));
  const id = { ref: { block: 0x20, offset: 0x10 }, count: 2, size: 40 };
  assert.equal(hex(encodeXattrId(id)), "1000200000000000" + "02000000" + "28000000");
  assert.deepEqual(decodeXattrId(encodeXattrId(id)), id);
  const h = { kvStart: 0x1000, count: 3 };
  assert.equal(hex(encodeXattrTableHeader(h)), "0010000000000000" + "03000000" + "00000000");
  assert.deepEqual(decodeXattrTableHeader(encodeXattrTableHeader(h)), h);
});

test("names split into prefix ids; other namespaces are refused", () => {
  assert.deepEqual(splitXattrName("user.a"), { type: 0, name: enc.encode("a") });
  assert.deepEqual(splitXattrName("trusted.overlay.opaque"), { type: 1, name: enc.encode("overlay.opaque") });
  assert.deepEqual(splitXattrName("security.selinux"), { type: 2, name: enc.encode("selinux") });
  assert.equal(splitXattrName("system.posix_acl_access"), null);
  const t = new XattrTable();
  assert.throws(() => t.add("x", new Map([["system.posix_acl_access", new Uint8Array(1)]])), SquashfsXattrNamespaceError);
});

test("identical sets share one id; the table is kv blocks, id blocks, header, pointers", async () => {
  const t = new XattrTable();
  const a = new Map([["user.b", enc.encode("2")], ["user.a", enc.encode("1")]]);
  assert.equal(t.add("p", a), 0);
  assert.equal(t.add("q", new Map([["user.a", enc.encode("1")], ["user.b", enc.encode("2")]])), 0);
  assert.equal(t.add("r", new Map([["security.capability", enc.encode("c")]])), 1);
  assert.equal(t.add("s", new Map()), null);
  const { bytes, headerStart } = t.write(rawCompressor, 100);
  // kv: set 0 = 2 × (4+1 key + 4+1 value) = 20, set 1 = (4+10) + (4+1) = 19 → one raw block of 39.
  const kvLen = 2 + 39;
  assert.equal(hex(bytes.subarray(0, kvLen)), "2780" + "0000" + "0100" + "61" + "01000000" + "31" + "0000" + "0100" + "62" + "01000000" + "32" + "0200" + "0a00" + hex(enc.encode("capability")) + "01000000" + "63");
  const ids = bytes.subarray(kvLen, kvLen + 2 + 32);
  assert.equal(hex(ids.subarray(0, 2)), "2080");
  assert.deepEqual(decodeXattrId(ids, 2), { ref: { block: 0, offset: 0 }, count: 2, size: 20 });
  assert.deepEqual(decodeXattrId(ids, 18), { ref: { block: 0, offset: 20 }, count: 1, size: 19 });
  assert.equal(headerStart, 100 + kvLen + 34);
  const tail = bytes.subarray(kvLen + 34);
  assert.deepEqual(decodeXattrTableHeader(tail), { kvStart: 100, count: 2 });
  assert.equal(hex(tail.subarray(16)), (100 + kvLen).toString(16).padStart(2, "0") + "00000000000000");
});
