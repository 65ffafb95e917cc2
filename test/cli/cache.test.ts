/**
 * `gvmconv cache ls` and `cache prune` over a real cache directory filled through BlobCache:
 * sizes and totals, last-use ordering, --older-than against set atimes, --all, --json, an empty
 * cache, and usage errors (exit 2, one line). Then the block cache, filled by real conversions
 * with GVMCONV_BLOCK_CACHE=1: counted as on disk, pruned by --older-than (mtimes) and --all,
 * beside a running conversion too, and the images byte-identical throughout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BlobCache } from "../../src/oci/blob-cache.js";
import { parseDuration } from "../../src/index.js";
import { buildImage, hermeticEnv, tmp, writeLayout } from "../oci/helpers.js";
import { prng } from "../support/prng.js";
import { runCli } from "../support/cli-run.js";
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

// The block cache (GVMCONV_BLOCK_CACHE), filled by real conversions of an OCI layout.

const BLOCK = 131072;

/** Text from a seeded PRNG: compressible, different for every seed. */
function text(seed: number, n: number): string {
  const next = prng(seed);
  const words = ["golem", "layer", "block", "cache", "inode", "provider", "squash", "\n"];
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = `${words[Math.floor(next() * words.length)]}${Math.floor(next() * 100)} `;
    parts.push(w);
    len += w.length;
  }
  return parts.join("").slice(0, n);
}

/**
 * An OCI layout of one image: eight files that share their first three blocks (so a run hits
 * entries it stored itself moments before) and differ after, and one of eight blocks.
 */
async function blockImage(work: string): Promise<string> {
  const common = text(1, 3 * BLOCK);
  const files: Record<string, string> = { "big.txt": text(2, 8 * BLOCK) };
  for (let i = 0; i < 8; i++) files[`shared/${i}.txt`] = common + text(10 + i, BLOCK + 1000 * i);
  const image = await buildImage({ layers: [{ files, compression: "gzip" }] });
  const layout = join(work, "layout");
  await writeLayout(layout, [{ kind: "image", ref: "t", image }]);
  return `oci:${layout}:t`;
}

/** Every entry file on disk under `dir`, with its size (writers' temporaries left out). */
async function onDisk(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const sub of await readdir(dir).catch(() => [])) {
    for (const name of await readdir(join(dir, sub))) {
      if (name.startsWith(".tmp-")) continue;
      out.set(join(dir, sub, name), (await stat(join(dir, sub, name))).size);
    }
  }
  return out;
}

const sum = (m: Map<string, number>): number => [...m.values()].reduce((n, s) => n + s, 0);
const sha = async (path: string): Promise<string> =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");

interface BlockWork {
  work: string;
  root: string;
  blocks: string;
  source: string;
  env: NodeJS.ProcessEnv;
  /** The image converted without the block cache: what every cached conversion must equal. */
  plain: string;
  convert: (name: string, extra?: string[], env?: NodeJS.ProcessEnv) => Promise<string>;
}

async function blockWork(): Promise<BlockWork> {
  const work = await tmp("gvmconv-cache-blocks-");
  const root = join(work, "cache");
  const source = await blockImage(work);
  const base = hermeticEnv(work, { XDG_CACHE_HOME: join(work, "xdg-cache") });
  const env: NodeJS.ProcessEnv = { ...base, GVMCONV_BLOCK_CACHE: "1" };
  const convert = async (name: string, extra: string[] = [], e = env): Promise<string> => {
    const out = join(work, name);
    const r = await runCli([source, "-o", out, "--cache-dir", root, "--workers", "2", "-q", ...extra], {
      env: e,
    });
    assert.equal(r.code, 0, r.stderr);
    return out;
  };
  const plain = await sha(await convert("plain.gvmi", [], base));
  return { work, root, blocks: join(root, "blocks"), source, env, plain, convert };
}

