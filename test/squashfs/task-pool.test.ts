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

// Regression: the worker copied pooled results with Buffer#slice, which is a view, not a copy, and
// replied with offset 0 — small xz outputs (Buffer.concat from Node's shared pool) came back as
// the wrong bytes and made corrupt fragment blocks.
test("small compressed results from a shared buffer pool come back intact from workers", async () => {
  for (const name of ["xz", "gzip"] as const) {
    const small = { name, level: 6, blockSize: 131072 };
    const pools = [new InProcessPool(small), new WorkerPool(small, 2)];
    const c = createCompressor(small);
    try {
      for (let i = 0; i < 20; i++) {
        const block = Buffer.from(`block ${i} `.repeat(500));
        const outs = await Promise.all(pools.map((p) => p.run({ data: Buffer.from(block) })));
        assert.ok(outs[1]!.bytes.length < 4096, "result small enough to come from the pool");
        assert.ok(Buffer.from(outs[0]!.bytes).equals(Buffer.from(outs[1]!.bytes)), `${name} block ${i}`);
        assert.ok(Buffer.from(await c.decompress(outs[1]!.bytes, 131072)).equals(block));
      }
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
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
