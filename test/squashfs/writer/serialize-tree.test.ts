import { test } from "node:test";
import assert from "node:assert/strict";
import { serializeTree } from "../../../src/squashfs/writer/serialize-tree.js";
import { FsTree } from "../../../src/squashfs/writer/fs-tree.js";
import { LayoutTable } from "../../../src/squashfs/writer/layout-table.js";
import { decodeInode, type Inode } from "../../../src/squashfs/format/inode.js";
import type { MetadataRef } from "../../../src/squashfs/format/metadata.js";
import { METADATA_HEADER_SIZE, unpackRef } from "../../../src/squashfs/format/metadata.js";
import { SquashfsInternalError } from "../../../src/squashfs/errors.js";
import { rawCompressor } from "../struct-helpers.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeName, encodeName } from "../../../src/byte-names.js";
import type { Entry } from "../../../src/squashfs/entry.js";
import { SquashfsReader } from "../../../src/squashfs/reader/reader.js";
import { writeSquashfs } from "../../../src/squashfs/writer/writer.js";

const a = (mode: number, uid = 0) => ({ mode, uid, gid: 0, mtime: 1 });
const table = new LayoutTable();
const layout = table.add(0);
const layouts = { layout: (id: number) => table.get(id) };

/** The inode at `ref` of a one-block, raw (rawCompressor) inode table. */
function inodeAt(table: Uint8Array, ref: MetadataRef): Inode {
  assert.equal(ref.block, 0);
  return decodeInode(table, METADATA_HEADER_SIZE + ref.offset, 4096).inode;
}

function sampleTree(): FsTree {
  const t = new FsTree(() => a(0o755));
  t.setDirectory("etc", a(0o755));
  t.setFile("etc/passwd", a(0o644, 7), layout);
  t.setSymlink("bin/sh", a(0o777), "busybox");
  t.setHardlink("bin/ls", "etc/passwd");
  t.setIpc("z", "fifo", a(0o600));
  t.resolve();
  return t;
}

test("inodes are numbered contents first, root last; nlink counts paths and subdirectories", () => {
  const s = serializeTree(sampleTree(), rawCompressor, layouts);
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
  const one = serializeTree(sampleTree(), rawCompressor, layouts);
  const two = serializeTree(sampleTree(), rawCompressor, layouts);
  assert.deepEqual(one.inodeTable, two.inodeTable);
  assert.deepEqual(one.directoryTable, two.directoryTable);
});

test("a tree that was not resolved is refused as a bug, not as a corrupt image", () => {
  const t = new FsTree(() => a(0o755));
  t.setFile("f", a(0o644), layout);
  t.setHardlink("g", "f");
  assert.throws(() => serializeTree(t, rawCompressor, layouts), SquashfsInternalError);
});

test("children are numbered in byte order whether or not their names sort the same as strings", async () => {
  // Names without surrogates sort as strings (code units follow UTF-8 byte order there); with one,
  // the directory is sorted on bytes: U+FF01 (EF BC 81) before U+1F600 (F0 9F 98 80, a surrogate
  // pair, which sorts first as code units) before the non-UTF-8 byte FF (string form U+DCFF).
  const plain = ["b", "Z", "a", "ab", "\u00e9", "\uffee", "_"];
  const mixed = ["a", "\u{1f600}", "\uff01", decodeName(Uint8Array.of(0xff)), "\u00e9"];
  const bytesOrder = (names: string[]) =>
    names
      .map((n) => encodeName(n))
      .sort((x, y) => Buffer.compare(x, y))
      .map((b) => [...b]);
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-serialize-"));
  try {
    const image = join(dir, "x.sqfs");
    const attrs = a(0o644);
    const entries: Entry[] = [
      ...plain.map((n): Entry => ({
        type: "file",
        path: `plain/${n}`,
        attrs,
        size: 1,
        content: Buffer.from("x"),
      })),
      ...mixed.map((n): Entry => ({ type: "symlink", path: `mixed/${n}`, attrs, target: "t" })),
    ];
    await writeSquashfs(entries, image, { workers: 0 });
    const reader = await SquashfsReader.open(image);
    try {
      for (const [d, names] of [
        ["plain", plain],
        ["mixed", mixed],
      ] as const) {
        const listed = await reader.readdir(d);
        assert.deepEqual(
          listed.map((e) => [...e.nameBytes]),
          bytesOrder([...names]),
          d,
        );
        // Inodes are numbered (and written) in listing order, as mksquashfs does: the listing's
        // own sort cannot hide a walk in another order.
        const numbers = listed.map((e) => e.inodeNumber);
        assert.deepEqual(
          numbers,
          [...numbers].sort((x, y) => x - y),
          `${d}: inode numbers follow the byte order`,
        );
      }
    } finally {
      await reader.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
