/**
 * `gvmconv cache ls` and `cache prune` over a real cache directory filled through BlobCache:
 * sizes and totals, last-use ordering, --older-than against set atimes, --all, --json, an empty
 * cache, and usage errors (exit 2, one line).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BlobCache } from "../../src/oci/blob-cache.js";
import { parseDuration } from "../../src/index.js";
import { tmp } from "../oci/helpers.js";
import { run } from "./image-fixture.js";

const DAY = 86400e3;

async function filled(): Promise<{ dir: string; blobs: { digest: string; size: number }[] }> {
  const dir = await tmp("gvmconv-cache-cli-");
  const cache = new BlobCache(dir);
  const blobs = [];
  // Sizes 1000, 2000, 3000; last used 10, 3 and 0 days ago.
  for (const [size, daysAgo] of [
    [1000, 10],
    [2000, 3],
    [3000, 0],
  ] as const) {
    const bytes = randomBytes(size);
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    await cache.putBytes(digest, bytes);
    const when = new Date(Date.now() - daysAgo * DAY);
    await utimes(cache.path(digest), when, when);
    blobs.push({ digest, size });
  }
  return { dir, blobs };
}

test("cache ls lists every blob with size and last use, least recent first, and the total", async () => {
  const { dir, blobs } = await filled();
  try {
    const r = await run(["cache", "ls", "--cache-dir", dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.toString().trim().split("\n");
    assert.equal(lines.length, 4);
    blobs.forEach((b, i) => {
      const [digest, size, when] = (lines[i] ?? "").trim().split(/\s+/);
      assert.equal(digest, b.digest);
      assert.equal(Number(size), b.size);
      assert.ok(!Number.isNaN(Date.parse(when ?? "")));
    });
    assert.match(lines[3] ?? "", new RegExp(`^total: 3 blobs, 6000 bytes .* in ${dir}$`));

    const j = await run(["cache", "ls", "--cache-dir", dir, "--json"]);
    const doc = JSON.parse(j.stdout.toString()) as {
      totalBytes: number;
      blobs: { digest: string; size: number; lastUsed: string }[];
    };
    assert.equal(doc.totalBytes, 6000);
    assert.deepEqual(
      doc.blobs.map((b) => [b.digest, b.size]),
      blobs.map((b) => [b.digest, b.size]),
    );
    const age = Date.now() - Date.parse(doc.blobs[0]?.lastUsed ?? "");
    assert.ok(Math.abs(age - 10 * DAY) < 60e3, `last use is the atime set: ${age} ms ago`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("cache ls shows interrupted downloads apart from the blobs", async () => {
  const dir = await tmp("gvmconv-cache-cli-");
  try {
    await mkdir(join(dir, "partial"), { recursive: true });
    await writeFile(join(dir, "partial", `sha256-${"a".repeat(64)}`), Buffer.alloc(1234));
    const r = await run(["cache", "ls", "--cache-dir", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /^partial .*sha256-a{64}\s+1234\s/m);
    assert.match(r.stdout.toString(), /total: 0 blobs, 0 bytes .*; 1 partial downloads, 1234 bytes/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("an empty or missing cache: one clear line, exit 0", async () => {
  const dir = await tmp("gvmconv-cache-cli-");
  try {
    for (const d of [dir, join(dir, "never-created")]) {
      const r = await run(["cache", "ls", "--cache-dir", d]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), `cache ${d} is empty\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("cache prune --older-than removes only blobs unused for longer, and says what it freed", async () => {
  const { dir, blobs } = await filled();
  try {
    const r = await run(["cache", "prune", "--older-than", "7d", "--cache-dir", dir]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.toString();
    assert.match(out, new RegExp(`^removed ${blobs[0]?.digest} \\(1000 bytes\\)$`, "m"));
    assert.match(out, /^freed 1000 bytes .*: 1 blobs removed, 2 kept \(5000 bytes\)/m);
    const cache = new BlobCache(dir);
    assert.equal(await cache.has(blobs[0]?.digest ?? ""), false);
    assert.equal(await cache.has(blobs[1]?.digest ?? ""), true);

    const j = await run(["cache", "prune", "--older-than", "2d", "--cache-dir", dir, "--json"]);
    const doc = JSON.parse(j.stdout.toString()) as { freedBytes: number; removed: { digest: string }[] };
    assert.equal(doc.freedBytes, 2000);
    assert.deepEqual(
      doc.removed.map((b) => b.digest),
      [blobs[1]?.digest],
    );
    assert.equal(await cache.has(blobs[2]?.digest ?? ""), true, "the blob used today stays");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("cache prune --all empties the cache, idle partials included", async () => {
  const { dir } = await filled();
  try {
    await mkdir(join(dir, "partial"), { recursive: true });
    await writeFile(join(dir, "partial", `sha256-${"b".repeat(64)}`), Buffer.alloc(500));
    const r = await run(["cache", "prune", "--all", "--cache-dir", dir, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout.toString()) as { freedBytes: number; keptBlobs: number };
    assert.equal(doc.freedBytes, 6500);
    assert.equal(doc.keptBlobs, 0);
    assert.deepEqual(await readdir(join(dir, "blobs", "sha256")), []);
    assert.deepEqual(await readdir(join(dir, "partial")), []);
    const ls = await run(["cache", "ls", "--cache-dir", dir]);
    assert.equal(ls.stdout.toString(), `cache ${dir} is empty\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("cache usage errors: one line, exit 2", async () => {
  const dir = await tmp("gvmconv-cache-cli-");
  try {
    for (const argv of [
      ["cache", "prune"],
      ["cache", "prune", "--all", "--older-than", "1d"],
      ["cache", "prune", "--older-than", "7 days"],
      ["cache", "ls", "--all"],
      ["cache", "clean"],
    ]) {
      const r = await run([...argv, "--cache-dir", dir]);
      assert.equal(r.code, 2, `${argv.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^gvmconv: error \[E_USAGE\]: [^\n]+\n$/);
      assert.equal(r.stdout.length, 0);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("durations: units summed, bad ones refused", () => {
  assert.equal(parseDuration("12h"), 12 * 3600e3);
  assert.equal(parseDuration("1d12h"), 36 * 3600e3);
  assert.equal(parseDuration("90m"), 90 * 60e3);
  assert.equal(parseDuration("2w"), 14 * DAY);
  for (const bad of ["", "7", "d", "-1d", "7 d", "1y"])
    assert.throws(() => parseDuration(bad), /not a duration/);
});
