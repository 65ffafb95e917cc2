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
} from "../../../src/squashfs/format/xattr-table.js";
import { XattrTable } from "../../../src/squashfs/writer/xattr-table-writer.js";
import { SquashfsXattrNamespaceError } from "../../../src/squashfs/errors.js";
import { hex } from "../struct-helpers.js";

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
  assert.throws(
    () => t.add("x", new Map([["system.posix_acl_access", new Uint8Array(1)]])),
    SquashfsXattrNamespaceError,
  );
});
