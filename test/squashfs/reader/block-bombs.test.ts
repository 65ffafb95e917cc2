/**
 * Decompression bombs inside a SquashFS image: a data block that inflates past the block size, a
 * metadata block that inflates past 8 KiB, in every compression the reader decodes (gzip, xz, lzo,
 * lz4). The reader hands each decoder the most it may produce, so a bomb fails at that bound:
 * E_SQUASHFS_DECOMPRESS, quickly, without allocating what the bomb would inflate to.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SquashfsReader,
  createCompressor,
  writeSquashfs,
  type CompressionName,
  type Entry,
} from "../../../src/squashfs/index.js";
import { prng } from "../../support/prng.js";

const BLOCK = 4096;
/** 256 KiB of zeros: what each data-block bomb inflates to, 64× the block size. */
const BOMB_BYTES = 256 * 1024;

/** One 4 KiB block: 3,500 random bytes then zeros, so it compresses to ~3.5 KB, room for a bomb. */
function blockContent(): Buffer {
  const rand = prng(7);
  const b = Buffer.alloc(BLOCK);
  for (let i = 0; i < 3500; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

async function image(dir: string, compression: CompressionName): Promise<string> {
  const path = join(dir, `${compression}.sqfs`);
  const content = blockContent();
  const attrs = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
  const entries: Entry[] = [
    { type: "directory", path: "", attrs: { ...attrs, mode: 0o755 } },
    { type: "file", path: "f", attrs, size: BLOCK, content },
  ];
  // Files with scattered mtimes and modes, so the inode table compresses to more than a bomb.
  const rand = prng(11);
  for (let i = 0; i < 200; i++) {
    const mtime = Math.floor(rand() * 2 ** 32);
    const mode = Math.floor(rand() * 0o7777);
    entries.push({
      type: "symlink",
      path: `l${i}`,
      attrs: { mode, uid: 0, gid: 0, mtime },
      target: `t${mtime}`,
    });
  }
  await writeSquashfs(entries, path, { compression, blockSize: BLOCK, workers: 0 });
  return path;
}

async function readAll(reader: SquashfsReader, path: string): Promise<number> {
  let n = 0;
  for await (const c of reader.readFile(path)) n += c.length;
  return n;
}

/** Refused by the decoder's output bound (the block size, or 8 KiB), not by some later check. */
const refusedAt =
  (bound: number) =>
  (err: unknown): boolean => {
    assert.equal((err as { code?: string }).code, "E_SQUASHFS_DECOMPRESS", String(err));
    assert.match(String((err as { cause?: unknown }).cause), new RegExp(`${bound} bytes`));
    return true;
  };

for (const compression of ["gzip", "xz", "lzo", "lz4"] as const) {
  test(`${compression}: a data block inflating to 256 KiB where 4 KiB belongs is refused at the bound`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "gvmconv-block-bomb-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = await image(dir, compression);
    const bytes = await readFile(path);
    const compressor = createCompressor({
      name: compression,
      level: compression === "lz4" ? 1 : 6,
      blockSize: BLOCK,
    });
    const stored = compressor.compressSync(blockContent());
    const at = bytes.indexOf(Buffer.from(stored));
    assert.ok(at > 0, "the data block is where the writer put it");
    const bomb = compressor.compressSync(Buffer.alloc(BOMB_BYTES));
    assert.ok(bomb.length <= stored.length, `bomb ${bomb.length} fits in ${stored.length}`);
    // The bomb in the block's place; the rest of the block's stored bytes stay as they were.
    Buffer.from(bomb).copy(bytes, at);
    await writeFile(path, bytes);

    const reader = await SquashfsReader.open(path);
    try {
      const started = Date.now();
      const heapBefore = process.memoryUsage().arrayBuffers;
      await assert.rejects(readAll(reader, "f"), refusedAt(BLOCK));
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
      assert.ok(process.memoryUsage().arrayBuffers - heapBefore < BOMB_BYTES / 2, "no bomb-sized buffer");
    } finally {
      await reader.close();
    }
  });

  test(`${compression}: a metadata block inflating past 8 KiB is refused`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "gvmconv-meta-bomb-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = await image(dir, compression);
    const bytes = await readFile(path);
    const inodeTable = Number(bytes.readBigUInt64LE(64));
    const dirTable = Number(bytes.readBigUInt64LE(72));
    const compressor = createCompressor({
      name: compression,
      level: compression === "lz4" ? 1 : 6,
      blockSize: BLOCK,
    });
    // 64 KiB of zeros, 8× a metadata block: its compressed form is smaller than this table.
    const bomb = Buffer.from(compressor.compressSync(Buffer.alloc(64 * 1024)));
    assert.ok(2 + bomb.length <= dirTable - inodeTable, `bomb ${bomb.length} fits in the inode table`);
    bytes.writeUInt16LE(bomb.length, inodeTable); // compressed (bit 15 clear), stored size
    bomb.copy(bytes, inodeTable + 2);
    await writeFile(path, bytes);
    await assert.rejects(async () => {
      const reader = await SquashfsReader.open(path);
      try {
        await reader.stat("f");
      } finally {
        await reader.close();
      }
    }, refusedAt(8192));
  });
}
