/**
 * A local cache of compressed data blocks, for re-conversions: CI rebuilds the same image with
 * only its top layer changed, and every block of the layers below compresses to the same bytes
 * again. Compressing is most of a conversion's CPU; looking a block up is a SHA-256 and a read.
 *
 * Key: SHA-256 over a settings line — cache format, compressor, its encoder (Compressor.backend:
 * library, version or encoder fingerprint), level, block size, whether the incompressible check
 * runs — and the block's own SHA-256. Anything that changes a block's stored bytes changes the key.
 * The block's digest is the one the writer already takes for finding duplicate files, handed to the
 * worker with the block, so a lookup hashes the block once in all, not twice.
 *
 * Entry (one file per key, `<dir>/<2 hex>/<64 hex>`):
 *   "GVB2" | key (32) | kind (1: 0 = stored raw, 1 = compressed) | payload | sum (32) | mark (32)
 * sum: SHA-256 of all before it. mark: HMAC-SHA256 of the sum under this machine's secret (see
 * `loadBlockCacheSecret`; kept outside the cache directory), zeros when the writer had none.
 * Served only when the sum holds and the key inside is the key looked up; then a compressed entry
 * is either marked by this machine — stored by gvmconv here right after compressing the block the
 * key names, so served as it is (no one without the secret can make the mark) — or, from anywhere
 * else (another machine's cache restored here, a planted file), served only if its payload
 * decompresses to exactly the block being written. Decompressing is most of a warm run's work
 * (~0.2 ms a 128 KiB block), which the mark spares the entries this machine wrote. So a damaged
 * entry, or one planted by anyone without this machine's secret, can never put other content into
 * an image; at worst (a valid stream of the same content that our encoder would not have written)
 * other bytes for the same content.
 *
 * Concurrency: entries are written to a temporary file opened with O_EXCL, then renamed into
 * place, so readers see a whole entry or none; two runs storing the same key store the same bytes.
 * Size: bounded by `maxBytes`; `evict()` (after a run that stored any) deletes the least recently used entries
 * (a hit refreshes an entry's mtime) until the cache is under 90% of the bound. The refresh is
 * skipped while the mtime is younger than REFRESH_MS, so back-to-back runs do not rewrite every
 * entry's inode; an entry's last use is known to within that.
 */
