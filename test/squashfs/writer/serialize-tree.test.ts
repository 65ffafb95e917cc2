import { test } from "node:test";
import assert from "node:assert/strict";
import { serializeTree } from "../../../src/squashfs/writer/serialize-tree.js";
import { FsTree } from "../../../src/squashfs/writer/fs-tree.js";
import { decodeInode, type Inode } from "../../../src/squashfs/format/inode.js";
import type { MetadataRef } from "../../../src/squashfs/format/metadata.js";
import { METADATA_HEADER_SIZE, unpackRef } from "../../../src/squashfs/format/metadata.js";
import { SquashfsInternalError } from "../../../src/squashfs/errors.js";
import { rawCompressor } from "../struct-helpers.js";

const a = (mode: number, uid = 0) => ({ mode, uid, gid: 0, mtime: 1 });
const layout = { fileSize: 0, blocksStart: 0, blockSizes: [], fragment: null, sparseBytes: 0 };

/** The inode at `ref` of a one-block, raw (rawCompressor) inode table. */
function inodeAt(table: Uint8Array, ref: MetadataRef): Inode {
  assert.equal(ref.block, 0);
  return decodeInode(table, METADATA_HEADER_SIZE + ref.offset, 4096).inode;
}

function sampleTree(): FsTree {
  const t = new FsTree(() => a(0o755));
  t.setDirectory("etc", a(0o755));
  t.setNode("etc/passwd", { kind: "file", attrs: a(0o644, 7), layout });
  t.setNode("bin/sh", { kind: "symlink", attrs: a(0o777), target: "busybox" });
  t.setNode("bin/ls", { kind: "hardlink", target: "etc/passwd", path: "bin/ls" });
  t.setNode("z", { kind: "fifo", attrs: a(0o600) });
  t.resolve();
  return t;
}

test("inodes are numbered contents first, root last; nlink counts paths and subdirectories", () => {
  const s = serializeTree(sampleTree(), rawCompressor);
  // bin/ (ls = the passwd file, sh), bin, etc/ (passwd: already numbered), etc, z, root.
  const refs = Array.from(s.packedInodeRefs, unpackRef);
  const inodes = refs.map((ref) => inodeAt(s.inodeTable, ref));
  assert.deepEqual(
    inodes.map((i) => [i.inodeNumber, i.type, i.nlink]),
    [
      [1, 9, 2], // bin/ls ≡ etc/passwd: one extended file inode, two links
      [2, 3, 1], // bin/sh
      [3, 1, 2], // bin
      [4, 1, 2], // etc
      [5, 6, 1], // z
      [6, 1, 4], // root: 2 + bin + etc
    ],
  );
  assert.equal(s.inodeCount, 6);
  assert.deepEqual(s.rootRef, refs[5]);
  const root = inodes[5]!;
  assert.ok(root.type === 1 && root.parentInode === 7, "the root's parent is inode_count + 1");
  assert.equal(s.files, 1);
  assert.equal(s.dirs, 3);
  // Ids in first-use order: the file (uid 7, gid 0) is written first.
  assert.deepEqual(s.ids.ids, [7, 0]);
});

test("the same tree serializes to the same bytes", () => {
  const one = serializeTree(sampleTree(), rawCompressor);
  const two = serializeTree(sampleTree(), rawCompressor);
  assert.deepEqual(one.inodeTable, two.inodeTable);
  assert.deepEqual(one.directoryTable, two.directoryTable);
});

test("a tree whose hard links were not resolved is refused as a bug, not as a corrupt image", () => {
  const t = new FsTree(() => a(0o755));
  t.setNode("f", { kind: "file", attrs: a(0o644), layout });
  t.setNode("g", { kind: "hardlink", target: "f", path: "g" });
  assert.throws(() => serializeTree(t, rawCompressor), SquashfsInternalError);
});
