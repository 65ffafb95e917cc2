import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeTrailer, decodeTrailerLength, encodeTrailer } from "../../src/gvmi/trailer.js";
import { GvmiChecksumError, GvmiTrailerError } from "../../src/gvmi/errors.js";

const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("trailer for {} is CRC LE, JSON, then 00000002", () => {
  // crc32("{}") = 0xa3a6bf43 (python3 zlib.crc32), stored little-endian.
  assert.equal(hex(encodeTrailer(enc("{}"))), "43bfa6a3" + "7b7d" + "3030303030303032");
});

test("trailer for a 15-byte config", () => {
  const json = enc('{"Env":["A=1"]}');
  assert.equal(hex(encodeTrailer(json)), "761eb43b" + hex(json) + "3030303030303135");
});

test("decode finds the SquashFS part and JSON after arbitrary leading bytes", () => {
  const body = new Uint8Array(4096).fill(7);
  const json = enc('{"Volumes":{"/golem/work":{}}}');
  const file = Buffer.concat([body, encodeTrailer(json)]);
  const d = decodeTrailer(file);
  assert.equal(d.squashfsSize, 4096);
  assert.equal(d.text, '{"Volumes":{"/golem/work":{}}}');
});

test("decode accepts only the tail when given the file size", () => {
  const trailer = encodeTrailer(enc("{}"));
  const d = decodeTrailer(trailer, 10_000);
  assert.equal(d.squashfsSize, 10_000 - trailer.length);
});

test("a flipped JSON byte fails the CRC with a typed error", () => {
  const t = encodeTrailer(enc('{"a":1}'));
  t[5] = t[5]! ^ 1;
  assert.throws(
    () => decodeTrailer(t),
    (e: unknown) => e instanceof GvmiChecksumError && e.code === "E_GVMI_CRC",
  );
});

test("length field: digits (and a leading + as Rust's u32 parser allows); anything else refused", () => {
  assert.equal(decodeTrailerLength(enc("00000123")), 123);
  assert.equal(decodeTrailerLength(enc("+0000123")), 123);
  assert.throws(() => decodeTrailerLength(enc("     123")), GvmiTrailerError);
  assert.throws(() => decodeTrailerLength(enc("0000012x")), GvmiTrailerError);
});

test("a length larger than the file is a trailer error, not a crash", () => {
  assert.throws(() => decodeTrailer(enc("xxxx{}99999999")), GvmiTrailerError);
  assert.throws(() => decodeTrailer(enc("short")), GvmiTrailerError);
});

test("invalid UTF-8 JSON is refused (the runtime reads it into a String)", () => {
  assert.throws(() => decodeTrailer(encodeTrailer(new Uint8Array([0xff, 0xfe]))), GvmiTrailerError);
});
