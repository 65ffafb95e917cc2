import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { BlockProcessor } from "../../../src/squashfs/writer/block-processor.js";
import { BLOCK_UNCOMPRESSED } from "../../../src/squashfs/format/data-layout.js";
import type { CompressResult, CompressTask, TaskPool } from "../../../src/squashfs/writer/task-pool.js";

/** A pool that "compresses" after a random delay and counts how many tasks run at once. */
class DelayPool implements TaskPool {
  readonly concurrency: number;
  running = 0;
  peak = 0;
  constructor(concurrency: number) {
    this.concurrency = concurrency;
  }
  async run(task: CompressTask): Promise<CompressResult> {
    this.running++;
    this.peak = Math.max(this.peak, this.running);
    await sleep(Math.random() * 8);
    this.running--;
    // Odd first byte: pretend it did not compress.
    if (task.data[0]! % 2 === 1) return { bytes: task.data, compressed: false, block: task.data };
    return { bytes: task.data.subarray(0, 1), compressed: true, block: task.data };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

test("results are consumed strictly in submission order despite random completion order", async () => {
  const pool = new DelayPool(8);
  const bp = new BlockProcessor({ pool, maxBlocks: 16 });
  const seen: number[] = [];
  const words: number[] = [];
  for (let i = 0; i < 200; i++) {
    const data = new Uint8Array(10).fill(i % 256);
    await bp.submit(data, async ({ bytes, sizeWord }) => {
      if (Math.random() < 0.2) await sleep(1);
      seen.push(bytes[0]!);
      words.push(sizeWord);
    });
  }
  await bp.drain();
  assert.deepEqual(
    seen,
    Array.from({ length: 200 }, (_, i) => i % 256),
  );
  for (let i = 0; i < 200; i++) assert.equal(words[i], i % 2 === 1 ? 10 | BLOCK_UNCOMPRESSED : 1);
});

test("the backlog bound is respected (blocks and bytes)", async () => {
  const pool = new DelayPool(16);
  const bp = new BlockProcessor({ pool, maxBlocks: 5 });
  for (let i = 0; i < 100; i++) await bp.submit(new Uint8Array(4), () => sleep(Math.random() * 2));
  await bp.drain();
  assert.equal(bp.peakBlocks, 5);
  assert.ok(pool.peak <= 5, `at most 5 in flight, saw ${pool.peak}`);

  const pool2 = new DelayPool(16);
  const bp2 = new BlockProcessor({ pool: pool2, maxBlocks: 100, maxBytes: 3000 });
  for (let i = 0; i < 50; i++) await bp2.submit(new Uint8Array(1000), () => undefined);
  await bp2.drain();
  assert.ok(pool2.peak <= 3, `at most 3000 bytes in flight, saw ${pool2.peak} blocks`);
});

test("a failing task fails drain() and later submits", async () => {
  const pool: TaskPool = {
    concurrency: 2,
    run: async (t) => {
      if (t.data[0] === 3) throw new Error("boom");
      return { bytes: t.data, compressed: true, block: t.data };
    },
    close: async () => undefined,
  };
  const bp = new BlockProcessor({ pool, maxBlocks: 2 });
  const consumed: number[] = [];
  for (let i = 0; i < 3; i++)
    await bp.submit(new Uint8Array([i]), ({ bytes }) => void consumed.push(bytes[0]!));
  await bp.submit(new Uint8Array([3]), () => undefined);
  await assert.rejects(bp.drain(), /boom/);
  await assert.rejects(
    bp.submit(new Uint8Array([4]), () => undefined),
    /boom/,
  );
  assert.deepEqual(consumed, [0, 1, 2]);
});

test("each block's memory is handed back for reuse only after its consumer has finished", async () => {
  const pool = new DelayPool(4);
  const consumed = new Set<number>();
  const recycled: number[] = [];
  const bp = new BlockProcessor({
    pool,
    maxBlocks: 8,
    recycle: (block) => {
      assert.ok(consumed.has(block[0]!), `block ${block[0]} recycled before it was consumed`);
      recycled.push(block[0]!);
    },
  });
  for (let i = 0; i < 50; i++) {
    await bp.submit(new Uint8Array(10).fill(i), async ({ bytes }) => {
      await sleep(Math.random() * 2);
      consumed.add(bytes[0]!);
    });
  }
  await bp.drain();
  assert.deepEqual(
    recycled,
    Array.from({ length: 50 }, (_, i) => i),
  );
});