import { createHash, createHmac, hash as hashOnce, randomBytes } from "node:crypto";
import {
  closeSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import type { Compressor, CompressorSpec } from "../compressor/compressor.js";

/** Where the cache lives and how large it may grow. Plain data: it travels to worker threads. */
export interface BlockCacheOptions {
  dir: string;
  maxBytes: number;
  /**
   * This machine's secret (hex, `loadBlockCacheSecret`): entries are marked with it, and entries
   * it marks are served without decompressing them. None: every entry is checked by decompressing.
   */
  secret?: string;
}

/** Bumped whenever the entry layout or anything that shapes a block's bytes outside `backend` changes. */
const FORMAT = "gvmconv-block-cache-2";
const MAGIC = Buffer.from("GVB2");
const HEAD = MAGIC.length + 32 + 1;
/** The sum and the mark. */
const TAIL = 64;
const NO_MARK = Buffer.alloc(32);
const KIND_RAW = 0;
const KIND_COMPRESSED = 1;

/** A hit refreshes an entry's mtime only when it is older than this (10 minutes). */
export const REFRESH_MS = 600_000;

/** What a run's writer got from the cache: blocks it served, and blocks compressed and stored. */
export interface BlockCacheUse {
  hits: number;
  misses: number;
}

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
  /** Compressed entries served on this machine's mark, and those checked by decompressing. */
  trusted = 0;
  decompressed = 0;
  readonly #secret: Buffer | null;
  /** Entries are read into this buffer, grown to the largest entry a block can have. */
  #entry = Buffer.alloc(0);

  constructor(options: BlockCacheOptions, spec: CompressorSpec, compressor: Compressor) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.#compressor = compressor;
    this.#secret = options.secret === undefined ? null : Buffer.from(options.secret, "hex");
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

  /**
   * The key of `data` under this cache's settings; `digest`, when the caller has it, is the
   * block's SHA-256 (the writer's, taken for duplicate files), saving a second pass over it.
   */
  key(data: Uint8Array, digest?: Uint8Array): Buffer {
    return createHash("sha256")
      .update(this.#settings)
      .update(digest ?? hashOnce("sha256", data, "buffer"))
      .digest();
  }

  #path(key: Buffer): string {
    const hex = key.toString("hex");
    return join(this.dir, hex.slice(0, 2), hex);
  }

  /**
   * The verified stored form of `data`, or null (absent, unreadable, damaged, or another block).
   * With `scratch` a compressed form is a view of this cache's read buffer, valid until its next
   * call: for a caller that copies it at once (a worker).
   */
  get(data: Uint8Array, key: Buffer, scratch = false): CachedBlock | null {
    const path = this.#path(key);
    // A valid entry is never longer than this: a compressed payload is shorter than the block.
    const most = HEAD + data.length + TAIL;
    let entry: Buffer | null = null;
    let mtimeMs = 0;
    try {
      const fd = openSync(path, "r");
      try {
        const st = fstatSync(fd);
        mtimeMs = st.mtimeMs;
        if (st.size <= most) {
          if (this.#entry.length < most) this.#entry = Buffer.allocUnsafeSlow(most);
          let n = 0;
          for (let r = -1; r !== 0 && n < st.size; n += r) r = readSync(fd, this.#entry, n, st.size - n, n);
          entry = this.#entry.subarray(0, n);
        }
      } finally {
        closeSync(fd);
      }
    } catch {
      this.misses++;
      return null;
    }
    const found = entry === null ? null : this.#verify(entry, data, key, scratch);
    if (found === null) {
      this.rejected++;
      this.misses++;
      // A damaged entry is replaced by the store that follows this miss.
      return null;
    }
    this.hits++;
    const now = Date.now();
    if (now - mtimeMs > REFRESH_MS) {
      try {
        utimesSync(path, now / 1000, now / 1000);
      } catch {
        // Evicted meanwhile by another run: the bytes are already read.
      }
    }
    return found;
  }

  #verify(entry: Buffer, data: Uint8Array, key: Buffer, scratch: boolean): CachedBlock | null {
    if (entry.length < HEAD + TAIL || !entry.subarray(0, MAGIC.length).equals(MAGIC)) return null;
    const end = entry.length - TAIL;
    const sum = createHash("sha256").update(entry.subarray(0, end)).digest();
    if (!sum.equals(entry.subarray(end, end + 32))) return null;
    if (!entry.subarray(MAGIC.length, MAGIC.length + 32).equals(key)) return null;
    const kind = entry[HEAD - 1];
    const payload = entry.subarray(HEAD, end);
    if (kind === KIND_RAW) return payload.length === 0 ? { bytes: data, compressed: false } : null;
    if (kind !== KIND_COMPRESSED || payload.length >= data.length) return null;
    const served = (): CachedBlock => ({
      bytes: scratch ? payload : Uint8Array.prototype.slice.call(payload),
      compressed: true,
    });
    if (this.#secret !== null && this.#mark(sum).equals(entry.subarray(end + 32))) {
      this.trusted++;
      return served();
    }
    this.decompressed++;
    const compressor = this.#compressor;
    let plain: Uint8Array;
    try {
      // The inflated block is only compared, never kept: a reused buffer where the compressor has one.
      plain = (compressor.decompressSyncScratch ?? compressor.decompressSync).call(
        compressor,
        payload,
        data.length,
      );
    } catch {
      return null;
    }
    if (!Buffer.from(plain.buffer, plain.byteOffset, plain.length).equals(data)) return null;
    return served();
  }

  /** This machine's mark of an entry whose sum is `sum`. */
  #mark(sum: Buffer): Buffer {
    return this.#secret === null ? NO_MARK : createHmac("sha256", this.#secret).update(sum).digest();
  }

  /** Store the stored form of a block under `key`. Failures (disk full, permissions) are ignored. */
  put(key: Buffer, result: CachedBlock): void {
    const path = this.#path(key);
    const payload = result.compressed ? result.bytes : new Uint8Array(0);
    const head = Buffer.concat([MAGIC, key, Buffer.from([result.compressed ? KIND_COMPRESSED : KIND_RAW])]);
    const sum = createHash("sha256").update(head).update(payload).digest();
    const mark = this.#mark(sum);
    const dir = join(this.dir, key.toString("hex").slice(0, 2));
    const temp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
    try {
      mkdirSync(dir, { recursive: true });
      const fd = openSync(temp, "wx", 0o644);
      try {
        writeSync(fd, head);
        writeSync(fd, payload);
        writeSync(fd, sum);
        writeSync(fd, mark);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
    } catch {
      rmSync(temp, { force: true });
    }
  }
}

/**
 * This machine's block cache secret, from `file` (64 hex digits), made there — mode 0600, in a
 * directory made 0700 — when absent. It is kept outside the cache directory on purpose: a cache
 * copied from elsewhere (a CI cache restored, another machine's directory) brings its entries but
 * not this secret, so each of them is checked by decompressing it whenever it is used (a hit
 * never rewrites an entry; one that is evicted and stored again here is then marked).
 * Undefined when the file can be neither read nor made (a read-only home), or holds something
 * else: every entry is then checked by decompressing. Never throws.
 */
export function loadBlockCacheSecret(file: string): string | undefined {
  const read = (): string | undefined => {
    const text = readFileSync(file, "utf8").trim();
    return /^[0-9a-f]{64}$/.test(text) ? text : undefined;
  };
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") return undefined;
  }
  const temp = `${file}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const fd = openSync(temp, "wx", 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString("hex")}\n`);
    } finally {
      closeSync(fd);
    }
    // A link publishes the whole file or fails: of two first runs at once, one secret wins and
    // the other run reads it.
    try {
      linkSync(temp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return undefined;
    }
    return read();
  } catch {
    return undefined;
  } finally {
    rmSync(temp, { force: true });
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
