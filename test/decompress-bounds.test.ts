/**
 * Decompression bombs and hostile zstd frames: refused before the decoder allocates, with a coded
 * error, in each path a compressed stream enters by (openDecompressed, layers, tar input).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { MAX_ZSTD_WINDOW, openDecompressed } from "../src/decompress.js";
import { decompressLayer } from "../src/oci/layer-stream.js";
import { readTar } from "../src/layers/index.js";
import { GvmconvError } from "../src/errors.js";
import {
  TAR_END,
  gzipZeros,
  zstdRawFrame,
  zstdRleFrame,
  zstdSingleSegmentFrame,
  zstdSkippableFrame,
} from "./support/hostile-streams.js";
import { rawTarHeader } from "./support/tar.js";
import { runCli } from "./support/cli-run.js";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

async function drain(stream: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function isLimit(err: unknown): boolean {
  assert.ok(err instanceof GvmconvError, `expected a GvmconvError, got ${String(err)}`);
  assert.equal(err.code, "E_TAR_COMPRESSION_LIMIT");
  assert.match(err.message, /window/);
  return true;
}

test("the zstd window bound is 8 MiB", () => {
  assert.equal(MAX_ZSTD_WINDOW, 8 * 1024 * 1024);
});

test("a zstd frame declaring a 1 GiB window is refused before fzstd allocates it, within a second", async () => {
  // Before the guard: 1 GiB resident and 0.13 s per block (this frame: 13 s).
  const bomb = zstdRleFrame({ windowLog: 30, blocks: 100 });
  const started = Date.now();
  const rssBefore = process.memoryUsage().rss;
  const { stream } = await openDecompressed(Readable.from([bomb]));
  await assert.rejects(drain(stream), isLimit);
  assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
  assert.ok(process.memoryUsage().rss - rssBefore < 256 * 1024 * 1024, "no window-sized allocation");
});

test("a single-segment zstd frame claiming 1.5 GiB of content is refused (its window is its size)", async () => {
  const bomb = zstdSingleSegmentFrame(1536n * 1024n * 1024n, Buffer.from("tiny"));
  const { stream } = await openDecompressed(Readable.from([bomb]));
  await assert.rejects(drain(stream), isLimit);
});

test("a window exactly at the bound decodes; one step past it is refused", async () => {
  // 2^23 = 8 MiB; the next descriptor (exponent 13, mantissa 1) is 9 MiB.
  const ok = zstdRleFrame({ windowLog: 23, blocks: 3, byte: 7 });
  const { stream } = await openDecompressed(Readable.from([ok]));
  const out = await readAll(stream);
  assert.equal(out.length, 3 * 128 * 1024);
  assert.ok(out.every((b) => b === 7));
  const past = Buffer.from(ok);
  past[5] = (13 << 3) | 1;
  const { stream: refused } = await openDecompressed(Readable.from([past]));
  await assert.rejects(drain(refused), isLimit);
});

test("the bound applies to every frame, not just the first; skippable frames pass", async () => {
  const good = zstdRleFrame({ windowLog: 20, blocks: 1, byte: 1 });
  const bad = zstdRleFrame({ windowLog: 31, blocks: 1 });
  const { stream } = await openDecompressed(
    Readable.from([Buffer.concat([good, zstdSkippableFrame(100), good, bad])]),
  );
  await assert.rejects(drain(stream), isLimit);
  const { stream: fine } = await openDecompressed(
    Readable.from([Buffer.concat([good, zstdSkippableFrame(3), good])]),
  );
  assert.equal(await drain(fine), 2 * 128 * 1024);
});

test("the frame guard reads headers split across chunks: a stream fed byte by byte decodes the same", async () => {
  const data = Buffer.from("layer bytes ".repeat(5000));
  const frames = Buffer.concat([zstdRawFrame(data), zstdSkippableFrame(5), zstdRawFrame(data)]);
  const bytes = [...frames].map((b) => Buffer.from([b]));
  const { stream } = await openDecompressed(Readable.from(bytes));
  assert.deepEqual(await readAll(stream), Buffer.concat([data, data]));
  const bomb = zstdRleFrame({ windowLog: 33, blocks: 2 });
  const { stream: refused } = await openDecompressed(Readable.from([...bomb].map((b) => Buffer.from([b]))));
  await assert.rejects(drain(refused), isLimit);
});

test("a layer whose zstd window is past the bound fails with E_TAR_COMPRESSION_LIMIT naming the layer", async () => {
  const out = await decompressLayer(Readable.from([zstdRleFrame({ windowLog: 30, blocks: 4 })]), {
    layerIndex: 2,
  });
  await assert.rejects(drain(out), (err: unknown) => isLimit(err) && /layer 2/.test((err as Error).message));
});

test("a tar input (gvmconv squashfs -) compressed with a hostile zstd window is refused by the tar reader", async () => {
  const entries = readTar(Readable.from([zstdRleFrame({ windowLog: 31, blocks: 4 })]));
  await assert.rejects(async () => {
    for await (const e of entries) void e;
  }, isLimit);
});

test("a zstd bomb within the window bound is stopped by the layer ratio cap (E_OCI_TOO_LARGE)", async () => {
  // 1 MiB window, 2,100 RLE blocks: 8.4 KB in, 275 MB out, past the 256 MiB allowance at 32768:1.
  const out = await decompressLayer(Readable.from([zstdRleFrame({ windowLog: 20, blocks: 2100 })]), {
    layerIndex: 0,
  });
  await assert.rejects(drain(out), (err: unknown) => {
    assert.ok(err instanceof GvmconvError && err.code === "E_OCI_TOO_LARGE", String(err));
    assert.match(err.message, /layer 0 decompresses to more than 1100× its compressed size/);
    assert.match(err.hint, /recompress it with gzip/);
    return true;
  });
});

test("a gzip 1000:1 bomb of zeros streams through in bounded memory: a big tar of zeros is legitimate", async () => {
  // deflate cannot exceed ~1032:1, below the 1100:1 cap: a layer of a 512 MiB zero file is a
  // real layer (a preallocated disk image). What must hold is that nothing buffers it.
  const size = 512 * 1024 * 1024;
  const head = rawTarHeader("zeros", "0", size);
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const out = await decompressLayer(gzipZeros(size, head, TAR_END), { layerIndex: 0 });
  let files = 0;
  let bytes = 0;
  for await (const e of readTar(out)) {
    files++;
    if (e.type === "file") {
      for await (const c of e.content as AsyncIterable<Uint8Array>) {
        bytes += c.length;
        peak = Math.max(peak, process.memoryUsage().rss);
      }
    }
  }
  assert.equal(files, 1);
  assert.equal(bytes, size);
  assert.ok(peak - rssBefore < 128 * 1024 * 1024, `resident memory grew by ${(peak - rssBefore) >> 20} MiB`);
});

test("a 64 KiB chunk of RLE blocks (2 GiB of output) is decoded a block at a time, as the reader reads", async () => {
  // Before: fzstd decoded the whole chunk in one call; a 500 MB bomb peaked at 641 MiB resident.
  const bomb = zstdRleFrame({ windowLog: 17, blocks: 16_000 });
  assert.ok(bomb.length < 65_536);
  const rssBefore = process.memoryUsage().rss;
  const { stream } = await openDecompressed(Readable.from([bomb]));
  let read = 0;
  for await (const chunk of stream) {
    read += (chunk as Buffer).length;
    assert.ok(stream.readableLength <= 1024 * 1024, `${stream.readableLength} bytes decoded ahead`);
    if (read >= 64 * 1024 * 1024) break;
  }
  assert.ok(
    process.memoryUsage().rss - rssBefore < 256 * 1024 * 1024,
    "not the whole chunk's output at once",
  );
});

test("an xz or bzip2 tar (no OCI media type; not sniffed) is refused as E_TAR_FORMAT, not read as plain", async () => {
  for (const magic of [Buffer.from("fd377a585a00", "hex"), Buffer.from("BZh91AY&SY")]) {
    const bytes = Buffer.concat([magic, Buffer.alloc(2048, 0x5a)]);
    await assert.rejects(
      async () => {
        for await (const e of readTar(Readable.from([bytes]))) void e;
      },
      { code: "E_TAR_FORMAT" },
    );
  }
});

test("gvmconv squashfs on a zstd tar with a 1 GiB window, from a file and from standard input: one coded line, exit 1, nothing written", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-zstd-bomb-"));
  try {
    const input = join(dir, "bomb.tar.zst");
    const bomb = zstdRleFrame({ windowLog: 30, blocks: 1000 });
    await writeFile(input, bomb);
    for (const [source, stdin] of [
      [input, undefined],
      ["-", Readable.from([bomb])],
    ] as const) {
      const r = await runCli(["squashfs", source, "-o", join(dir, "out.sqfs")], {
        env: { HOME: dir },
        ...(stdin !== undefined ? { stdin } : {}),
      });
      assert.equal(r.code, 1, r.stderr);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("gvmconv: error"));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(
        errors[0] ?? "",
        /^gvmconv: error \[E_TAR_COMPRESSION_LIMIT\]: a zstd frame declares a 1024 MiB window; at most 8 MiB is decoded — recompress it with zstd level 19 or lower/,
      );
      assert.deepEqual(await readdir(dir), ["bomb.tar.zst"]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
