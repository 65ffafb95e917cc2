/**
 * The blob cache on its own: what it downloaded and verified it reads back without hashing again;
 * a blob cached by an earlier run is hashed on the way out, and a file altered on disk since then
 * fails the stream instead of feeding an image.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { rm, writeFile } from "node:fs/promises";
import { BlobCache } from "../../src/oci/blob-cache.js";
import { tmp } from "./helpers.js";

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test("a blob verified by this cache reads back as is; one from an earlier run is re-verified", async () => {
  const dir = await tmp("gvmconv-blob-cache-");
  try {
    const bytes = randomBytes(300_000);
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const cache = new BlobCache(dir);
    await cache.ingest(
      digest,
      async () => ({ body: Readable.from([bytes]), start: 0, length: bytes.length }),
      { size: bytes.length },
    );
    assert.ok((await drain(cache.openRead(digest, bytes.length))).equals(bytes));

    // A later run (a new instance) over the same directory, with the file altered meanwhile.
    const altered = Buffer.from(bytes);
    altered.writeUInt8(altered.readUInt8(1234) ^ 0xff, 1234);
    await writeFile(cache.path(digest), altered);
    const later = new BlobCache(dir);
    await assert.rejects(drain(later.openRead(digest, bytes.length)), /cached blob/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
