import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeDevice,
  decodeInode,
  encodeDevice,
  encodeInode,
  InodeType,
  NO_FRAGMENT,
  NO_XATTR,
  pickInodeType,
  type Inode,
} from "../../../src/squashfs/format/inode.js";
import {
  SquashfsCorruptError,
  SquashfsInternalError,
  SquashfsRangeError,
} from "../../../src/squashfs/errors.js";
import { hex } from "../struct-helpers.js";

const common = { permissions: 0o755, uidIndex: 1, gidIndex: 2, mtime: 0x01020304, inodeNumber: 7 };
// type, mode, uid, gid, mtime, inode number
const head = (type: string) => `${type}00 ed01 0100 0200 04030201 07000000`.replace(/\s/g, "");

test("basic file inode against its hex layout", () => {
  const inode: Inode = {
    ...common,
    type: 2,
    blocksStart: 0x60,
    fileSize: 0x20005,
    sparse: 0,
    nlink: 1,
    fragIndex: 3,
    fragOffset: 0x10,
    xattrIndex: NO_XATTR,
    blockSizes: [0x1000100],
  };
  assert.equal(
    hex(encodeInode(inode)),
    head("02") + "60000000" + "03000000" + "10000000" + "05000200" + "00010001",
  );
});

test("extended file inode against its hex layout", () => {
  const inode: Inode = {
    ...common,
    type: 9,
    blocksStart: 2 ** 32,
    fileSize: 5,
    sparse: 0,
    nlink: 2,
    fragIndex: NO_FRAGMENT,
    fragOffset: 0,
    xattrIndex: 0,
    blockSizes: [0],
  };
  assert.equal(
    hex(encodeInode(inode)),
    head("09") +
      "0000000001000000" +
      "0500000000000000" +
      "0000000000000000" +
      "02000000" +
      "ffffffff" +
      "00000000" +
      "00000000" +
      "00000000",
  );
});

test("basic and extended directory inodes against their hex layouts", () => {
  const basic: Inode = {
    ...common,
    type: 1,
    blockIndex: 0x10,
    nlink: 3,
    fileSize: 0x33,
    blockOffset: 0x44,
    parentInode: 9,
    xattrIndex: NO_XATTR,
    index: [],
  };
  assert.equal(hex(encodeInode(basic)), head("01") + "10000000" + "03000000" + "3300" + "4400" + "09000000");
  const ext: Inode = {
    ...basic,
    type: 8,
    xattrIndex: 5,
    index: [{ index: 0x2000, start: 0x1234, name: new TextEncoder().encode("ab") }],
  };
  assert.equal(
    hex(encodeInode(ext)),
    head("08") +
      "03000000" +
      "33000000" +
      "10000000" +
      "09000000" +
      "0100" +
      "4400" +
      "05000000" +
      "00200000" +
      "34120000" +
      "01000000" +
      "6162",
  );
});

test("symlink, device and ipc inodes against their hex layouts", () => {
  const target = new TextEncoder().encode("/x");
  assert.equal(
    hex(encodeInode({ ...common, type: 3, nlink: 1, target, xattrIndex: NO_XATTR })),
    head("03") + "01000000" + "02000000" + "2f78",
  );
  assert.equal(
    hex(encodeInode({ ...common, type: 10, nlink: 2, target, xattrIndex: 1 })),
    head("0a") + "02000000" + "02000000" + "2f78" + "01000000",
  );
  assert.equal(
    hex(encodeInode({ ...common, type: 5, nlink: 1, rdev: encodeDevice(1, 3), xattrIndex: NO_XATTR })),
    head("05") + "01000000" + "03010000",
  );
  assert.equal(
    hex(encodeInode({ ...common, type: 11, nlink: 1, rdev: 0x10, xattrIndex: 4 })),
    head("0b") + "01000000" + "10000000" + "04000000",
  );
  assert.equal(
    hex(encodeInode({ ...common, type: 6, nlink: 1, xattrIndex: NO_XATTR })),
    head("06") + "01000000",
  );
  assert.equal(
    hex(encodeInode({ ...common, type: 14, nlink: 3, xattrIndex: 2 })),
    head("0e") + "03000000" + "02000000",
  );
});

