/**
 * A local cache of compressed data blocks, for re-conversions: CI rebuilds the same image with
 * only its top layer changed, and every block of the layers below compresses to the same bytes
 * again. Compressing is most of a conversion's CPU; looking a block up is a SHA-256 and a read.
 *
 * Key: SHA-256 over a settings line — cache format, compressor, its encoder (Compressor.backend:
 * library, version or encoder fingerprint), level, block size, whether the incompressible check
 * runs — and the block's bytes. Anything that changes a block's stored bytes changes the key.
 *
 * Entry (one file per key, `<dir>/<2 hex>/<64 hex>`):
 *   "GVB1" | key (32) | kind (1: 0 = stored raw, 1 = compressed) | payload | SHA-256 of all before (32)
 * Served only when the checksum holds, the key inside is the key looked up, and — for a
 * compressed entry — the payload decompresses to exactly the block being written. So a damaged or
 * planted entry can never put other content into an image; at worst (a valid stream of the same
 * content that our encoder would not have written, which only someone writing into the cache
 * could make) other bytes for the same content.
 *
 * Concurrency: entries are written to a temporary file opened with O_EXCL, then renamed into
 * place, so readers see a whole entry or none; two runs storing the same key store the same bytes.
 * Size: bounded by `maxBytes`; `evict()` (after a run) deletes the least recently used entries
 * (a hit refreshes an entry's mtime) until the cache is under 90% of the bound.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { Compressor, CompressorSpec } from "../compressor/compressor.js";

/** Where the cache lives and how large it may grow. Plain data: it travels to worker threads. */
export interface BlockCacheOptions {
  dir: string;
  maxBytes: number;
}

/** Bumped whenever the entry layout or anything that shapes a block's bytes outside `backend` changes. */
const FORMAT = "gvmconv-block-cache-1";
const MAGIC = Buffer.from("GVB1");
const HEAD = MAGIC.length + 32 + 1;
const TAIL = 32;
const KIND_RAW = 0;
const KIND_COMPRESSED = 1;

/** What a lookup found: the block's stored form. */
export interface CachedBlock {
  bytes: Uint8Array;
  compressed: boolean;
}

export class BlockCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #settings: Buffer;
  readonly #compressor: Compressor;
  hits = 0;
  misses = 0;
  /** Entries found but refused (damaged, or not this block). */
  rejected = 0;

  constructor(options: BlockCacheOptions, spec: CompressorSpec, compressor: Compressor) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.#compressor = compressor;
    this.#settings = Buffer.from(
      [
        FORMAT,
        compressor.name,
        compressor.backend,
        `level=${compressor.level}`,
        `block=${spec.blockSize}`,
        `skip=${spec.skipIncompressible !== false}`,
        "",
      ].join("\n"),
    );
  }

  /** The key of `data` under this cache's settings. */
  key(data: Uint8Array): Buffer {
    return createHash("sha256").update(this.#settings).update(data).digest();
  }

  #path(key: Buffer): string {
    const hex = key.toString("hex");
    return join(this.dir, hex.slice(0, 2), hex);
  }

  /** The verified stored form of `data`, or null (absent, unreadable, damaged, or another block). */
  get(data: Uint8Array, key: Buffer): CachedBlock | null {
    const path = this.#path(key);
    let entry: Buffer;
    try {
      entry = readFileSync(path);
    } catch {
      this.misses++;
      return null;
    }
    const found = this.#verify(entry, data, key);
    if (found === null) {
      this.rejected++;
      this.misses++;
      // A damaged entry is replaced by the store that follows this miss.
      return null;
    }
    this.hits++;
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // Evicted meanwhile by another run: the bytes are already read.
    }
    return found;
  }

  #verify(entry: Buffer, data: Uint8Array, key: Buffer): CachedBlock | null {
    if (entry.length < HEAD + TAIL || !entry.subarray(0, MAGIC.length).equals(MAGIC)) return null;
    const body = entry.subarray(0, entry.length - TAIL);
    if (
      !createHash("sha256")
        .update(body)
        .digest()
        .equals(entry.subarray(entry.length - TAIL))
    )
      return null;
    if (!entry.subarray(MAGIC.length, MAGIC.length + 32).equals(key)) return null;
    const kind = entry[HEAD - 1];
    const payload = entry.subarray(HEAD, entry.length - TAIL);
    if (kind === KIND_RAW) return payload.length === 0 ? { bytes: data, compressed: false } : null;
    if (kind !== KIND_COMPRESSED || payload.length >= data.length) return null;
    let plain: Uint8Array;
    try {
      plain = this.#compressor.decompressSync(payload, data.length);
    } catch {
      return null;
    }
    if (!Buffer.from(plain.buffer, plain.byteOffset, plain.length).equals(data)) return null;
    return { bytes: Uint8Array.prototype.slice.call(payload), compressed: true };
  }

  /** Store the stored form of a block under `key`. Failures (disk full, permissions) are ignored. */
  put(key: Buffer, result: CachedBlock): void {
    const path = this.#path(key);
    const payload = result.compressed ? result.bytes : new Uint8Array(0);
    const head = Buffer.concat([MAGIC, key, Buffer.from([result.compressed ? KIND_COMPRESSED : KIND_RAW])]);
    const sum = createHash("sha256").update(head).update(payload).digest();
    const dir = join(this.dir, key.toString("hex").slice(0, 2));
    const temp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
    try {
      mkdirSync(dir, { recursive: true });
      const fd = openSync(temp, "wx", 0o644);
      try {
        writeSync(fd, head);
        writeSync(fd, payload);
        writeSync(fd, sum);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
    } catch {
      rmSync(temp, { force: true });
    }
  }
}

