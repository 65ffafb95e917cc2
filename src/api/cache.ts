/**
 * The blob cache as a use case: `listCache` (what is cached, how big, when last used) and
 * `pruneCache` (remove blobs not used for a while, or everything). The cache directory is the
 * one `convert` uses: `cacheDir`, else `$XDG_CACHE_HOME/gvmconv`, else `~/.cache/gvmconv`.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { contextOf, type RunContext, type RunOptions } from "../context.js";
import { UsageError } from "../errors.js";
import { BlobCache, defaultCacheDir } from "../oci/blob-cache.js";

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

export interface CacheListing {
  dir: string;
  /** Verified blobs, least recently used first. */
  blobs: CacheBlob[];
  /** Sum of the blobs' sizes. */
  totalBytes: number;
  /** Interrupted (resumable) downloads and temps. */
  partials: CachePartial[];
  partialBytes: number;
}

export async function listCache(options: CacheOptions = {}): Promise<CacheListing> {
  const cache = openCache(options);
  const blobs = (await cache.entries())
    .map(({ digest, size, lastUsed }) => ({ digest, size, lastUsed }))
    .sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime() || a.digest.localeCompare(b.digest));
  const partials = await cache.partials();
  return {
    dir: cache.dir,
    blobs,
    totalBytes: blobs.reduce((n, b) => n + b.size, 0),
    partials,
    partialBytes: partials.reduce((n, p) => n + p.size, 0),
  };
}

export interface PruneOptions extends CacheOptions {
  /** Remove every blob and every partial download no live process is writing. */
  all?: boolean;
  /** Remove blobs not used for this many milliseconds (see `parseDuration`). */
  olderThanMs?: number;
  /** "Now" for the age comparison (tests). Default: the clock. */
  now?: Date;
}

export interface PruneResult {
  dir: string;
  removed: CacheBlob[];
  /** Partial downloads removed (orphans past the age bound, or all idle ones under `all`). */
  removedPartials: string[];
  freedBytes: number;
  /** What stays. */
  keptBlobs: number;
  keptBytes: number;
}

export async function pruneCache(options: PruneOptions): Promise<PruneResult> {
  const all = options.all === true;
  if (all === (options.olderThanMs !== undefined))
    throw new UsageError("prune needs exactly one of --all or --older-than DURATION");
  if (!all && !(Number.isFinite(options.olderThanMs) && (options.olderThanMs ?? -1) >= 0))
    throw new UsageError(
      `--older-than must be a duration of zero or more, got ${String(options.olderThanMs)}`,
    );
  const cache = openCache(options);
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
  return { dir: cache.dir, removed, removedPartials, freedBytes: freed, keptBlobs, keptBytes };
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

/**
 * The block cache's directory for a run in `context` whose cache directory is `cacheDir`:
 * `GVMCONV_BLOCK_CACHE`'s absolute directory, else `blocks/` in the cache directory.
 */
export function blockCacheDir(context: RunContext, cacheDir?: string): string {
  return context.blockCache?.dir ?? join(cacheDir ?? defaultCacheDir(context.env), "blocks");
}

function openCache(options: CacheOptions): BlobCache {
  const dir = options.cacheDir ?? defaultCacheDir(contextOf(options).env);
  return new BlobCache(dir);
}
