import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeSuperblock,
  encodeSuperblock,
  SUPERBLOCK_SIZE,
  SuperblockFlags,
  type Superblock,
} from "../../../src/squashfs/format/superblock.js";
import {
  SquashfsCorruptError,
  SquashfsInternalError,
  SquashfsRangeError,
} from "../../../src/squashfs/errors.js";
import { fromHex, hex } from "../struct-helpers.js";

const sb: Superblock = {
  inodeCount: 12,
  modificationTime: 0x65536f00,
  blockSize: 131072,
  fragmentCount: 1,
  compressionId: 1,
  flags: SuperblockFlags.DUPLICATES | SuperblockFlags.EXPORTABLE | SuperblockFlags.NO_XATTRS,
  idCount: 3,
  rootInodeRef: 0x0001_0020,
  bytesUsed: 991,
  idTableStart: 0x3d7,
  xattrIdTableStart: null,
  inodeTableStart: 0x100,
  directoryTableStart: 0x200,
  fragmentTableStart: 0x300,
  exportTableStart: 0x380,
};

const expected = fromHex(`
  68737173 0c000000 006f5365 00000200 01000000 0100 1100 c002 0300 0400 0000
  2000010000000000 df03000000000000 d703000000000000 ffffffffffffffff
  0001000000000000 0002000000000000 0003000000000000 8003000000000000`);

test("superblock encodes every field little-endian in spec order", () => {
  const bytes = encodeSuperblock(sb);
  assert.equal(bytes.length, SUPERBLOCK_SIZE);
  assert.equal(hex(bytes), hex(expected));
});

test("superblock decodes what it encodes (absent tables as null)", () => {
  assert.deepEqual(decodeSuperblock(expected), sb);
});

test("superblock refuses a bad block size, bad magic and out-of-range counts", () => {
  assert.throws(() => encodeSuperblock({ ...sb, blockSize: 3000 }), SquashfsInternalError);
  assert.throws(() => encodeSuperblock({ ...sb, idCount: 65536 }), SquashfsRangeError);
  assert.throws(() => encodeSuperblock({ ...sb, inodeCount: 2 ** 32 }), SquashfsRangeError);
  const bad = expected.slice();
  bad[0] = 0;
  assert.throws(() => decodeSuperblock(bad), SquashfsCorruptError);
});

// Regression: `1 << block_log` wraps at 32 in JS, so block_log 44 "agreed" with block size 4096,
// and block_log 0 with block size 1.
test("superblock refuses a block log outside 12…20 even when the shifted value matches", () => {
  const withLog = (blockSize: number, blockLog: number) => {
    const b = expected.slice();
    const v = new DataView(b.buffer);
    v.setUint32(12, blockSize, true);
    v.setUint16(22, blockLog, true);
    return b;
  };
  assert.throws(() => decodeSuperblock(withLog(4096, 44)), SquashfsCorruptError);
  assert.throws(() => decodeSuperblock(withLog(1, 0)), SquashfsCorruptError);
  assert.throws(() => decodeSuperblock(withLog(2 * 1024 * 1024, 21)), SquashfsCorruptError);
  assert.equal(decodeSuperblock(withLog(4096, 12)).blockSize, 4096);
  assert.equal(decodeSuperblock(withLog(1024 * 1024, 20)).blockSize, 1024 * 1024);
});
