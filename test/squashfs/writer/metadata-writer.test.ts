import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMetadataHeader, METADATA_BLOCK_SIZE } from "../../../src/squashfs/format/metadata.js";
import { MetadataWriter } from "../../../src/squashfs/writer/metadata-writer.js";
import { createCompressor } from "../../../src/squashfs/compressor/index.js";
import { halvingCompressor, hex, rawCompressor } from "../struct-helpers.js";

test("blocks that do not compress are stored raw, with the uncompressed bit", async () => {
  const mw = new MetadataWriter(rawCompressor);
  mw.append(new Uint8Array([1, 2, 3]));
  const { bytes, blockStarts } = mw.finish();
  assert.equal(hex(bytes), "0380010203");
  assert.deepEqual(blockStarts, [0]);
});

test("compressible blocks are stored compressed (zlib) and refs count framed sizes", async () => {
  const mw = new MetadataWriter(createCompressor({ name: "gzip", level: 6, blockSize: 131072 }));
  mw.append(new Uint8Array(METADATA_BLOCK_SIZE)); // one full block of zeros
  const ref = mw.ref();
  const { bytes, blockStarts } = mw.finish();
  assert.equal(ref.offset, 0);
  assert.ok(ref.block < 100, "a block of zeros compresses");
  assert.equal(ref.block, bytes.length, "the next block starts after the first's header and body");
  assert.equal(decodeMetadataHeader(bytes).uncompressed, false);
  assert.deepEqual(blockStarts, [0]);
});

test("refs follow the compressed sizes of the blocks before them", () => {
  const mw = new MetadataWriter(halvingCompressor());
  const refs = [];
  for (let i = 0; i < 40; i++) {
    refs.push(mw.ref());
    mw.append(new Uint8Array(1000).fill(i));
  }
  const { blockStarts } = mw.finish();
  // Each full block of 8192 halves to 4096 + 2 bytes of header.
  assert.deepEqual(blockStarts.slice(0, 4), [0, 4098, 8196, 12294]);
  for (let i = 0; i < 40; i++) {
    const pos = i * 1000;
    assert.deepEqual(refs[i], { block: Math.floor(pos / 8192) * 4098, offset: pos % 8192 });
  }
});

test("a record ending exactly on a block boundary puts the next ref in the next block", async () => {
  const mw = new MetadataWriter(rawCompressor);
  mw.append(new Uint8Array(METADATA_BLOCK_SIZE));
  assert.deepEqual(mw.ref(), { block: 8194, offset: 0 });
});
