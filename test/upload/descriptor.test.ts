import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  chooseChunkSize,
  createDescriptor,
  decodeDescriptor,
  encodeDescriptor,
  loadOrCreateDescriptor,
} from "../../src/upload/descriptor.js";
import { DescriptorError } from "../../src/upload/errors.js";

const MiB = 1024 * 1024;

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-descr-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// "hello" in chunks of 2: hashes from python3 hashlib (sha3_224, sha256).
const HELLO_SHA3 = "b87f88c72702fff1748e58b87e9141a42c0dbedc29a78cb0d4a5cd81";
const CHUNKS = [
  "372f7e2fd2d01ce2a1d71dc072acbba4c6fd25a1087cd7f153f4ec0ce37e1ede",
  "f9e012396be65db022bd11de9308a9b40e04e492cc4ee8636c09fb83df4aa27b",
  "65c74c15a686187bb6bbf9958f494fc6b80068034a659a9ad44991b08c58f2d2",
];
const HELLO_DESCRIPTOR =
  "0000000333333334" + "0000000000000005" + "0000000000000002" + HELLO_SHA3 + CHUNKS.join("");

test("descriptor bytes: big-endian version, size, chunk size, SHA3-224, per-chunk SHA-256", () => {
  const bytes = encodeDescriptor({ size: 5, chunkSize: 2, sha3: HELLO_SHA3, chunkHashes: CHUNKS });
  assert.equal(Buffer.from(bytes).toString("hex"), HELLO_DESCRIPTOR);
});

test("createDescriptor over a file yields those bytes, and decode round-trips with positions", async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, "f"), "hello");
    const d = await createDescriptor(join(dir, "f"), { chunkSize: 2 });
    assert.equal(Buffer.from(d.bytes).toString("hex"), HELLO_DESCRIPTOR);
    assert.equal(d.sha256, createHash("sha256").update(Buffer.from(HELLO_DESCRIPTOR, "hex")).digest("hex"));
    assert.deepEqual(
      d.chunks.map((c) => [c.no, c.pos, c.len]),
      [
        [0, 0, 2],
        [1, 2, 2],
        [2, 4, 1],
      ],
    );
    assert.deepEqual(decodeDescriptor(d.bytes), d);
  });
});

test("chunk boundaries that do not align with read sizes hash correctly", async () => {
  await withTempDir(async (dir) => {
    const data = randomBytes(3 * MiB + 5);
    await writeFile(join(dir, "f"), data);
    const chunkSize = 1_000_003;
    const d = await createDescriptor(join(dir, "f"), { chunkSize });
    assert.equal(d.chunks.length, 4);
    for (const c of d.chunks) {
      assert.equal(
        c.sha256,
        createHash("sha256")
          .update(data.subarray(c.pos, c.pos + c.len))
          .digest("hex"),
      );
    }
    assert.equal(d.sha3, createHash("sha3-224").update(data).digest("hex"));
  });
});

test("empty file: no chunks", async () => {
  await withTempDir(async (dir) => {
    await writeFile(join(dir, "f"), "");
    const d = await createDescriptor(join(dir, "f"), { chunkSize: 10 });
    assert.equal(d.chunks.length, 0);
    assert.equal(d.bytes.length, 52);
  });
});

test("chunk size follows gvmkit-build's table", () => {
  assert.equal(chooseChunkSize(0), 2 * MiB);
  assert.equal(chooseChunkSize(200 * MiB), 2 * MiB);
  assert.equal(chooseChunkSize(200 * MiB + 1), 5 * MiB);
  assert.equal(chooseChunkSize(600 * MiB), 10 * MiB);
  assert.equal(chooseChunkSize(1500 * MiB), 20 * MiB);
  assert.equal(chooseChunkSize(3 * 1024 * MiB), 50 * MiB);
  assert.equal(chooseChunkSize(6 * 1024 * MiB), 100 * MiB);
  assert.ok(Math.ceil((200 * 1024 * MiB) / chooseChunkSize(200 * 1024 * MiB)) <= 1000);
});

test("malformed descriptors are typed errors", () => {
  const good = Buffer.from(HELLO_DESCRIPTOR, "hex");
  assert.throws(() => decodeDescriptor(good.subarray(0, 40)), DescriptorError);
  assert.throws(() => decodeDescriptor(good.subarray(0, good.length - 1)), DescriptorError);
  const badVersion = Buffer.from(good);
  badVersion[7] = 0;
  assert.throws(() => decodeDescriptor(badVersion), DescriptorError);
});

test("<image>.descr.bin is reused when fresh with the same chunk size, rebuilt otherwise", async () => {
  await withTempDir(async (dir) => {
    const image = join(dir, "x.gvmi");
    await writeFile(image, randomBytes(5000));
    const first = await loadOrCreateDescriptor(image, { chunkSize: 1000 });
    assert.equal(first.reused, false);
    assert.deepEqual(await readFile(image + ".descr.bin"), Buffer.from(first.bytes));
    assert.equal((await loadOrCreateDescriptor(image, { chunkSize: 1000 })).reused, true);
    assert.equal((await loadOrCreateDescriptor(image, { chunkSize: 2000 })).reused, false);
    // An image newer than its descriptor invalidates it.
    await writeFile(image, randomBytes(5000));
    const future = new Date(Date.now() + 60_000);
    await utimes(image, future, future);
    const again = await loadOrCreateDescriptor(image, { chunkSize: 2000 });
    assert.equal(again.reused, false);
    assert.notEqual(again.sha3, first.sha3);
  });
});
