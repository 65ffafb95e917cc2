/**
 * The block cache (writer/block-cache.ts): the same image bytes with and without it, cold and
 * warm, whatever the worker count and with two runs at once; an entry is served only when this
 * machine's secret marks it or it decodes to the very block being written (a corrupt, swapped or
 * foreign-marked entry never is otherwise); the key covers every setting; the size bound holds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { deflateSync } from "node:zlib";
import { createCompressor } from "../../../src/squashfs/compressor/index.js";
import {
  BlockCache,
  blockCacheSize,
  evictBlockCache,
  loadBlockCacheSecret,
  pruneBlockCache,
  REFRESH_MS,
} from "../../../src/squashfs/writer/block-cache.js";
import {
  SquashfsReader,
  writeSquashfs,
  type Entry,
  type WriterOptions,
} from "../../../src/squashfs/index.js";
import { prng } from "../../support/prng.js";

const BLOCK = 131072;
const sha = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Text-like and random files, several blocks each, plus small ones for fragments. */
function entries(seed = 1): Entry[] {
  const next = prng(seed);
  const words = ["golem", "layer", "block", "cache", "inode", "\n", "provider", "squash"];
  const text = (n: number): Buffer => {
    const parts: string[] = [];
    let len = 0;
    while (len < n) {
      const w = `${words[Math.floor(next() * words.length)]}${Math.floor(next() * 50)} `;
      parts.push(w);
      len += w.length;
    }
    return Buffer.from(parts.join("")).subarray(0, n);
  };
  const random = (n: number): Buffer =>
    Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
  const attrs = { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 };
  const files: [string, Buffer][] = [
    ["a.txt", text(5 * BLOCK + 1234)],
    ["b.bin", random(2 * BLOCK + 77)],
    ["c.txt", text(3 * BLOCK)],
    ...Array.from({ length: 20 }, (_, i): [string, Buffer] => [`small/${i}`, text(500 + i * 300)]),
  ];
  return files.map(([path, content]) => ({ type: "file", path, attrs, size: content.length, content }));
}

/** Every entry file in the cache directory. */
function cacheFiles(dir: string): string[] {
  const out: string[] = [];
  for (const sub of readdirSync(dir))
    for (const name of readdirSync(join(dir, sub))) out.push(join(dir, sub, name));
  return out;
}

/**
 * Rewrite an entry with a new payload and a valid sum. `mark`: the mark to write (default: the
 * entry's old one, which no longer matches the new sum), so only the content check can let it in.
 */
function rewriteEntry(path: string, payload: Uint8Array, kind = 1, mark?: Buffer): void {
  const entry = readFileSync(path);
  const head = Buffer.concat([entry.subarray(0, 36), Buffer.from([kind])]);
  const sum = createHash("sha256").update(head).update(payload).digest();
  writeFileSync(path, Buffer.concat([head, payload, sum, mark ?? entry.subarray(entry.length - 32)]));
}

function payloadOf(path: string): Buffer {
  const entry = readFileSync(path);
  return entry.subarray(37, entry.length - 64);
}

const SECRET = "5e".repeat(32);

async function build(dir: string, name: string, options: WriterOptions): Promise<string> {
  const out = join(dir, name);
  await writeSquashfs(entries(), out, { mkfsTime: 1, ...options });
  return out;
}

for (const writer of [
  { compression: "gzip" },
  { compression: "gzip", gzipBackend: "zlib" },
  { compression: "xz" },
] as WriterOptions[]) {
  test(`${JSON.stringify(writer)}: the same bytes without the cache, cold and warm, with 0 and 2 workers, with and without a secret`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "gvmconv-bcache-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const plain = sha(await build(dir, "plain.img", { ...writer, workers: 2 }));
    for (const secret of [undefined, SECRET]) {
      const blockCache = { dir: join(dir, "cache"), maxBytes: 1 << 30, ...(secret ? { secret } : {}) };
      for (const workers of [0, 2]) {
        rmSync(blockCache.dir, { recursive: true, force: true });
        const coldOut = join(dir, "cold.img");
        const cold = await writeSquashfs(entries(), coldOut, { mkfsTime: 1, ...writer, workers, blockCache });
        assert.equal(sha(coldOut), plain, "cold");
        // 5 + 2 + 3 full blocks and at least one fragment block.
        const stored = cacheFiles(blockCache.dir).length;
        assert.ok(stored >= 11, "every block stored");
        assert.deepEqual(cold.blockCache, { hits: 0, misses: stored });
        const warmOut = join(dir, "warm.img");
        const warm = await writeSquashfs(entries(), warmOut, { mkfsTime: 1, ...writer, workers, blockCache });
        assert.equal(sha(warmOut), plain, "warm");
        assert.deepEqual(warm.blockCache, { hits: stored, misses: 0 });
      }
    }
  });
}

