import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeDirEntry,
  decodeDirHeader,
  DIR_HEADER_SIZE,
  DIR_ENTRY_SIZE,
} from "../../../src/squashfs/format/directory.js";
import { writeDirectory, type DirChild } from "../../../src/squashfs/writer/directory-writer.js";
import { MetadataWriter } from "../../../src/squashfs/writer/metadata-writer.js";
import { halvingCompressor, rawCompressor } from "../struct-helpers.js";

const enc = new TextEncoder();

/** Parses a listing back into runs (what the kernel's readdir does). */
function parseListing(bytes: Uint8Array, start: number, size: number) {
  const runs: {
    header: ReturnType<typeof decodeDirHeader>;
    pos: number;
    names: string[];
    numbers: number[];
  }[] = [];
  let p = start;
  while (p - start < size - 3) {
    const header = decodeDirHeader(bytes, p);
    const run = { header, pos: p - start, names: [] as string[], numbers: [] as number[] };
    p += DIR_HEADER_SIZE;
    for (let i = 0; i < header.count; i++) {
      const e = decodeDirEntry(bytes, p);
      run.names.push(new TextDecoder().decode(e.name));
      run.numbers.push(header.inodeNumber + e.inodeDelta);
      p += DIR_ENTRY_SIZE + e.name.length;
    }
    runs.push(run);
  }
  assert.equal(p - start, size - 3);
  return runs;
}

test("runs split at 256 entries, at inode block changes and at i16 deltas; size = listing + 3", async () => {
  const mw = new MetadataWriter(rawCompressor);
  const kids: DirChild[] = [];
  for (let i = 0; i < 300; i++)
    kids.push({
      name: enc.encode(`f${String(i).padStart(3, "0")}`),
      inodeRef: { block: 0, offset: i * 32 },
      inodeNumber: 1 + i,
      type: 2,
    });
  kids.push({ name: enc.encode("g"), inodeRef: { block: 8194, offset: 0 }, inodeNumber: 301, type: 2 });
  kids.push({
    name: enc.encode("h"),
    inodeRef: { block: 8194, offset: 32 },
    inodeNumber: 301 + 40000,
    type: 1,
  });
  const w = writeDirectory(mw, kids.reverse());
  const { bytes } = mw.finish();
  const raw = bytes.subarray(2); // one raw block: skip its header
  const runs = parseListing(raw, 0, w.fileSize);
  assert.deepEqual(
    runs.map((r) => [r.header.count, r.header.start]),
    [
      [256, 0],
      [44, 0],
      [1, 8194],
      [1, 8194],
    ],
  );
  assert.equal(runs[0]!.names[0], "f000");
  assert.deepEqual(runs[3]!.numbers, [40301]);
  assert.equal(w.fileSize, 4 * DIR_HEADER_SIZE + 302 * DIR_ENTRY_SIZE + 300 * 4 + 2 + 3);
  assert.deepEqual(w.index, []);
});

test("an empty directory has size 3 and no listing", async () => {
  const mw = new MetadataWriter(rawCompressor);
  const w = writeDirectory(mw, []);
  assert.equal(w.fileSize, 3);
  assert.equal(mw.uncompressedSize, 0);
});

test("index: one entry per directory block crossed, pointing at a header whose first name it carries", async () => {
  const mw = new MetadataWriter(halvingCompressor());
  mw.append(new Uint8Array(5000)); // listing starts mid-block
  const kids: DirChild[] = [];
  for (let i = 0; i < 2000; i++)
    kids.push({
      name: enc.encode(`name-${String(i).padStart(5, "0")}`),
      inodeRef: { block: 0, offset: 0 },
      inodeNumber: 10 + i,
      type: 2,
    });
  const w = writeDirectory(mw, kids);
  const listingStart = 5000;
  const total = listingStart + w.fileSize - 3;
  assert.equal(w.ref.offset, 5000);
  assert.equal(w.index.length, Math.floor((total - 1) / 8192));
  // Rebuild the uncompressed stream to check what each index entry points at.
  const stream = new Uint8Array(total);
  const all = kids.map((k) => k);
  void all;
  const mw2 = new MetadataWriter(rawCompressor);
  mw2.append(new Uint8Array(5000));
  writeDirectory(mw2, kids);
  const { bytes } = mw2.finish();
  let o = 0;
  for (let p = 0; p < bytes.length;) {
    const n = (bytes[p]! | (bytes[p + 1]! << 8)) & 0x7fff;
    stream.set(bytes.subarray(p + 2, p + 2 + n), o);
    o += n;
    p += 2 + n;
  }
  const runs = parseListing(stream, listingStart, w.fileSize);
  for (const [k, e] of w.index.entries()) {
    const abs = listingStart + e.index;
    const block = Math.floor(abs / 8192);
    assert.equal(e.start, block * 4098, `index ${k}: block start of the header (halved blocks)`);
    const run = runs.find((r) => r.pos === e.index);
    assert.ok(run, `index ${k} points at a header`);
    assert.equal(new TextDecoder().decode(e.name), run.names[0]);
    // The header is the first one in its block.
    assert.ok(runs.filter((r) => Math.floor((listingStart + r.pos) / 8192) === block)[0] === run);
  }
});