/** How many entries, and their bytes on disk. */
export interface BlockCacheSize {
  entries: number;
  bytes: number;
}

/** Which entries `pruneBlockCache` deletes; either rule, or both (the age rule first). */
export interface BlockCachePruneRule {
  /** When the cache holds more, the least recently used down to 90% of it (0: every entry). */
  maxBytes?: number;
  /** Those not used (mtime: a hit refreshes it) for longer than this, ms. */
  olderThanMs?: number;
  /** "Now" for the age comparisons, ms since the epoch (tests). Default: the clock. */
  now?: number;
}

/** A writer's temporary file this old is a crashed writer's (a live one renames it within a block's write). */
const TEMP_AGE_MS = 3_600_000;
const ENTRY_NAME = /^[0-9a-f]{64}$/;

/**
 * Every entry file of the cache at `dir`, from one readdir of `dir` and of each `<2 hex>`
 * subdirectory and one stat per `<64 hex>` file; no file is opened. Nothing else in `dir` is
 * looked at, so a cache pointed at a directory of other files never counts or deletes them.
 */
function scanBlockCache(
  dir: string,
  onTemp: (path: string, mtimeMs: number) => void,
): { path: string; size: number; mtime: number }[] {
  const entries: { path: string; size: number; mtime: number }[] = [];
  let subdirs: string[];
  try {
    subdirs = readdirSync(dir);
  } catch {
    return entries;
  }
  for (const sub of subdirs) {
    if (!/^[0-9a-f]{2}$/.test(sub)) continue;
    let names: string[];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      continue;
    }
    for (const name of names) {
      const temp = name.startsWith(".tmp-");
      if (!temp && !(ENTRY_NAME.test(name) && name.startsWith(sub))) continue;
      const path = join(dir, sub, name);
      try {
        const st = statSync(path);
        if (temp) onTemp(path, st.mtimeMs);
        else if (st.isFile()) entries.push({ path, size: st.size, mtime: st.mtimeMs });
      } catch {
        // Removed meanwhile.
      }
    }
  }
  return entries;
}

/** What the cache at `dir` holds (`gvmconv cache ls`): names and stats only, contents unread. */
export function blockCacheSize(dir: string): BlockCacheSize {
  const entries = scanBlockCache(dir, () => {});
  return { entries: entries.length, bytes: entries.reduce((n, e) => n + e.size, 0) };
}

/**
 * Delete the entries `rule` names, least recently used (oldest mtime) first, and temporary files
 * older than an hour (a crashed writer's). Safe while other runs use the cache: a reader that
 * finds an entry gone treats it as a miss and stores the block again, one that has it open reads
 * it whole (an unlinked file lives on while open) and verifies it as always; a writer's temporary
 * file is younger than an hour, and its rename puts a whole entry in place. Returns what was
 * deleted and what stays.
 */
export function pruneBlockCache(
  dir: string,
  rule: BlockCachePruneRule,
): { removed: BlockCacheSize; kept: BlockCacheSize } {
  const now = rule.now ?? Date.now();
  const entries = scanBlockCache(dir, (path, mtime) => {
    if (now - mtime > TEMP_AGE_MS) rmSync(path, { force: true });
  });
  const old = (mtime: number): boolean => rule.olderThanMs !== undefined && now - mtime > rule.olderThanMs;
  const total = entries.reduce((n, e) => n + e.size, 0);
  // The size rule judges what the age rule leaves.
  const young = entries.reduce((n, e) => (old(e.mtime) ? n : n + e.size), 0);
  const goal =
    rule.maxBytes !== undefined && young > rule.maxBytes ? Math.floor(rule.maxBytes * 0.9) : Infinity;
  entries.sort((a, b) => a.mtime - b.mtime);
  const removed = { entries: 0, bytes: 0 };
  // Oldest first: every entry past the age rule comes before any within it.
  for (const e of entries) {
    if (!old(e.mtime) && total - removed.bytes <= goal) break;
    rmSync(e.path, { force: true });
    removed.entries++;
    removed.bytes += e.size;
  }
  return { removed, kept: { entries: entries.length - removed.entries, bytes: total - removed.bytes } };
}

/**
 * Keep the cache at `dir` under `maxBytes` (after each run): delete least recently used entries
 * down to 90% of it, as `pruneBlockCache`. Returns what was freed.
 */
export function evictBlockCache(dir: string, maxBytes: number): BlockCacheSize {
  return pruneBlockCache(dir, { maxBytes }).removed;
}