test("an entry is served only when it decodes to the block: corrupt and swapped entries are refused and replaced", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-bcache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const blockCache = { dir: join(dir, "cache"), maxBytes: 1 << 30 };
  const plain = sha(await build(dir, "plain.img", { workers: 2 }));
  await build(dir, "cold.img", { workers: 2, blockCache });
  const files = cacheFiles(blockCache.dir);
  const compressed = files.filter((f) => readFileSync(f)[36] === 1);
  assert.ok(compressed.length >= 8);

  // 1. A flipped payload byte, checksum recomputed: the deflate stream no longer decodes to the block.
  for (const f of compressed) {
    const p = Buffer.from(payloadOf(f));
    p[p.length >> 1]! ^= 0x55;
    rewriteEntry(f, p);
  }
  assert.equal(sha(await build(dir, "corrupt.img", { workers: 2, blockCache })), plain);
  // The refused entries were stored again, whole.
  for (const f of compressed)
    assert.equal(createHash("sha256").update(payloadOf(f)).digest("hex").length, 64);
  assert.equal(sha(await build(dir, "healed.img", { workers: 2, blockCache })), plain);

  // 2. Two entries swapped: valid streams of another block under each key.
  const [x, y] = compressed as [string, string];
  const px = payloadOf(x);
  const py = payloadOf(y);
  rewriteEntry(x, py);
  rewriteEntry(y, px);
  assert.equal(sha(await build(dir, "swapped.img", { workers: 0, blockCache })), plain);

  // 3. Truncated and garbage files.
  writeFileSync(compressed[2]!, readFileSync(compressed[2]!).subarray(0, 40));
  writeFileSync(compressed[3]!, "not an entry");
  assert.equal(sha(await build(dir, "garbage.img", { workers: 2, blockCache })), plain);
});

test("the cache is really read: a valid foreign encoding of the same block is served, and the image still reads back", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-bcache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const blockCache = { dir: join(dir, "cache"), maxBytes: 1 << 30 };
  const plain = await build(dir, "plain.img", { workers: 2 });
  await build(dir, "cold.img", { workers: 2, blockCache });
  const compressor = createCompressor({ name: "gzip", level: 6, blockSize: BLOCK });
  let replaced = 0;
  for (const f of cacheFiles(blockCache.dir)) {
    if (readFileSync(f)[36] !== 1) continue;
    const raw = compressor.decompressSync(payloadOf(f), BLOCK);
    // zlib level 1: the same content, bytes our default encoder would not write.
    const foreign = deflateSync(raw, { level: 1 });
    if (foreign.length >= raw.length) continue;
    rewriteEntry(f, foreign);
    replaced++;
  }
  assert.ok(replaced > 0);
  const served = await build(dir, "served.img", { workers: 2, blockCache });
  assert.notEqual(sha(served), sha(plain), "the planted entries were used");
  const a = await SquashfsReader.open(plain);
  const b = await SquashfsReader.open(served);
  try {
    for (const e of entries()) {
      if (e.type !== "file") continue;
      const read = async (r: SquashfsReader): Promise<Buffer> => {
        const parts: Uint8Array[] = [];
        for await (const c of r.readFile(e.path)) parts.push(c);
        return Buffer.concat(parts);
      };
      assert.ok((await read(b)).equals(await read(a)), `${e.path}: same content`);
    }
  } finally {
    await a.close();
    await b.close();
  }
});

test("the key covers compressor, encoder, level, block size and the incompressible check", () => {
  const data = Buffer.alloc(BLOCK, 7);
  const key = (spec: Parameters<typeof createCompressor>[0]): string =>
    new BlockCache({ dir: "/nonexistent", maxBytes: 1 }, spec, createCompressor(spec))
      .key(data)
      .toString("hex");
  const base = { name: "gzip", level: 6, blockSize: BLOCK } as const;
  const keys = [
    key(base),
    key({ ...base, level: 9 }),
    key({ ...base, gzipBackend: "zlib" }),
    key({ ...base, blockSize: 2 * BLOCK }),
    key({ ...base, skipIncompressible: false }),
    key({ ...base, name: "xz" }),
  ];
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(key(base), key({ ...base }), "deterministic");
});

test("eviction keeps the cache under its bound, least recently used first", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-bcache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cacheDir = join(dir, "cache");
  await build(dir, "a.img", { workers: 2, blockCache: { dir: cacheDir, maxBytes: 1 << 30 } });
  const files = cacheFiles(cacheDir);
  const total = files.reduce((n, f) => n + statSync(f).size, 0);
  const bound = Math.floor(total / 2);
  assert.deepEqual(evictBlockCache(cacheDir, total), { entries: 0, bytes: 0 }, "under the bound: nothing");
  const freed = evictBlockCache(cacheDir, bound);
  assert.ok(freed.entries > 0);
  const left = cacheFiles(cacheDir).reduce((n, f) => n + statSync(f).size, 0);
  assert.ok(left <= bound * 0.9, `${left} ≤ 90% of ${bound}`);
  // The writer evicts after each run.
  await build(dir, "b.img", { workers: 2, blockCache: { dir: cacheDir, maxBytes: bound } });
  const after = cacheFiles(cacheDir).reduce((n, f) => n + statSync(f).size, 0);
  assert.ok(after <= bound, `${after} ≤ ${bound}`);
});

