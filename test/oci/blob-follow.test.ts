/**
 * BlobCache.follow on its own, with a download whose body the test feeds by hand: a follower gets
 * the bytes written so far while the body is still open, its stream ends only after the digest
 * check, a wrong blob fails it (and is not admitted), a resumed partial's bytes come at once, and
 * a follower that comes after the download reads the admitted cache file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { BlobCache, type BlobOpener } from "../../src/oci/blob-cache.js";
import { DigestMismatchError } from "../../src/oci/errors.js";
import { tmp } from "./helpers.js";
import { outcomeWithin } from "../support/outcome.js";

const digestOf = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Reads `stream` until it has `n` bytes (or ends); the stream stays open for more. */
async function readAtLeast(stream: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  for await (const c of stream.iterator({ destroyOnReturn: false })) {
    parts.push(c as Buffer);
    got += (c as Buffer).length;
    if (got >= n) break;
  }
  return Buffer.concat(parts);
}

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A download whose body the test writes; `offsets` records each request's start. */
function handFed(): { body: PassThrough; offsets: number[]; opener: BlobOpener } {
  const body = new PassThrough();
  const offsets: number[] = [];
  return {
    body,
    offsets,
    opener: async (offset) => {
      offsets.push(offset);
      return await Promise.resolve({ body, start: offset, length: undefined });
    },
  };
}

