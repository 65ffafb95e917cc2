import { test } from "node:test";
import assert from "node:assert/strict";
import {
  compareNames,
  decodeDirEntry,
  decodeDirHeader,
  decodeDirIndex,
  encodeDirEntry,
  encodeDirHeader,
  encodeDirIndex,
} from "../../../src/squashfs/format/directory.js";
import { SquashfsInternalError, SquashfsRangeError } from "../../../src/squashfs/errors.js";
import { hex } from "../struct-helpers.js";

const enc = new TextEncoder();

test("directory header: count - 1, inode block, base inode", () => {
  const h = { count: 256, start: 0x2002, inodeNumber: 17 };
  assert.equal(hex(encodeDirHeader(h)), "ff000000" + "02200000" + "11000000");
  assert.deepEqual(decodeDirHeader(encodeDirHeader(h), 0), h);
  // Runs are cut by writer/directory-writer.ts: one of 0 or 257 entries is its bug.
  assert.throws(() => encodeDirHeader({ ...h, count: 257 }), SquashfsInternalError);
  assert.throws(() => encodeDirHeader({ ...h, count: 0 }), SquashfsInternalError);
});

test("directory entry: offset, signed delta, basic type, size - 1, name", () => {
  const e = { offset: 0x1f0, inodeDelta: -2, type: 2, name: enc.encode("abc") };
  assert.equal(hex(encodeDirEntry(e)), "f001" + "feff" + "0200" + "0200" + "616263");
  assert.deepEqual(decodeDirEntry(encodeDirEntry(e), 0), e);
  assert.throws(() => encodeDirEntry({ ...e, inodeDelta: 40000 }), SquashfsRangeError);
});

test("directory index entry: listing offset, block start, size - 1, name", () => {
  const e = { index: 8190, start: 0x1234, name: enc.encode("m") };
  assert.equal(hex(encodeDirIndex(e)), "fe1f0000" + "34120000" + "00000000" + "6d");
  assert.deepEqual(decodeDirIndex(encodeDirIndex(e), 0), e);
});

test("names sort bytewise (strcmp on UTF-8), not by UTF-16 code units", () => {
  const names = ["b", "a", "Z", "é", "\u{1F600}", "\uFFFD", "a0", "A"].map((s) => enc.encode(s));
  const sorted = names.sort(compareNames).map((b) => new TextDecoder().decode(b));
  assert.deepEqual(sorted, ["A", "Z", "a", "a0", "b", "é", "\uFFFD", "\u{1F600}"]);
});
