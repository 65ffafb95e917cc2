import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { crc32 } from "../../src/gvmi/crc32.js";

const enc = (s: string) => new TextEncoder().encode(s);

test("crc32 matches the CRC-32/IEEE check value and known vectors", () => {
  assert.equal(crc32(enc("123456789")), 0xcbf43926);
  assert.equal(crc32(enc("")), 0);
  assert.equal(crc32(enc("{}")), 0xa3a6bf43);
});

test("crc32 continues across pieces like zlib's crc32(crc, buf)", () => {
  const data = enc("hello, golem");
  assert.equal(crc32(data.subarray(5), crc32(data.subarray(0, 5))), crc32(data));
});

test("crc32 agrees with python's zlib.crc32 on random data", () => {
  const data = randomBytes(5000);
  const out = execFileSync("python3", ["-c", "import sys,zlib; print(zlib.crc32(sys.stdin.buffer.read()))"], {
    input: data,
  });
  assert.equal(crc32(data), Number(out.toString().trim()));
});