test("a conversion with GVMCONV_BLOCK_CACHE=1 fills blocks/ in --cache-dir; cache ls counts what is on disk", async () => {
  const w = await blockWork();
  try {
    assert.equal((await onDisk(w.blocks)).size, 0, "no block cache without GVMCONV_BLOCK_CACHE");
    assert.equal(await sha(await w.convert("cold.gvmi")), w.plain, "cold: the uncached bytes");
    const disk = await onDisk(w.blocks);
    // 8 + 8 × (3 shared + 1 or 2 own) full blocks, the shared ones stored once, and fragment blocks.
    assert.ok(disk.size >= 8 + 3 + 8, `${disk.size} entries`);
    assert.equal(await sha(await w.convert("warm.gvmi")), w.plain, "warm: the uncached bytes");
    assert.deepEqual(await onDisk(w.blocks), disk, "a warm run adds nothing");

    const ls = await runCli(["cache", "ls", "--cache-dir", w.root, "--json"], {
      env: { ...w.env, GVMCONV_BLOCK_CACHE_MAX: "64" },
    });
    assert.equal(ls.code, 0, ls.stderr);
    const doc = JSON.parse(ls.stdout) as { blockCache: Record<string, unknown>; blobs: unknown[] };
    assert.deepEqual(doc.blockCache, {
      dir: w.blocks,
      enabled: true,
      entries: disk.size,
      bytes: sum(disk),
      maxBytes: 64 * 1024 * 1024,
    });

    // Off in this environment: still found and counted, with the default bound.
    const off = await runCli(["cache", "ls", "--cache-dir", w.root, "--json"], {
      env: { ...w.env, GVMCONV_BLOCK_CACHE: "0" },
    });
    assert.deepEqual((JSON.parse(off.stdout) as { blockCache: unknown }).blockCache, {
      dir: w.blocks,
      enabled: false,
      entries: disk.size,
      bytes: sum(disk),
      maxBytes: 4 * 1024 ** 3,
    });

    const human = await runCli(["cache", "ls", "--cache-dir", w.root], { env: w.env });
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      new RegExp(
        `^block cache: ${disk.size} entries, ${sum(disk)} bytes \\(.*\\), bound 4\\.0 GiB, in ${w.blocks}$`,
        "m",
      ),
    );
    const humanOff = await runCli(["cache", "ls", "--cache-dir", w.root], { env: {} });
    assert.match(humanOff.stdout, /^block cache: .*; off here \(GVMCONV_BLOCK_CACHE unset or 0\)$/m);

    // GVMCONV_BLOCK_CACHE naming a directory: convert and cache ls both use it.
    const own = join(w.work, "own-blocks");
    const ownEnv = { ...w.env, GVMCONV_BLOCK_CACHE: own };
    assert.equal(await sha(await w.convert("own.gvmi", [], ownEnv)), w.plain);
    const ownDisk = await onDisk(own);
    assert.equal(ownDisk.size, disk.size);
    const ownLs = await runCli(["cache", "ls", "--cache-dir", w.root, "--json"], { env: ownEnv });
    const ownDoc = JSON.parse(ownLs.stdout) as {
      blockCache: { dir: string; entries: number; bytes: number };
    };
    assert.deepEqual(
      [ownDoc.blockCache.dir, ownDoc.blockCache.entries, ownDoc.blockCache.bytes],
      [own, ownDisk.size, sum(ownDisk)],
    );
  } finally {
    await rm(w.work, { recursive: true, force: true });
  }
});

test("cache prune --older-than removes block entries unused for longer (mtime), --all the rest; images stay the same bytes", async () => {
  const w = await blockWork();
  try {
    await w.convert("cold.gvmi");
    const disk = await onDisk(w.blocks);
    const paths = [...disk.keys()].sort();
    // Half the entries last used 10 days ago, the rest 1 day ago.
    const aged = new Set(paths.filter((_, i) => i % 2 === 0));
    for (const p of paths) {
      const when = new Date(Date.now() - (aged.has(p) ? 10 : 1) * DAY);
      await utimes(p, when, when);
    }
    // What is not an entry stays, whatever the option: a foreign file, a live writer's temporary.
    const foreign = join(w.blocks, "ab", "notes.txt");
    const liveTemp = join(w.blocks, "ab", `.tmp-1-${"0".repeat(12)}`);
    const deadTemp = join(w.blocks, "ab", `.tmp-2-${"0".repeat(12)}`);
    await mkdir(join(w.blocks, "ab"), { recursive: true });
    for (const f of [foreign, liveTemp, deadTemp]) await writeFile(f, "x");
    await utimes(deadTemp, new Date(Date.now() - 2 * 3600e3), new Date(Date.now() - 2 * 3600e3));

    const r = await runCli(["cache", "prune", "--older-than", "7d", "--cache-dir", w.root, "--json"], {
      env: w.env,
    });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      freedBytes: number;
      removed: { size: number }[];
      blockCache: Record<string, unknown>;
    };
    const agedBytes = [...aged].reduce((n, p) => n + (disk.get(p) ?? 0), 0);
    const left = await onDisk(w.blocks);
    assert.deepEqual(
      [...left.keys()].filter((p) => !p.endsWith("notes.txt")).sort(),
      paths.filter((p) => !aged.has(p)),
      "exactly the aged entries went",
    );
    assert.deepEqual(doc.blockCache, {
      dir: w.blocks,
      removedEntries: aged.size,
      removedBytes: agedBytes,
      keptEntries: paths.length - aged.size,
      keptBytes: sum(disk) - agedBytes,
    });
    assert.equal(doc.freedBytes, agedBytes + doc.removed.reduce((n, b) => n + b.size, 0));
    assert.ok(existsSync(foreign) && existsSync(liveTemp), "non-entries and a live temporary stay");
    assert.ok(!existsSync(deadTemp), "a crashed writer's temporary (over an hour old) goes");

    // The pruned cache still gives the same image, and the run stores what was pruned again.
    assert.equal(await sha(await w.convert("after-age.gvmi")), w.plain);
    assert.deepEqual(
      [...(await onDisk(w.blocks)).keys()].filter((p) => !p.endsWith("notes.txt")).sort(),
      paths,
    );

    const all = await runCli(["cache", "prune", "--all", "--cache-dir", w.root], { env: w.env });
    assert.equal(all.code, 0, all.stderr);
    assert.match(
      all.stdout,
      new RegExp(
        `^block cache: ${paths.length} entries removed \\(\\d+ bytes\\), 0 kept \\(0 bytes\\) in ${w.blocks}$`,
        "m",
      ),
    );
    assert.deepEqual([...(await onDisk(w.blocks)).keys()], [foreign]);
    const ls = await runCli(["cache", "ls", "--cache-dir", w.root, "--json"], { env: w.env });
    const after = (JSON.parse(ls.stdout) as { blockCache: { entries: number; bytes: number } }).blockCache;
    assert.deepEqual([after.entries, after.bytes], [0, 0]);
    assert.equal(await sha(await w.convert("after-all.gvmi")), w.plain);
    assert.equal((await onDisk(w.blocks)).size, paths.length + 1);
  } finally {
    await rm(w.work, { recursive: true, force: true });
  }
});

