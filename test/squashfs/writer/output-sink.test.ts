import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import {
  OutputSink,
  SINK_BATCH_SIZE,
  SINK_WRITES_IN_FLIGHT,
} from "../../../src/squashfs/writer/output-sink.js";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-sink-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("appends of every size land in order, position tracks them", () =>
  withDir(async (dir) => {
    const path = join(dir, "img");
    const sink = await OutputSink.open(path);
    const expected: Buffer[] = [];
    for (const size of [
      1,
      7,
      96,
      4096,
      SINK_BATCH_SIZE - 5000,
      131072,
      SINK_BATCH_SIZE + 3,
      2,
      SINK_BATCH_SIZE,
    ]) {
      const b = randomBytes(size);
      expected.push(b);
      await sink.write(b);
    }
    const all = Buffer.concat(expected);
    assert.equal(sink.position, all.length);
    await sink.close();
    assert.ok((await readFile(path)).equals(all));
  }));

test("unawaited writes still reach the file in call order", () =>
  withDir(async (dir) => {
    const path = join(dir, "img");
    const sink = await OutputSink.open(path);
    const parts = Array.from({ length: 40 }, (_, i) => randomBytes(50_000 + i * 1000));
    const pending = parts.map((p) => sink.write(p));
    await Promise.all(pending);
    await sink.close();
    assert.ok((await readFile(path)).equals(Buffer.concat(parts)));
  }));

test("writeAt patches bytes both on disk and still in the batch", () =>
  withDir(async (dir) => {
    const path = join(dir, "img");
    const sink = await OutputSink.open(path);
    const a = Buffer.alloc(SINK_BATCH_SIZE + 100, 0xaa);
    await sink.write(a);
    await sink.write(Buffer.alloc(50, 0xbb));
    // Straddles the flushed/batched boundary.
    await sink.writeAt(Buffer.alloc(40, 0x11), SINK_BATCH_SIZE + 80);
    await sink.writeAt(Buffer.alloc(8, 0x22), 0);
    await assert.rejects(sink.writeAt(Buffer.alloc(8), sink.position - 4), RangeError);
    await sink.close();
    const got = await readFile(path);
    const want = Buffer.concat([a, Buffer.alloc(50, 0xbb)]);
    want.fill(0x11, SINK_BATCH_SIZE + 80, SINK_BATCH_SIZE + 120);
    want.fill(0x22, 0, 8);
    assert.ok(got.equals(want));
  }));

test("truncate rewinds within the batch and past flushed data", () =>
  withDir(async (dir) => {
    const path = join(dir, "img");
    const sink = await OutputSink.open(path);
    const head = randomBytes(1000);
    await sink.write(head);
    await sink.write(randomBytes(500));
    await sink.truncate(1000);
    assert.equal(sink.position, 1000);
    await sink.write(randomBytes(3 * SINK_BATCH_SIZE));
    await sink.truncate(1000);
    const tail = randomBytes(10);
    await sink.write(tail);
    await sink.close();
    assert.ok((await readFile(path)).equals(Buffer.concat([head, tail])));
  }));

test("abort closes and deletes the partial image", () =>
  withDir(async (dir) => {
    const path = join(dir, "img");
    const sink = await OutputSink.open(path);
    await sink.write(randomBytes(3 * SINK_BATCH_SIZE));
    await sink.abort();
    await assert.rejects(stat(path), { code: "ENOENT" });
    await assert.rejects(sink.write(Buffer.alloc(1)));
  }));

test("a full batch returns before its disk write while few are in flight; a failed write still reaches the caller", async () => {
  // /dev/full: every write fails with ENOSPC. (Never abort() here: it unlinks the path.)
  const sink = await OutputSink.open("/dev/full");
  // Handed to the disk and not awaited: resolves although that write is failing.
  await sink.write(Buffer.alloc(SINK_BATCH_SIZE, 1));
  await assert.rejects(
    (async () => {
      for (let i = 0; i < 2 * SINK_WRITES_IN_FLIGHT; i++) await sink.write(Buffer.alloc(SINK_BATCH_SIZE, 2));
    })(),
    { code: "ENOSPC" },
  );
  await assert.rejects(sink.write(Buffer.alloc(10)), { code: "ENOSPC" }, "sticky");
  await assert.rejects(sink.close(), { code: "ENOSPC" });
});
