import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeNumber } from "../../src/tar/index.js";

const bytes = (hex: string): Uint8Array => Buffer.from(hex.replace(/\s+/g, ""), "hex");
const ascii = (s: string): Uint8Array => Buffer.from(s, "latin1");

test("octal fields: NUL or space terminated, leading spaces, empty is 0", () => {
  assert.equal(decodeNumber(ascii("0000644\0")), 0o644);
  assert.equal(decodeNumber(ascii("000000000017 ")), 15);
  assert.equal(decodeNumber(ascii("    644 \0")), 0o644);
  assert.equal(decodeNumber(ascii("77777777777\0")), 8 * 1024 ** 3 - 1); // the ustar size limit
  assert.equal(decodeNumber(new Uint8Array(8)), 0);
  assert.equal(decodeNumber(ascii("        ")), 0);
});

test("bad octal fields are refused, not read as far as they go", () => {
  assert.throws(() => decodeNumber(ascii("00008\0\0\0")), {
    code: "E_TAR_FORMAT",
    message: /bad number field "00008"/,
  });
  assert.throws(() => decodeNumber(ascii("12 34\0\0\0")), { code: "E_TAR_FORMAT" });
  assert.throws(() => decodeNumber(ascii("0x1f\0\0\0\0")), { code: "E_TAR_FORMAT" });
});

test("base-256: 0x80 marks a positive big-endian value", () => {
  // 8 GiB in a 12-byte size field, as GNU tar writes it.
  assert.equal(decodeNumber(bytes("80 00 00 00 00 00 00 02 00 00 00 00")), 8 * 1024 ** 3);
  // uid 5_000_000_000 in an 8-byte field.
  assert.equal(decodeNumber(bytes("80 00 00 01 2a 05 f2 00")), 5_000_000_000);
  // The marker byte's low bits belong to the value.
  assert.equal(decodeNumber(bytes("81 00")), 256);
});

test("base-256: 0xff marks a negative two's complement value (mtimes before 1970)", () => {
  assert.equal(decodeNumber(bytes("ff ff ff ff ff ff ff ff ff ff ff ff")), -1);
  assert.equal(decodeNumber(bytes("ff ff ff ff ff ff ff ff ff ff ff 00")), -256);
  assert.equal(decodeNumber(bytes("ff ff ff ff ff ff ff ff 80 00 00 00")), -(2 ** 31));
});

test("base-256 values past 2^53-1 either way are refused rather than rounded", () => {
  assert.equal(decodeNumber(bytes("80 00 00 00 00 1f ff ff ff ff ff ff")), Number.MAX_SAFE_INTEGER);
  assert.throws(() => decodeNumber(bytes("80 00 00 00 00 20 00 00 00 00 00 00")), {
    code: "E_TAR_FORMAT",
    message: /beyond 2\^53-1/,
  });
  assert.equal(decodeNumber(bytes("ff ff ff ff ff e0 00 00 00 00 00 01")), -Number.MAX_SAFE_INTEGER);
  assert.throws(() => decodeNumber(bytes("ff ff ff ff ff e0 00 00 00 00 00 00")), { code: "E_TAR_FORMAT" });
  assert.throws(() => decodeNumber(bytes("80 ff ff ff ff ff ff ff ff ff ff ff")), { code: "E_TAR_FORMAT" });
});
