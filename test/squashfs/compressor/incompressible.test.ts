/**
 * The incompressible-block check: what it skips, what it must not skip, and what the writer does
 * with it on and off (checked with unsquashfs, which reads each block as its size word says).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { looksIncompressible, MIN_CHECKED_BLOCK } from "../../../src/squashfs/compressor/incompressible.js";
import { GzipCompressor } from "../../../src/squashfs/compressor/gzip.js";
import { prng } from "../../support/prng.js";
import { writeSquashfs } from "../../../src/squashfs/writer/writer.js";
import type { Entry } from "../../../src/squashfs/entry.js";

const text = (n: number): Buffer =>
  Buffer.from("golem image layer block of text, compressible\n".repeat(Math.ceil(n / 46))).subarray(0, n);

test("random bytes are skipped; text, zeros and small blocks are not", () => {
  assert.equal(looksIncompressible(randomBytes(131072)), true);
  assert.equal(looksIncompressible(randomBytes(1 << 20)), true);
  assert.equal(looksIncompressible(randomBytes(MIN_CHECKED_BLOCK)), true);
  assert.equal(
    looksIncompressible(randomBytes(MIN_CHECKED_BLOCK - 1)),
    false,
    "below the size where the estimate is reliable",
  );
  assert.equal(looksIncompressible(text(131072)), false);
  assert.equal(looksIncompressible(Buffer.alloc(131072)), false);
});

test("text hidden between the samples is found by the whole-block pass", () => {
  // Samples sit at multiples of (131072 - 512) / 7 = 18651; bytes 19200..27392 are in none of them.
  const block = randomBytes(131072);
  text(8192).copy(block, 19200);
  assert.equal(looksIncompressible(block), false);
  // And gzip does shrink such a block, so skipping it would have cost bytes.
  assert.ok(new GzipCompressor(6, null).compressSync(block).length < block.length - 4096);
});

test("random-looking bytes that repeat are compressed: a periodic table, a chunk seen twice", () => {
  // Every byte value equally often (a flat histogram), but period 256: deflate shrinks it ~100x.
  assert.equal(
    looksIncompressible(Buffer.from(Array.from({ length: 131072 }, (_, i) => (i * 7) & 0xff))),
    false,
  );
  const twice = randomBytes(131072);
  twice.copy(twice, 70_000, 10_000, 12_048); // 2 KiB seen again 60,000 bytes later (xz's window is the block)
  assert.equal(looksIncompressible(twice), false);
});

test("repeats are counted once each, wherever they sit: many short ones add up, one at the very end counts", () => {
  // Two repeats of 600 bytes: each alone is under the 1/128 (1,024 bytes) limit, together over it.
  const two = randomBytes(131072);
  two.copy(two, 40_000, 1_000, 1_600);
  assert.equal(looksIncompressible(two), true, "one 600-byte repeat (the block is random but for it)");
  two.copy(two, 90_000, 5_000, 5_600);
  assert.equal(looksIncompressible(two), false, "two 600-byte repeats");
  // A repeat that runs to the last byte of the block, and one that starts at an odd offset.
  const tail = randomBytes(131072);
  tail.copy(tail, 131072 - 1_500, 3, 1_503);
  assert.equal(looksIncompressible(tail), false);
  // One repeated 600-byte chunk seen 3 times is counted twice (its second and third sight).
  const thrice = randomBytes(131072);
  thrice.copy(thrice, 50_000, 20_001, 20_601);
  thrice.copy(thrice, 100_003, 20_001, 20_601);
  assert.equal(looksIncompressible(thrice), false);
});

/** 128 KiB of seeded noise: the same block on every run, so a miss reproduces from its seed. */
function noiseBlock(seed: number): Buffer {
  const next = prng(seed);
  const b = Buffer.alloc(131072);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(Math.floor(next() * 2 ** 32), i);
  return b;
}

test("a repeat of the block's first kilobyte at its very end is found whatever the bytes (300 seeds)", () => {
  // The earlier finder remembered every position in a table a quarter that size: the first
  // kilobyte's positions were mostly overwritten by the time the end came, and 2 of 3 such
  // blocks were stored raw although deflate shrinks them.
  const missed: number[] = [];
  for (let seed = 1; seed <= 300; seed++) {
    const head = noiseBlock(seed);
    head.copy(head, 131072 - 1100, 0, 1100);
    const tail = noiseBlock(seed + 1000);
    tail.copy(tail, 131072 - 1500, 3, 1503);
    if (looksIncompressible(head) || looksIncompressible(tail)) missed.push(seed);
  }
  assert.deepEqual(missed, []);
  assert.equal(looksIncompressible(noiseBlock(7)), true, "noise alone is still skipped");
});

test("the writer stores a skipped block raw; skipIncompressible: false gets back the few bytes a small repeat is worth", async () => {
  const work = await mkdtemp(join(tmpdir(), "gvmconv-incompressible-"));
  try {
    // Random, with one 1,000-byte repeat: under the 1/128 of the block that sends it to the
    // compressor, yet deflate would save ~950 bytes on it.
    const almost = randomBytes(131072);
    almost.copy(almost, 5000, 0, 1000);
    const random = randomBytes(262144);
    const a = { mode: 0o644, uid: 0, gid: 0, mtime: 0 };
    const entries = (): Entry[] => [
      { type: "directory", path: "", attrs: { ...a, mode: 0o755 } },
      { type: "file", path: "almost", attrs: a, size: almost.length, content: almost },
      { type: "file", path: "random", attrs: a, size: random.length, content: random },
    ];
    const sizes = new Map<boolean, number>();
    for (const skip of [true, false]) {
      const image = join(work, `skip-${skip}.sqfs`);
      await writeSquashfs(entries(), image, { workers: 2, skipIncompressible: skip, padding: 1 });
      sizes.set(skip, (await stat(image)).size);
      const dest = join(work, `x-${skip}`);
      const r = spawnSync("unsquashfs", ["-q", "-n", "-d", dest, image], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.ok((await readFile(join(dest, "almost"))).equals(almost));
      assert.ok((await readFile(join(dest, "random"))).equals(random));
    }
    const saved = sizes.get(true)! - sizes.get(false)!;
    assert.ok(saved > 500 && saved < 1024, `always compressing saves only the repeat: ${saved} bytes`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
