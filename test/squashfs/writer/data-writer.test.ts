import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContentSizeMismatchError, DataWriter } from "../../../src/squashfs/writer/data-writer.js";
import { OutputSink } from "../../../src/squashfs/writer/output-sink.js";
import { createCompressor } from "../../../src/squashfs/compressor/index.js";
import {
  BLOCK_UNCOMPRESSED,
  type FileLayout,
  type FragmentEntry,
} from "../../../src/squashfs/format/data-layout.js";
import type { CompressorSpec } from "../../../src/squashfs/compressor/compressor.js";

const BS = 4096;
const spec: CompressorSpec = { name: "gzip", level: 6, blockSize: BS };

function text(size: number, seed: number): Buffer {
  let s = "";
  let n = seed;
  while (s.length < size) s += `row ${n} ${(n++ * 2654435761) % 9973}\n`;
  return Buffer.from(s).subarray(0, size);
}

/** Stream `data` in chunks of awkward sizes. */
async function* chunked(
  data: Uint8Array,
  sizes = [1, 1000, 4095, 4097, 777, 10000],
): AsyncIterable<Uint8Array> {
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = sizes[i++ % sizes.length]!;
    yield data.subarray(off, off + n);
    off += n;
  }
}

interface Run {
  image: Buffer;
  /** The layout ids writeFile returned, and their layouts once the writer finished. */
  ids: number[];
  layouts: FileLayout[];
  fragments: FragmentEntry[];
}