test("two runs at once on one cache: both images are the uncached bytes, no temporary file left", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-bcache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const blockCache = { dir: join(dir, "cache"), maxBytes: 1 << 30 };
  const plain = sha(await build(dir, "plain.img", { workers: 2 }));
  const [a, b] = await Promise.all([
    build(dir, "a.img", { workers: 1, blockCache }),
    build(dir, "b.img", { workers: 1, blockCache }),
  ]);
  assert.equal(sha(a), plain);
  assert.equal(sha(b), plain);
  assert.deepEqual(
    cacheFiles(blockCache.dir).filter((f) => f.includes(".tmp-")),
    [],
  );
});

test("GVMCONV_BLOCK_CACHE and GVMCONV_BLOCK_CACHE_MAX are resolved by the run context", async () => {
  const { createContext } = await import("../../../src/context.js");
  const { UsageError } = await import("../../../src/errors.js");
  const ctx = (env: Record<string, string>) => createContext({ env, dotenv: false }).blockCache;
  assert.equal(ctx({}), undefined);
  assert.equal(ctx({ GVMCONV_BLOCK_CACHE: "0" }), undefined);
  assert.deepEqual(ctx({ GVMCONV_BLOCK_CACHE: "1", HOME: "/home/u" }), {
    dir: undefined,
    maxBytes: 4 * 1024 ** 3,
    secretFile: "/home/u/.local/state/gvmconv/block-cache.key",
  });
  assert.deepEqual(
    ctx({ GVMCONV_BLOCK_CACHE: "/srv/blocks", GVMCONV_BLOCK_CACHE_MAX: "100", XDG_STATE_HOME: "/st" }),
    { dir: "/srv/blocks", maxBytes: 100 * 1024 * 1024, secretFile: "/st/gvmconv/block-cache.key" },
  );
  assert.throws(() => ctx({ GVMCONV_BLOCK_CACHE: "yes" }), UsageError);
  assert.throws(() => ctx({ GVMCONV_BLOCK_CACHE: "1", GVMCONV_BLOCK_CACHE_MAX: "1G" }), UsageError);
});

test("pruneBlockCache: by age (mtime), by size, both; counts what it removed and what stays; touches only entries", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-bcache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cacheDir = join(dir, "cache");
  await build(dir, "a.img", { workers: 2, blockCache: { dir: cacheDir, maxBytes: 1 << 30 } });
  const files = cacheFiles(cacheDir).sort();
  const size = (f: string): number => statSync(f).size;
  const total = files.reduce((n, f) => n + size(f), 0);
  assert.deepEqual(blockCacheSize(cacheDir), { entries: files.length, bytes: total });
  assert.deepEqual(blockCacheSize(join(dir, "missing")), { entries: 0, bytes: 0 });
  // Entry i last used i hours before `now`.
  const now = Date.now();
  files.forEach((f, i) => utimesSync(f, new Date(now - i * 3600e3), new Date(now - i * 3600e3)));
  const stray = join(dirname(files[0]!), "README");
  writeFileSync(stray, "not an entry");

  const byAge = pruneBlockCache(cacheDir, { olderThanMs: 4.5 * 3600e3, now });
  const young = files.slice(0, 5);
  const youngBytes = young.reduce((n, f) => n + size(f), 0);
  assert.deepEqual(byAge, {
    removed: { entries: files.length - 5, bytes: total - youngBytes },
    kept: { entries: 5, bytes: youngBytes },
  });
  assert.deepEqual(cacheFiles(cacheDir).sort(), [...young, stray].sort());

  // Both rules: the age rule first, then the least recently used down to 90% of the bound.
  const bound = size(young[0]!) + size(young[1]!) + size(young[2]!);
  const both = pruneBlockCache(cacheDir, { olderThanMs: 3.5 * 3600e3, maxBytes: bound, now });
  const kept = cacheFiles(cacheDir).filter((f) => f !== stray);
  assert.ok(
    kept.every((f) => young.slice(0, 3).includes(f)),
    "the oldest went first",
  );
  const keptBytes = kept.reduce((n, f) => n + size(f), 0);
  assert.ok(keptBytes <= bound * 0.9);
  assert.deepEqual(both.kept, { entries: kept.length, bytes: keptBytes });
  assert.equal(both.removed.entries, 5 - kept.length);

  // A bound of 0: every entry, and nothing that is not one.
  assert.deepEqual(pruneBlockCache(cacheDir, { maxBytes: 0 }).kept, { entries: 0, bytes: 0 });
  assert.deepEqual(cacheFiles(cacheDir), [stray]);
});

