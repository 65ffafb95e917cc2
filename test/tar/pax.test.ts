import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePaxRecords, paxInteger, paxNumber, paxText } from "../../src/tar/index.js";

const text = (records: Map<string, Uint8Array>, key: string): string | undefined => paxText(records, key);

test("record lengths count bytes, not characters: multi-byte UTF-8 values", () => {
  // 20 = "20" + " " + "path=" + "dir/café.c" (11 bytes: é is two) + "\n"; 19 would count characters.
  const raw = Buffer.from("20 path=dir/café.c\n", "utf8");
  assert.equal(raw.length, 20);
  assert.equal(text(parsePaxRecords(raw), "path"), "dir/café.c");
  // A 3-byte and a 4-byte character, and a record whose length crosses to three digits.
  const value = "日本/😀/" + "x".repeat(90);
  const body = ` path=${value}\n`;
  const len = Buffer.byteLength(body) + 3;
  assert.equal(String(len).length, 3);
  assert.equal(text(parsePaxRecords(Buffer.from(`${len}${body}`)), "path"), value);
});

test("values are bytes: binary xattrs survive, '=' and newlines inside a value are kept", () => {
  const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0x80, 0x0a, 0x00]);
  const key = "SCHILY.xattr.security.capability";
  const body = Buffer.concat([Buffer.from(` ${key}=`), cap, Buffer.from("\n")]);
  const record = Buffer.concat([Buffer.from(String(body.length + 2)), body]);
  const eq = Buffer.from("15 comment=a=b\n");
  const records = parsePaxRecords(Buffer.concat([record, eq]));
  assert.deepEqual([...records.get(key)!], [...cap]);
  assert.equal(text(records, "comment"), "a=b");
});

test("an empty value deletes the keyword; a later record overrides an earlier one", () => {
  const records = parsePaxRecords(Buffer.from("12 uid=1000\n7 uid=\n11 gid=200\n11 gid=300\n"));
  assert.equal(records.has("uid"), false);
  assert.equal(text(records, "gid"), "300");
});

test("a malformed record ends the parse; the records before it stand", () => {
  for (const tail of ["99 path=beyond-the-end\n", "x path=a\n", "0 path=a\n", "3 path=a\n", "no space"]) {
    const records = parsePaxRecords(Buffer.from(`11 gid=200\n${tail}`));
    assert.deepEqual([...records.keys()], ["gid"], tail);
  }
});

test("numbers: decimal with an optional fraction (mtime), integers within 2^53-1", () => {
  const records = parsePaxRecords(
    Buffer.from("30 mtime=1600000000.987654321\n13 size=4096\n28 uid=99999999999999999999\n11 gid=abc\n"),
  );
  assert.equal(paxNumber(records, "mtime"), Number("1600000000.987654321"));
  assert.equal(paxInteger(records, "size"), 4096);
  assert.equal(paxInteger(records, "uid"), undefined);
  assert.equal(paxNumber(records, "gid"), undefined);
  assert.equal(paxNumber(records, "missing"), undefined);
});