async function writeAll(files: Uint8Array[], workers: number, dedupe = true): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-dw-"));
  try {
    const path = join(dir, "img");
    const sink = await OutputSink.open(path);
    await sink.write(new Uint8Array(96)); // a superblock placeholder: data starts after it
    const dw = new DataWriter({ sink, spec, workers, dedupe });
    const ids: number[] = [];
    try {
      for (const f of files) ids.push(await dw.writeFile(f.length, chunked(f)));
      const fragments = await dw.finish();
      await sink.close();
      const layouts = ids.map((id) => dw.layout(id));
      return { image: await readFile(path), ids, layouts, fragments };
    } finally {
      await dw.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Read a file back out of the image from its layout, like the kernel would. */
async function readBack(run: Run, layout: FileLayout): Promise<Buffer> {
  const c = createCompressor(spec);
  const parts: Buffer[] = [];
  let pos = layout.blocksStart;
  for (const word of layout.blockSizes) {
    if (word === 0) {
      parts.push(Buffer.alloc(BS));
      continue;
    }
    const size = word & ~BLOCK_UNCOMPRESSED;
    const stored = run.image.subarray(pos, pos + size);
    pos += size;
    parts.push(word & BLOCK_UNCOMPRESSED ? stored : Buffer.from(await c.decompress(stored, BS)));
  }
  if (layout.fragmentIndex >= 0) {
    const e = run.fragments[layout.fragmentIndex]!;
    const size = e.size & ~BLOCK_UNCOMPRESSED;
    const stored = run.image.subarray(e.start, e.start + size);
    const block = e.size & BLOCK_UNCOMPRESSED ? stored : Buffer.from(await c.decompress(stored, BS));
    parts.push(block.subarray(layout.fragmentOffset, layout.fragmentOffset + (layout.fileSize % BS)));
  }
  return Buffer.concat(parts);
}

const files: Buffer[] = [
  text(3 * BS + 100, 1),
  Buffer.alloc(0),
  randomBytes(2 * BS + 5), // incompressible: raw blocks
  Buffer.concat([text(BS, 2), Buffer.alloc(2 * BS), text(10, 3)]), // a sparse hole in the middle
  text(100, 4),
  text(3 * BS + 100, 1), // duplicate of file 0
  text(BS - 1, 5),
  text(BS * 2, 6), // exact multiple: no tail
  text(100, 4), // duplicate of a fragment-only file
];

test("every file reads back from its layout; sparse, raw and duplicates are handled", async () => {
  const run = await writeAll(files, 2);
  for (let i = 0; i < files.length; i++)
    assert.ok((await readBack(run, run.layouts[i]!)).equals(files[i]!), `file ${i}`);
  assert.deepEqual(run.layouts[1], {
    fileSize: 0,
    blocksStart: 0,
    blockSizes: [],
    fragmentIndex: -1,
    fragmentOffset: 0,
    sparseBytes: 0,
  });
  assert.ok(
    run.layouts[2]!.blockSizes.every((w) => (w & BLOCK_UNCOMPRESSED) !== 0),
    "random blocks stored raw",
  );
  assert.deepEqual(run.layouts[3]!.blockSizes.slice(1), [0, 0]);
  assert.equal(run.layouts[3]!.sparseBytes, 2 * BS);
  assert.equal(run.ids[5], run.ids[0], "duplicate reuses the layout");
  assert.equal(run.ids[8], run.ids[4]);
  assert.deepEqual(run.layouts[5], run.layouts[0]);
  assert.deepEqual(
    run.ids.filter((id, i) => run.ids.indexOf(id) === i),
    [0, 1, 2, 3, 4, 5, 6],
    "new files get the next id; a duplicate's own id is not kept, so ids stay dense",
  );
  assert.equal(run.layouts[7]!.fragmentIndex, -1);
  // Everything is stored between the placeholder and the end: no gaps, no leftovers.
  const storedBytes =
    run.layouts
      .filter((_, i) => run.ids.indexOf(run.ids[i]!) === i)
      .flatMap((l) => l.blockSizes)
      .reduce((a, w) => a + (w & ~BLOCK_UNCOMPRESSED), 0) +
    run.fragments.reduce((a, e) => a + (e.size & ~BLOCK_UNCOMPRESSED), 0);
  assert.equal(run.image.length, 96 + storedBytes);
});

test("dedupe rewinds the sink: the image equals one written without the duplicate", async () => {
  const withDup = await writeAll([files[0]!, files[0]!, files[4]!], 2);
  const without = await writeAll([files[0]!, files[4]!], 2);
  assert.ok(withDup.image.equals(without.image));
  const noDedupe = await writeAll([files[0]!, files[0]!, files[4]!], 2, false);
  assert.ok(noDedupe.image.length > withDup.image.length);
});

test("the same input gives byte-identical output with 0, 1, 2 and 4 workers", async () => {
  const many = [...files, ...Array.from({ length: 20 }, (_, i) => text(i * 1500 + 7, 100 + i))];
  const hashes = new Set<string>();
  for (const workers of [0, 1, 2, 4]) {
    const run = await writeAll(many, workers);
    hashes.add(
      createHash("sha256")
        .update(run.image)
        .update(JSON.stringify([run.layouts, run.fragments]))
        .digest("hex"),
    );
  }
  assert.equal(hashes.size, 1);
});

test("a content stream of the wrong length is a typed error, and the writer stays usable", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-dw-"));
  try {
    const sink = await OutputSink.open(join(dir, "img"));
    const dw = new DataWriter({ sink, spec, workers: 1 });
    try {
      await assert.rejects(
        dw.writeFile(3 * BS, chunked(text(2 * BS, 9))),
        (e: unknown) => e instanceof ContentSizeMismatchError && e.code === "E_SQUASHFS_CONTENT_SIZE",
      );
      assert.equal(sink.position, 0, "blocks of the short file were dropped");
      await assert.rejects(dw.writeFile(10, chunked(text(11, 9))), ContentSizeMismatchError);
      await assert.rejects(dw.writeFile(0, text(1, 9)), ContentSizeMismatchError);
      const id = await dw.writeFile(BS + 1, text(BS + 1, 9));
      await dw.finish();
      assert.equal(id, 0, "the failed files left no layout behind");
      const layout = dw.layout(id);
      assert.equal(layout.blocksStart, 0);
      assert.equal(layout.blockSizes.length, 1);
    } finally {
      await dw.close();
      await sink.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
