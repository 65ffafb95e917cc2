import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sha3Hasher, hashFileRange, sha3File } from "../../src/gvmi/hash.js";

test("SHA3-224 of 'abc' is the FIPS 202 example value", () => {
  assert.equal(
    new Sha3Hasher().update(new TextEncoder().encode("abc")).digest(),
    "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf",
  );
});

test("sha3File agrees with the independent `sha3sum -a 224` over a multi-MiB file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-hash-"));
  try {
    const path = join(dir, "blob");
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(path, data);
    const expected = execFileSync("sha3sum", ["-a", "224", path]).toString().split(/\s+/)[0];
    assert.deepEqual(await sha3File(path), { sha3: expected, size: data.length });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("incremental updates equal one-shot hashing; digest is idempotent; no updates after", () => {
  const data = randomBytes(1000);
  const a = new Sha3Hasher().update(data.subarray(0, 333)).update(data.subarray(333));
  const b = new Sha3Hasher().update(data);
  assert.equal(a.digest(), b.digest());
  assert.equal(a.digest(), b.digest());
  assert.equal(a.size, 1000);
  assert.throws(() => a.update(data));
});

test("hashFileRange hashes exactly [0, length) across buffer turns, and fails on a file shorter than length", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-hash-"));
  try {
    const path = join(dir, "blob");
    const data = randomBytes(5 * 1024 * 1024 + 3);
    await writeFile(path, data);
    const handle = await open(path, "r");
    try {
      // Lengths around the 1 MiB read size: 0, under one buffer, exactly two, an odd prefix, all.
      for (const length of [0, 1000, 2 * 1024 * 1024, 3 * 1024 * 1024 + 1, data.length]) {
        const hasher = new Sha3Hasher();
        await hashFileRange(handle, length, hasher);
        assert.equal(hasher.size, length);
        assert.equal(
          hasher.digest(),
          new Sha3Hasher().update(data.subarray(0, length)).digest(),
          `length ${length}`,
        );
      }
      await assert.rejects(
        hashFileRange(handle, data.length + 10, new Sha3Hasher()),
        /file ended after 5242883 of 5242893 bytes/,
      );
    } finally {
      await handle.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