test("a follower reads the bytes written so far while the download is open, and ends after the digest check", async () => {
  const dir = await tmp("gvmconv-follow-");
  try {
    const bytes = randomBytes(3 << 20);
    const digest = digestOf(bytes);
    const cache = new BlobCache(dir);
    const feed = handFed();
    let ingested = false;
    const ingest = cache.ingest(digest, feed.opener, { size: bytes.length }).then(() => (ingested = true));
    const follower = cache.follow(digest, bytes.length, ingest);
    feed.body.write(bytes.subarray(0, 1 << 20));
    const head = await readAtLeast(follower, 1 << 20);
    assert.ok(head.equals(bytes.subarray(0, head.length)), "the first MiB, as sent");
    assert.equal(ingested, false, "read before the download finished");
    assert.equal(await cache.has(digest), false, "not admitted yet");
    const rest = drain(follower);
    feed.body.end(bytes.subarray(1 << 20));
    assert.ok(Buffer.concat([head, await rest]).equals(bytes), "every byte once, in order");
    assert.equal(ingested, true, "the stream ended only after the download was verified");
    // A second reader after the download (a hard link's re-read) gets the admitted file.
    assert.ok((await drain(cache.follow(digest, bytes.length, ingest))).equals(bytes));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a wrong blob fails the follower with the digest error once every byte was read; nothing is admitted", async () => {
  const dir = await tmp("gvmconv-follow-");
  try {
    const bytes = randomBytes(1 << 20);
    const digest = digestOf(bytes);
    const wrong = Buffer.from(bytes);
    wrong.writeUInt8(wrong.readUInt8(5000) ^ 0xff, 5000);
    const cache = new BlobCache(dir);
    const feed = handFed();
    const ingest = cache.ingest(digest, feed.opener, { size: bytes.length });
    ingest.catch(() => undefined);
    const follower = cache.follow(digest, bytes.length, ingest);
    feed.body.end(wrong);
    await assert.rejects(drain(follower), DigestMismatchError);
    await assert.rejects(ingest, DigestMismatchError);
    assert.equal(await cache.has(digest), false);
    assert.deepEqual(await readdir(join(dir, "partial")), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a follower destroyed while it waits closes at once, with its file handle, whatever the download does", async () => {
  const dir = await tmp("gvmconv-follow-");
  const closed = async (stream: Readable): Promise<void> => {
    const close = once(stream, "close");
    stream.destroy();
    assert.equal(
      await outcomeWithin(close, 2000, () => "closed", String),
      "closed",
      "'close' after destroy()",
    );
  };
  try {
    const bytes = randomBytes(2 << 20);
    const digest = digestOf(bytes);
    const cache = new BlobCache(dir);
    // Before any download exists, with a `settled` that never settles (the merge gave up on a
    // layer whose fetch is still queued).
    const early = cache.follow(digest, bytes.length, new Promise<void>(() => undefined));
    early.on("error", () => undefined);
    early.resume();
    await closed(early);
    // Mid-download, waiting for bytes that are not coming yet, its partial file open.
    const feed = handFed();
    const ingest = cache.ingest(digest, feed.opener, { size: bytes.length });
    const mid = cache.follow(digest, bytes.length, ingest);
    mid.on("error", () => undefined);
    feed.body.write(bytes.subarray(0, 1 << 20));
    await readAtLeast(mid, 1 << 20);
    const fds = async (): Promise<number> => (await readdir("/proc/self/fd")).length;
    const before = await fds();
    await closed(mid);
    assert.equal(await fds(), before - 1, "the follower's file handle was closed, not left to the GC");
    // The download itself goes on, and the blob is admitted.
    feed.body.end(bytes.subarray(1 << 20));
    await ingest;
    assert.equal(await cache.has(digest, bytes.length), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a follower whose open is overtaken by the download's failure still gets the failure", async () => {
  // The follower looks at the download, then awaits an open of its file; when the download fails
  // in that await (file removed, followers told), the follower must not wait for a change that
  // has already come. The open is held until the failure is out, which a loaded machine does by
  // chance (the e2e fault test hung one run in three that way under load).
  const dir = await tmp("gvmconv-follow-");
  const fsp = createRequire(import.meta.url)("node:fs/promises") as typeof import("node:fs/promises");
  const realOpen = fsp.open;
  try {
    const cache = new BlobCache(dir);
    const bytes = randomBytes(100);
    const digest = digestOf(bytes);
    const wrong = Buffer.from(bytes);
    wrong.writeUInt8(wrong.readUInt8(50) ^ 0xff, 50);
    const feed = handFed();
    const ingest = cache.ingest(digest, feed.opener, { size: bytes.length });
    const failed = ingest.then(
      () => undefined,
      () => undefined,
    );
    const partial = join(dir, "partial", `sha256-${digest.slice(7)}`);
    while (!existsSync(partial)) await new Promise((r) => setImmediate(r));
    let held = 0;
    fsp.open = async (...args: Parameters<typeof realOpen>) => {
      if (args[0] === partial && args[1] === "r") {
        held++;
        feed.body.end(wrong);
        await failed;
      }
      return await realOpen(...args);
    };
    syncBuiltinESMExports();
    const follower = cache.follow(digest, bytes.length, ingest);
    const outcome = await outcomeWithin(
      drain(follower),
      5000,
      () => "ended",
      (err) => (err instanceof DigestMismatchError ? "digest error" : String(err)),
    );
    follower.destroy();
    assert.equal(held, 1, "the follower's open was the one held");
    assert.equal(outcome, "digest error");
  } finally {
    fsp.open = realOpen;
    syncBuiltinESMExports();
    await rm(dir, { recursive: true, force: true });
  }
});

test("a resumed partial's bytes reach the follower before the server sends any", async () => {
  const dir = await tmp("gvmconv-follow-");
  try {
    const bytes = randomBytes(2 << 20);
    const digest = digestOf(bytes);
    const kept = 1_500_000;
    await mkdir(join(dir, "partial"), { recursive: true });
    await writeFile(join(dir, "partial", `sha256-${digest.slice(7)}`), bytes.subarray(0, kept));
    const cache = new BlobCache(dir);
    const feed = handFed();
    const ingest = cache.ingest(digest, feed.opener, { size: bytes.length });
    const follower = cache.follow(digest, bytes.length, ingest);
    const head = await readAtLeast(follower, kept);
    assert.ok(head.equals(bytes.subarray(0, kept)), "the partial's bytes");
    assert.deepEqual(feed.offsets, [kept], "resumed with Range from the partial's length");
    const rest = drain(follower);
    feed.body.end(bytes.subarray(kept));
    assert.ok(Buffer.concat([head, await rest]).equals(bytes));
    await ingest;
    assert.equal(await cache.has(digest, bytes.length), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a follower that finds no download reads the cached blob, re-verified when an earlier run cached it", async () => {
  const dir = await tmp("gvmconv-follow-");
  try {
    const bytes = randomBytes(500_000);
    const digest = digestOf(bytes);
    await new BlobCache(dir).putBytes(digest, bytes);
    const altered = Buffer.from(bytes);
    altered.writeUInt8(altered.readUInt8(77) ^ 0xff, 77);
    await writeFile(new BlobCache(dir).path(digest), altered);
    await assert.rejects(
      drain(new BlobCache(dir).follow(digest, bytes.length, Promise.resolve())),
      /cached blob/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
