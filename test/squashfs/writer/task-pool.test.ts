import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { InProcessPool, WorkerPool, createTaskPool } from "../../../src/squashfs/writer/task-pool.js";
import { createCompressor } from "../../../src/squashfs/compressor/index.js";

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

// Regression (CI abort, "terminate called after throwing an instance of 'Napi::Error'"): close()
// used worker.terminate(); a worker terminated while a native addon was initialising (lzma-native,
// then loaded by every worker) made node-addon-api throw in a dying environment and abort the whole
// process. A pool closed at about worker start-up time (a tiny image) hit it 5 runs in 6 of 300.
test("close() lets workers exit by themselves, never terminate()s them", async () => {
  const original = Worker.prototype.terminate;
  let terminated = 0;
  Worker.prototype.terminate = function (this: Worker) {
    terminated++;
    return original.call(this);
  };
  try {
    for (const name of ["gzip", "xz"] as const) {
      const pool = new WorkerPool({ name, level: 6, blockSize: 131072 }, 2);
      const queued = [pool.run({ data: Buffer.from(text) }), pool.run({ data: Buffer.from(text) })];
      const rejected = queued.map((p) => assert.rejects(p, /WorkerPool closed/));
      await pool.close();
      await Promise.all(rejected);
      await assert.rejects(pool.run({ data: Buffer.from(text) }), /run after close/);
    }
  } finally {
    Worker.prototype.terminate = original;
  }
  assert.equal(terminated, 0);
});

test("pools closed at every moment of worker start-up never bring the process down", () => {
  // In a child process, so that an abort is a failed assertion here rather than a dead runner.
  const script = `
    import { WorkerPool } from ${JSON.stringify(new URL("../../../src/squashfs/writer/task-pool.js", import.meta.url).href)};
    for (let i = 0; i < 40; i++) {
      const pool = new WorkerPool({ name: i % 2 ? "xz" : "gzip", level: 6, blockSize: 131072 }, 2);
      await new Promise((r) => setTimeout(r, (i % 20) * 8));
      await pool.close();
    }
    console.log("closed 40 pools");`;
  // A file, not `--input-type=module -e`: workers inherit execArgv, and that flag fails a worker.
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-pool-"));
  const file = join(dir, "close-at-start-up.mjs");
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file], { encoding: "utf8" });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}\n${r.stderr}`);
  assert.match(r.stdout, /closed 40 pools/);
});

test("a worker hands the block back with its result written over the start", async () => {
  const pool = new WorkerPool(spec, 2);
  const c = createCompressor(spec);
  try {
    // A fragment-like block: a 64 KiB view of a block-size buffer the caller gives up entirely.
    const whole = new Uint8Array(131072);
    whole.set(text.subarray(0, 65536));
    const view = whole.subarray(0, 65536);
    const out = await pool.run({ data: view, ownsBuffer: true });
    assert.equal(whole.byteLength, 0, "the whole buffer was transferred, not copied");
    assert.equal(out.compressed, true);
    assert.equal(out.block.buffer.byteLength, 131072, "the whole buffer came back");
    assert.equal(out.bytes.buffer, out.block.buffer, "the result lies in the returned block");
    assert.ok(Buffer.from(await c.decompress(out.bytes, 131072)).equals(text.subarray(0, 65536)));

    // Incompressible: stored raw, the block comes back unchanged.
    const noise = randomBytes(131072);
    const raw = await pool.run({ data: Buffer.from(noise) });
    assert.equal(raw.compressed, false);
    assert.ok(Buffer.from(raw.bytes).equals(noise));
  } finally {
    await pool.close();
  }
});