test("cache prune --all while a conversion reads and writes the block cache: the image is still the uncached bytes", async () => {
  const w = await blockWork();
  try {
    await w.convert("warm-up.gvmi");
    let removedDuring = 0;
    let prunes = 0;
    let done = false;
    const converting = w.convert("raced.gvmi").finally(() => (done = true));
    while (!done) {
      const r = await runCli(["cache", "prune", "--all", "--cache-dir", w.root, "--json"], { env: w.env });
      assert.equal(r.code, 0, r.stderr);
      const removed = (JSON.parse(r.stdout) as { blockCache: { removedEntries: number } }).blockCache
        .removedEntries;
      // The first prune empties the warm cache; later ones remove what the running conversion stored.
      if (prunes++ > 0) removedDuring += removed;
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(await sha(await converting), w.plain);
    assert.ok(removedDuring > 0, `prunes removed entries the conversion had just stored (${prunes} prunes)`);
  } finally {
    await rm(w.work, { recursive: true, force: true });
  }
});

test("the block cache's secret: made private under XDG_STATE_HOME; where it cannot be, one warning and the same bytes", async () => {
  const w = await blockWork();
  try {
    const key = join(w.work, "xdg-state", "gvmconv", "block-cache.key");
    const run = async (name: string, env: NodeJS.ProcessEnv) => {
      const out = join(w.work, name);
      const r = await runCli([w.source, "-o", out, "--cache-dir", w.root, "--workers", "2", "-q"], { env });
      assert.equal(r.code, 0, r.stderr);
      return { stderr: r.stderr, sha: await sha(out) };
    };
    const cold = await run("cold.gvmi", w.env);
    assert.equal(cold.sha, w.plain);
    assert.doesNotMatch(cold.stderr, /W_SQUASHFS_BLOCK_CACHE_UNTRUSTED/);
    assert.match(await readFile(key, "utf8"), /^[0-9a-f]{64}\n$/);
    assert.equal((await stat(key)).mode & 0o777, 0o600);

    // A file where the state directory should be: no secret can be made there.
    const blocked = join(w.work, "not-a-dir");
    await writeFile(blocked, "");
    const untrusted = await run("untrusted.gvmi", { ...w.env, XDG_STATE_HOME: blocked });
    assert.equal(untrusted.sha, w.plain, "warm without the secret: the same bytes");
    const lines = untrusted.stderr.split("\n").filter((l) => l.includes("W_SQUASHFS_BLOCK_CACHE_UNTRUSTED"));
    assert.equal(lines.length, 1, untrusted.stderr);
    assert.match(lines[0]!, /not-a-dir\/gvmconv\/block-cache\.key.*decompressed to check it/);
  } finally {
    await rm(w.work, { recursive: true, force: true });
  }
});
