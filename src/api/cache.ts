/**
 * The cache as a use case: `listCache` (what is cached, how big, when last used) and
 * `pruneCache` (remove what was not used for a while, or everything), over the blob cache and
 * the block cache alike. The cache directory is the one `convert` uses: `cacheDir`, else
 * `$XDG_CACHE_HOME/gvmconv`, else `~/.cache/gvmconv`; the block cache is `blocks/` in it, or the
 * absolute directory `GVMCONV_BLOCK_CACHE` names.
 */
import { rm } from "node:fs/promises";
import {
  blockCacheMaxBytes,
  contextOf,
  defaultCacheDir,
  type RunContext,
  type RunOptions,
} from "../context.js";
import { UsageError } from "../errors.js";
import { BlobCache } from "../oci/blob-cache.js";
import { blockCacheDir } from "./writer-options.js";
import { blockCacheSize, pruneBlockCache } from "../squashfs/index.js";

export interface CacheOptions extends RunOptions {
  /** Cache directory; default as `convert`'s. */
  cacheDir?: string;
}

export interface CacheBlob {
  digest: string;
  size: number;
  lastUsed: Date;
}

export interface CachePartial {
  path: string;
  size: number;
  modified: Date;
  /** Written by a live process right now. */
  inUse: boolean;
}

/** The block cache (`GVMCONV_BLOCK_CACHE`) as `listCache` finds it; listed whether on or not. */
export interface CacheBlockListing {
  /** `GVMCONV_BLOCK_CACHE`'s absolute directory, else `blocks/` in the cache directory. */
  dir: string;
  /** Whether runs in this environment use it (`GVMCONV_BLOCK_CACHE` is 1 or a directory). */
  enabled: boolean;
  /** Entries (one file per data block) and their bytes on disk. */
  entries: number;
  bytes: number;
  /** Its bound, `GVMCONV_BLOCK_CACHE_MAX`: once over it, a run cuts it to 90%. */
  maxBytes: number;
}

export interface CacheListing {
  dir: string;
  /** Verified blobs, least recently used first. */
  blobs: CacheBlob[];
  /** Sum of the blobs' sizes. */
  totalBytes: number;
  /** Interrupted (resumable) downloads and temps. */
  partials: CachePartial[];
  partialBytes: number;
  /** The block cache: counted from its file names and sizes, no entry read. */
  blockCache: CacheBlockListing;
}

export async function listCache(options: CacheOptions = {}): Promise<CacheListing> {
  const context = contextOf(options);
  const cache = openCache(options, context);
  const blobs = (await cache.entries())
    .map(({ digest, size, lastUsed }) => ({ digest, size, lastUsed }))
    .sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime() || a.digest.localeCompare(b.digest));
  const partials = await cache.partials();
  const blocks = blockCacheDir(context, options.cacheDir);
  return {
    dir: cache.dir,
    blobs,
    totalBytes: blobs.reduce((n, b) => n + b.size, 0),
    partials,
    partialBytes: partials.reduce((n, p) => n + p.size, 0),
    blockCache: {
      dir: blocks,
      enabled: context.blockCache !== undefined,
      ...blockCacheSize(blocks),
      maxBytes: context.blockCache?.maxBytes ?? blockCacheMaxBytes(context.env),
    },
  };
}

export interface PruneOptions extends CacheOptions {
  /** Remove every blob, every partial download no live process is writing, every block cache entry. */
  all?: boolean;
  /** Remove blobs and block cache entries not used for this many milliseconds (see `parseDuration`). */
  olderThanMs?: number;
  /** "Now" for the age comparison (tests). Default: the clock. */
  now?: Date;
}

/** What `pruneCache` did to the block cache: entries are counted, not listed (there are thousands). */
export interface PrunedBlocks {
  dir: string;
  removedEntries: number;
  removedBytes: number;
  keptEntries: number;
  keptBytes: number;
}

export interface PruneResult {
  dir: string;
  removed: CacheBlob[];
  /** Partial downloads removed (orphans past the age bound, or all idle ones under `all`). */
  removedPartials: string[];
  /** Everything freed: blobs, partial downloads and block cache entries. */
  freedBytes: number;
  /** What stays of the blobs. */
  keptBlobs: number;
  keptBytes: number;
  blockCache: PrunedBlocks;
}

export async function pruneCache(options: PruneOptions): Promise<PruneResult> {
  const all = options.all === true;
  if (all === (options.olderThanMs !== undefined))
    throw new UsageError("prune needs exactly one of --all or --older-than DURATION");
  if (!all && !(Number.isFinite(options.olderThanMs) && (options.olderThanMs ?? -1) >= 0))
    throw new UsageError(
      `--older-than must be a duration of zero or more, got ${String(options.olderThanMs)}`,
    );
  const context = contextOf(options);
  const cache = openCache(options, context);
  const now = (options.now ?? new Date()).getTime();
  const removed: CacheBlob[] = [];
  let freed = 0;
  let keptBlobs = 0;
  let keptBytes = 0;
  for (const e of await cache.entries()) {
    if (all || now - e.lastUsed.getTime() > (options.olderThanMs ?? 0)) {
      await rm(e.path, { force: true });
      removed.push({ digest: e.digest, size: e.size, lastUsed: e.lastUsed });
      freed += e.size;
    } else {
      keptBlobs++;
      keptBytes += e.size;
    }
  }
  const removedPartials: string[] = [];
  if (all) {
    for (const p of await cache.partials()) {
      if (p.inUse) continue;
      await rm(p.path, { force: true });
      await rm(`${p.path}.lock`, { force: true });
      removedPartials.push(p.path);
      freed += p.size;
    }
  } else {
    const before = new Map((await cache.partials()).map((p) => [p.path, p.size]));
    for (const path of (await cache.sweep(now)).removed) {
      removedPartials.push(path);
      freed += before.get(path) ?? 0;
    }
  }
  // By mtime, which a hit refreshes: the rule the block cache's own eviction sorts by. `all` is a
  // bound of 0 bytes. Safe beside a running conversion (see pruneBlockCache).
  const blocks = blockCacheDir(context, options.cacheDir);
  const pruned = pruneBlockCache(
    blocks,
    all ? { maxBytes: 0, now } : { olderThanMs: options.olderThanMs, now },
  );
  freed += pruned.removed.bytes;
  return {
    dir: cache.dir,
    removed,
    removedPartials,
    freedBytes: freed,
    keptBlobs,
    keptBytes,
    blockCache: {
      dir: blocks,
      removedEntries: pruned.removed.entries,
      removedBytes: pruned.removed.bytes,
      keptEntries: pruned.kept.entries,
      keptBytes: pruned.kept.bytes,
    },
  };
}

/**
 * A duration as the CLI takes it: a number and a unit, `s`, `m`, `h`, `d` or `w` (`90m`, `12h`,
 * `7d`), several summed (`1d12h`). Milliseconds.
 */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };
  const t = text.trim();
  if (!/^(\d+(\.\d+)?[smhdw])+$/.test(t))
    throw new UsageError(
      `'${text}' is not a duration; give a number and a unit s, m, h, d or w, e.g. 7d or 12h`,
    );
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) ms += Number(m[1]) * (units[m[2] ?? "s"] ?? 0);
  return ms;
}

function openCache(options: CacheOptions, context: RunContext): BlobCache {
  return new BlobCache(options.cacheDir ?? defaultCacheDir(context.env));
}

export { blockCacheDir } from "./writer-options.js";
