import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { InProcessPool, WorkerPool, createTaskPool } from "../../src/squashfs/task-pool.js";
import { createCompressor } from "../../src/squashfs/compressor/index.js";

const spec = { name: "gzip" as const, level: 6, blockSize: 131072 };
const text = Buffer.from("hello squashfs ".repeat(10000)).subarray(0, 131072);

test("worker and in-process pools give the same bytes, and decodable ones", async () => {
  const pools = [new InProcessPool(spec), new WorkerPool(spec, 2)];
  const c = createCompressor(spec);
  try {
    const outs = await Promise.all(pools.map((p) => p.run({ data: Buffer.from(text) })));
    for (const out of outs) {
      assert.equal(out.compressed, true);
      assert.ok(Buffer.from(await c.decompress(out.bytes, 131072)).equals(text));
    }
    assert.ok(Buffer.from(outs[0]!.bytes).equals(Buffer.from(outs[1]!.bytes)));
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
});

test("incompressible (random) blocks come back raw, with the same bytes", async () => {
  const pool = createTaskPool(spec, 2);
  try {
    const data = randomBytes(131072);
    const copy = Buffer.from(data);
    const out = await pool.run({ data });
    assert.equal(out.compressed, false);
    assert.ok(Buffer.from(out.bytes).equals(copy));
  } finally {
    await pool.close();
  }
});

test("the block's ArrayBuffer is transferred to the worker, not copied", async () => {
  const pool = new WorkerPool(spec, 1);
  try {
    const data = new Uint8Array(text);
    const p = pool.run({ data });
    assert.equal(data.buffer.byteLength, 0, "detached after postMessage");
    await p;
    // A view into a bigger buffer is copied instead (never transfer memory we do not own).
    const big = new Uint8Array(2 * 131072);
    await pool.run({ data: big.subarray(0, 131072) });
    assert.equal(big.buffer.byteLength, 2 * 131072);
  } finally {
    await pool.close();
  }
});

test("an idle pool does not keep the process alive, and close() rejects later runs", async () => {
  const pool = new WorkerPool(spec, 2);
  await pool.run({ data: Buffer.from(text) });
  await pool.close();
  await assert.rejects(pool.run({ data: Buffer.from(text) }));
});
