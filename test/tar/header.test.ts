import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BLOCK_SIZE,
  HEADER_FIELDS,
  decodeGnuLongName,
  headerName,
  headerNumber,
  headerString,
  headerType,
  isZeroBlock,
} from "../../src/tar/index.js";

/** A header block from (offset, hex) runs: what a tar writer put on disk, byte for byte. */
function block(runs: [number, string][]): Buffer {
  const b = Buffer.alloc(BLOCK_SIZE);
  for (const [offset, hex] of runs) Buffer.from(hex.replace(/\s+/g, ""), "hex").copy(b, offset);
  return b;
}

// `echo hello > hello.txt; tar --format=ustar -cf - hello.txt` (GNU tar 1.34), fields that matter.
const USTAR = block([
  [0, "68 65 6c 6c 6f 2e 74 78 74"], // "hello.txt"
  [100, "30 30 30 30 36 34 34 00"], // mode "0000644\0"
  [108, "30 30 30 31 37 35 30 00"], // uid "0001750\0" = 1000
  [116, "30 30 30 31 37 35 30 00"], // gid
  [124, "30 30 30 30 30 30 30 30 30 30 36 00"], // size "00000000006\0"
  [136, "31 34 35 33 30 32 37 36 34 30 30 00"], // mtime "14530276400\0"
  [156, "30"], // typeflag '0'
  [257, "75 73 74 61 72 00 30 30"], // "ustar\0" "00"
  [265, "75 73 65 72"], // uname "user"
  [345, "73 72 76 2f 77 77 77"], // prefix "srv/www"
]);

test("the field table is the ustar layout, contiguous and in spec order", () => {
  let end = 0;
  for (const { offset, length } of Object.values(HEADER_FIELDS)) {
    assert.equal(offset, end);
    end = offset + length;
  }
  assert.equal(end, 500);
});

test("a POSIX ustar header: strings, octal numbers, the prefix joined to the name", () => {
  assert.equal(headerString(USTAR, "name"), "hello.txt");
  assert.equal(headerName(USTAR), "srv/www/hello.txt");
  assert.equal(headerNumber(USTAR, "mode"), 0o644);
  assert.equal(headerNumber(USTAR, "uid"), 1000);
  assert.equal(headerNumber(USTAR, "size"), 6);
  assert.equal(headerNumber(USTAR, "mtime"), 0o14530276400);
  assert.equal(headerType(USTAR), "0");
  assert.equal(headerString(USTAR, "uname"), "user");
  assert.equal(headerNumber(USTAR, "devmajor"), 0);
});

test("old GNU headers (magic 'ustar  ') have no prefix: those bytes are not part of the name", () => {
  const gnu = block([
    [0, "61"], // "a"
    [156, "00"], // old-style regular file
    [257, "75 73 74 61 72 20 20 00"], // "ustar  \0"
    [345, "31 32 33 34"], // GNU atime, not a prefix
  ]);
  assert.equal(headerName(gnu), "a");
  assert.equal(headerType(gnu), "\0");
});

test("a GNU base-256 size in a header", () => {
  const big = block([
    [0, "62 69 67"],
    [124, "80 00 00 00 00 00 00 03 00 00 00 00"], // 12 GiB
    [156, "30"],
  ]);
  assert.equal(headerNumber(big, "size"), 12 * 1024 ** 3);
});

test("a bad number in a header is an E_TAR_FORMAT error", () => {
  const bad = block([[124, "31 32 33 7a 00"]]); // "123z"
  assert.throws(() => headerNumber(bad, "size"), { code: "E_TAR_FORMAT", message: /"123z"/ });
});

test("a name that fills its field has no NUL and is read whole; multi-byte UTF-8 names decode", () => {
  const full = Buffer.alloc(BLOCK_SIZE);
  full.write("n".repeat(100), 0, "latin1");
  full.write("ustar\0" + "00", 257, "latin1");
  assert.equal(headerName(full), "n".repeat(100));
  const utf8 = block([[0, "63 61 66 c3 a9"]]); // "café"
  assert.equal(headerName(utf8), "café");
});

test("GNU long names: the 'L' member's data, NUL-terminated", () => {
  const name = "g/" + "n".repeat(150);
  assert.equal(decodeGnuLongName(Buffer.from(name + "\0")), name);
  assert.equal(decodeGnuLongName(Buffer.from(name)), name);
  assert.equal(decodeGnuLongName(Buffer.from("d/é\0garbage")), "d/é");
});

test("the end-of-archive block is all zeros", () => {
  assert.equal(isZeroBlock(Buffer.alloc(BLOCK_SIZE)), true);
  assert.equal(isZeroBlock(USTAR), false);
});
