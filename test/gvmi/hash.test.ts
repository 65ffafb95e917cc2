import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sha3Hasher, sha3File } from "../../src/gvmi/hash.js";

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
