/**
 * The byte-array field writers (putU16 … putU64) against DataView's own little-endian stores,
 * which the struct encoders used before: the same bytes at every edge of each range, and a typed
 * refusal past them that writes nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { putI16, putU16, putU32, putU64 } from "../../../src/squashfs/format/binary.js";
import { SquashfsRangeError } from "../../../src/squashfs/errors.js";

type Put = (bytes: Uint8Array, offset: number, value: number, field: string) => void;
type Store = (view: DataView, offset: number, value: number) => void;

const cases: [string, Put, Store, number[], number[]][] = [
  [
    "u16",
    putU16,
    (v, o, x) => v.setUint16(o, x, true),
    [0, 1, 0xff, 0x100, 0x1234, 0x7fff, 0x8000, 0xffff],
    [-1, 0x10000, 1.5, NaN],
  ],
  [
    "i16",
    putI16,
    (v, o, x) => v.setInt16(o, x, true),
    [-0x8000, -0x7fff, -256, -1, 0, 1, 0xff, 0x7fff],
    [-0x8001, 0x8000, 0.5],
  ],
  [
    "u32",
    putU32,
    (v, o, x) => v.setUint32(o, x, true),
    [0, 1, 0xff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xdead_beef, 0xffff_ffff],
    [-1, 0x1_0000_0000, 2.5, Infinity],
  ],
  [
    "u64",
    putU64,
    (v, o, x) => v.setBigUint64(o, BigInt(x), true),
    [0, 1, 0xffff_ffff, 0x1_0000_0000, 0x1_2345_6789_abcd, Number.MAX_SAFE_INTEGER],
    [-1, Number.MAX_SAFE_INTEGER + 1, 0.25],
  ],
];

for (const [name, put, store, good, bad] of cases) {
  test(`put ${name} writes what DataView writes, at an offset, and refuses what does not fit`, () => {
    for (const value of good) {
      const viaPut = new Uint8Array(12).fill(0xaa);
      const viaView = new Uint8Array(12).fill(0xaa);
      put(viaPut, 3, value, name);
      store(new DataView(viaView.buffer), 3, value);
      assert.deepEqual(viaPut, viaView, `${name} ${value}`);
    }
    for (const value of bad) {
      const bytes = new Uint8Array(12);
      assert.throws(() => put(bytes, 0, value, name), SquashfsRangeError, `${name} ${value}`);
      assert.deepEqual(bytes, new Uint8Array(12), "nothing written before the refusal");
    }
  });
}
