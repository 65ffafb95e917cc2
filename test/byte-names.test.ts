import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeName, encodeName, escapeName, nameByteLength, unescapeName } from "../src/byte-names.js";
import { prng } from "./support/prng.js";

const latin1 = (s: string): Buffer => Buffer.from(s, "latin1");

test("valid UTF-8 names decode to themselves", () => {
  for (const name of ["etc", "café", "日本語", "emoji 😀", "a\u0000b", ""]) {
    const bytes = Buffer.from(name, "utf8");
    assert.equal(decodeName(bytes), name);
    assert.deepEqual(encodeName(name), bytes);
    assert.equal(nameByteLength(name), bytes.length);
  }
});

test("two Latin-1 names that a lossy decode would merge stay two names", () => {
  const e = decodeName(latin1("caf\xe9"));
  const g = decodeName(latin1("caf\xe8"));
  assert.notEqual(e, g);
  assert.notEqual(e, "café");
  assert.notEqual(e, "caf\ufffd");
  assert.deepEqual(encodeName(e), latin1("caf\xe9"));
  assert.deepEqual(encodeName(g), latin1("caf\xe8"));
  assert.equal(nameByteLength(e), 4);
});

test("every byte string survives decode and encode, byte for byte", () => {
  const random = prng(13);
  const seen = new Map<string, string>();
  for (let n = 0; n < 5000; n++) {
    const length = 1 + Math.floor(random() * 12);
    // Bytes biased towards the ones UTF-8 treats specially: lead and continuation bytes.
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      const r = random();
      bytes[i] =
        r < 0.3
          ? 0x80 + Math.floor(random() * 0x40)
          : r < 0.6
            ? 0xc0 + Math.floor(random() * 0x40)
            : Math.floor(random() * 256);
    }
    const name = decodeName(bytes);
    assert.deepEqual(encodeName(name), bytes, `round trip of ${bytes.toString("hex")}`);
    assert.equal(decodeName(encodeName(name)), name);
    // One string form per byte string, and no two byte strings share one.
    const hex = bytes.toString("hex");
    const other = seen.get(name);
    assert.ok(other === undefined || other === hex, `${hex} and ${other} decode alike`);
    seen.set(name, hex);
  }
});

test("invalid sequences are escaped byte by byte: overlong, surrogate, truncated, too large", () => {
  for (const hex of ["c0af", "e080af", "eda080", "f4908080", "e282", "ff", "80", "f0"]) {
    const bytes = Buffer.from(hex, "hex");
    const name = decodeName(bytes);
    assert.equal(name.length, bytes.length, hex);
    assert.deepEqual(encodeName(name), bytes, hex);
  }
  // A valid sequence after an invalid byte is still a character.
  assert.equal(decodeName(Buffer.from("ffc3a9", "hex")), "\udcffé");
});

test("escapeName shows bytes and control characters as \\xNN and reads back with unescapeName", () => {
  assert.equal(escapeName("plain name.txt"), "plain name.txt");
  assert.equal(escapeName("café"), "café");
  assert.equal(escapeName(decodeName(latin1("caf\xe9"))), "caf\\xe9");
  assert.equal(escapeName("a\nb\tc\x7f"), "a\\x0ab\\x09c\\x7f");
  assert.equal(escapeName("back\\slash"), "back\\\\slash");
  assert.equal(escapeName("c1\u0085"), "c1\\xc2\\x85");
  const random = prng(7);
  for (let n = 0; n < 2000; n++) {
    const bytes = Buffer.alloc(1 + Math.floor(random() * 10));
    for (let i = 0; i < bytes.length; i++) bytes[i] = 1 + Math.floor(random() * 255);
    const name = decodeName(bytes);
    const shown = escapeName(name);
    // Printable: no control characters, and no lone surrogates (which a terminal cannot show).
    assert.ok(
      // eslint-disable-next-line no-control-regex -- control characters are what it looks for
      !/[\x00-\x1f\x7f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(shown),
      shown,
    );
    assert.equal(unescapeName(shown), name, bytes.toString("hex"));
  }
});

test("unescapeName: \\xNN is a byte, \\\\ a backslash, any other backslash itself", () => {
  assert.equal(unescapeName("caf\\xe9"), decodeName(latin1("caf\xe9")));
  assert.equal(unescapeName("caf\\xE9"), decodeName(latin1("caf\xe9")));
  assert.equal(unescapeName("caf\\xc3\\xa9"), "café");
  assert.equal(unescapeName("a\\\\b"), "a\\b");
  assert.equal(unescapeName("a\\b\\x"), "a\\b\\x");
  assert.equal(unescapeName("a\\xg1"), "a\\xg1");
  assert.equal(unescapeName("/etc/os-release"), "/etc/os-release");
});