test("every inode type decodes to what was encoded", () => {
  const t = new TextEncoder().encode("target");
  const all: Inode[] = [
    {
      ...common,
      type: 1,
      blockIndex: 1,
      nlink: 2,
      fileSize: 3,
      blockOffset: 4,
      parentInode: 5,
      xattrIndex: NO_XATTR,
      index: [],
    },
    {
      ...common,
      type: 8,
      blockIndex: 1,
      nlink: 2,
      fileSize: 90000,
      blockOffset: 4,
      parentInode: 5,
      xattrIndex: 1,
      index: [{ index: 8200, start: 77, name: t }],
    },
    {
      ...common,
      type: 2,
      blocksStart: 96,
      fileSize: 300000,
      sparse: 0,
      nlink: 1,
      fragIndex: 0,
      fragOffset: 5,
      xattrIndex: NO_XATTR,
      blockSizes: [100, 200],
    },
    {
      ...common,
      type: 9,
      blocksStart: 96,
      fileSize: 262144,
      sparse: 131072,
      nlink: 4,
      fragIndex: NO_FRAGMENT,
      fragOffset: 0,
      xattrIndex: 3,
      blockSizes: [0, 1 << 24],
    },
    { ...common, type: 3, nlink: 1, target: t, xattrIndex: NO_XATTR },
    { ...common, type: 10, nlink: 2, target: t, xattrIndex: 0 },
    { ...common, type: 4, nlink: 1, rdev: 0x801, xattrIndex: NO_XATTR },
    { ...common, type: 12, nlink: 2, rdev: 0x801, xattrIndex: 0 },
    { ...common, type: 7, nlink: 1, xattrIndex: NO_XATTR },
    { ...common, type: 13, nlink: 1, xattrIndex: 9 },
  ];
  for (const inode of all) {
    const bytes = encodeInode(inode);
    const padded = new Uint8Array(bytes.length + 5);
    padded.set(bytes, 5);
    const { inode: back, size } = decodeInode(padded, 5, 131072);
    assert.equal(size, bytes.length);
    assert.deepEqual(back, inode);
  }
});

test("Linux device numbers: major 12 bits, minor 20 bits split around it", () => {
  assert.equal(encodeDevice(8, 1), 0x801);
  assert.equal(encodeDevice(0xfff, 0xfffff), 0xfffff_fff);
  assert.deepEqual(decodeDevice(encodeDevice(259, 0x12345)), { major: 259, minor: 0x12345 });
  assert.throws(() => encodeDevice(4096, 0), SquashfsRangeError);
  assert.throws(() => encodeDevice(0, 1 << 20), SquashfsRangeError);
});

test("basic layouts are chosen unless a field needs the extended one", () => {
  assert.equal(
    pickInodeType("file", { nlink: 1, xattr: false, fileSize: 2 ** 32 - 1, blocksStart: 0, sparse: 0 }),
    InodeType.BASIC_FILE,
  );
  assert.equal(
    pickInodeType("file", { nlink: 1, xattr: false, fileSize: 2 ** 32, blocksStart: 0, sparse: 0 }),
    InodeType.EXT_FILE,
  );
  assert.equal(
    pickInodeType("file", { nlink: 1, xattr: false, fileSize: 1, blocksStart: 2 ** 32, sparse: 0 }),
    InodeType.EXT_FILE,
  );
  assert.equal(pickInodeType("file", { nlink: 1, xattr: false, fileSize: 1, sparse: 1 }), InodeType.EXT_FILE);
  assert.equal(pickInodeType("file", { nlink: 2, xattr: false }), InodeType.EXT_FILE);
  assert.equal(pickInodeType("dir", { nlink: 50, xattr: false, fileSize: 65535 }), InodeType.BASIC_DIR);
  assert.equal(pickInodeType("dir", { nlink: 2, xattr: false, fileSize: 65536 }), InodeType.EXT_DIR);
  assert.equal(pickInodeType("dir", { nlink: 2, xattr: false, dirIndexCount: 1 }), InodeType.EXT_DIR);
  assert.equal(pickInodeType("symlink", { nlink: 1, xattr: true }), InodeType.EXT_SYMLINK);
  assert.equal(pickInodeType("socket", { nlink: 1, xattr: false }), InodeType.BASIC_SOCKET);
  assert.equal(pickInodeType("fifo", { nlink: 2, xattr: false }), InodeType.EXT_FIFO);
  assert.equal(pickInodeType("char-device", { nlink: 1, xattr: false }), InodeType.BASIC_CHAR_DEV);
  assert.equal(pickInodeType("block-device", { nlink: 1, xattr: true }), InodeType.EXT_BLOCK_DEV);
});

test("a basic layout refuses what it cannot carry; numbers out of range are typed errors", () => {
  assert.throws(
    () =>
      encodeInode({
        ...common,
        type: 2,
        blocksStart: 0,
        fileSize: 1,
        sparse: 0,
        nlink: 2,
        fragIndex: 0,
        fragOffset: 0,
        xattrIndex: NO_XATTR,
        blockSizes: [],
      }),
    SquashfsInternalError,
  );
  assert.throws(
    () => encodeInode({ ...common, uidIndex: 70000, type: 6, nlink: 1, xattrIndex: NO_XATTR }),
    SquashfsRangeError,
  );
  assert.throws(
    () => encodeInode({ ...common, inodeNumber: 0, type: 6, nlink: 1, xattrIndex: NO_XATTR }),
    SquashfsInternalError,
  );
});

test("an encoder handed an impossible inode is a bug, an unknown type in the bytes is corruption", () => {
  const ipc = encodeInode({ ...common, type: 6, nlink: 1, xattrIndex: NO_XATTR });
  ipc[0] = 15;
  assert.throws(() => decodeInode(ipc, 0, 4096), SquashfsCorruptError);
  assert.throws(
    () => encodeInode({ ...common, type: 6, nlink: 2, xattrIndex: NO_XATTR }),
    (err) => err instanceof SquashfsInternalError && !(err instanceof SquashfsCorruptError),
  );
});