/** One text block, and a cache holding its compressed form stored under `secret`. */
function storedBlock(dir: string, secret?: string) {
  const spec = { name: "gzip", level: 6, blockSize: BLOCK } as const;
  const compressor = createCompressor(spec);
  const options = (s?: string) => ({
    dir: join(dir, "cache"),
    maxBytes: 1 << 30,
    ...(s ? { secret: s } : {}),
  });
  const open = (s?: string): BlockCache => new BlockCache(options(s), spec, compressor);
  const data = Buffer.from("golem layer block cache ".repeat(6000).slice(0, BLOCK));
  const writer = open(secret);
  const key = writer.key(data);
  writer.put(key, { bytes: compressor.compressSync(data), compressed: true });
  const [path] = cacheFiles(join(dir, "cache")) as [string];
  return { data, key, path, open, compressor };
}

test("entries this machine marked are served without decompressing; others are decompressed first", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-bcache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { data, key, path, open } = storedBlock(dir, SECRET);
  const stored = Buffer.from(payloadOf(path));

  const own = open(SECRET);
  assert.ok(own.get(data, key)?.bytes.every((b, i) => b === stored[i]));
  assert.deepEqual([own.hits, own.trusted, own.decompressed], [1, 1, 0], "marked: served as stored");

  // Another machine's secret, or none (a cache restored from elsewhere): checked, then served.
  for (const other of [open("a1".repeat(32)), open()]) {
    assert.ok(other.get(data, key) !== null);
    assert.deepEqual([other.hits, other.trusted, other.decompressed], [1, 0, 1]);
  }

  // A marked entry whose payload was changed (sum recomputed, the mark kept): the mark no longer
  // matches, so it is decompressed, and refused.
  const p = Buffer.from(stored);
  p[p.length >> 1]! ^= 0x55;
  rewriteEntry(path, p);
  const after = open(SECRET);
  assert.equal(after.get(data, key), null);
  assert.deepEqual([after.rejected, after.trusted, after.decompressed], [1, 0, 1]);

  // Only the secret makes a mark: the right mark over a wrong payload would be served, which is
  // why the secret is kept outside the cache directory.
  const forged = createHmac("sha256", Buffer.from(SECRET, "hex"))
    .update(
      createHash("sha256")
        .update(readFileSync(path).subarray(0, readFileSync(path).length - 64))
        .digest(),
    )
    .digest();
  rewriteEntry(path, p, 1, forged);
  const fooled = open(SECRET);
  assert.notEqual(fooled.get(data, key), null);
  assert.equal(fooled.trusted, 1);
});

test("a hit refreshes an entry's mtime only when it is older than REFRESH_MS", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-bcache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { data, key, path, open } = storedBlock(dir, SECRET);
  const recent = new Date(Date.now() - REFRESH_MS / 2);
  utimesSync(path, recent, recent);
  assert.notEqual(open(SECRET).get(data, key), null);
  assert.equal(Math.round(statSync(path).mtimeMs), recent.getTime(), "young: left alone");
  const old = new Date(Date.now() - 2 * REFRESH_MS);
  utimesSync(path, old, old);
  assert.notEqual(open(SECRET).get(data, key), null);
  assert.ok(Date.now() - statSync(path).mtimeMs < REFRESH_MS, "old: refreshed");
});

test("loadBlockCacheSecret makes a private secret once, keeps it, and gives up quietly", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-bcache-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "state", "gvmconv", "block-cache.key");
  const first = loadBlockCacheSecret(file);
  assert.match(first ?? "", /^[0-9a-f]{64}$/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, "state", "gvmconv")).mode & 0o777, 0o700);
  assert.equal(loadBlockCacheSecret(file), first, "the same secret next time");
  assert.deepEqual(readdirSync(join(dir, "state", "gvmconv")), ["block-cache.key"], "no temporary file left");
  writeFileSync(file, "not a secret");
  assert.equal(loadBlockCacheSecret(file), undefined, "something else in the file: none");
  assert.equal(readFileSync(file, "utf8"), "not a secret", "and it is not replaced");
  writeFileSync(join(dir, "x"), "");
  if (process.getuid?.() !== 0) {
    const locked = join(dir, "locked");
    chmodSync(dir, 0o500);
    t.after(() => chmodSync(dir, 0o700));
    assert.equal(loadBlockCacheSecret(join(locked, "key")), undefined, "cannot be made: none");
  }
  assert.equal(loadBlockCacheSecret(join(dir, "x", "key")), undefined, "a file in the way: none");
});
