/**
 * The SquashFS writer's options for a run, shared by `convert` and `squashfs`: the caller's
 * settings, the context's time and backends, and the block cache with this machine's secret.
 * A module of its own so that `squashfs` (a directory or a tar in, an image out) does not load
 * the registry client, the build and the upload code that `convert` needs.
 */
import { join } from "node:path";
import { defaultCacheDir, type RunContext } from "../context.js";
import { loadBlockCacheSecret, type CompressorInfo, type WriterOptions } from "../squashfs/index.js";

/** SquashFS settings a conversion takes; the filesystem time is the run context's (`mkfsTime`). */
export type ConvertWriterOptions = Omit<WriterOptions, "mkfsTime">;

/**
 * The block cache's directory for a run in `context` whose cache directory is `cacheDir`:
 * `GVMCONV_BLOCK_CACHE`'s absolute directory, else `blocks/` in the cache directory (where
 * `convert` puts it, and `cache ls` and `cache prune` look, whether the cache is on or not).
 */
export function blockCacheDir(context: RunContext, cacheDir?: string): string {
  return context.blockCache?.dir ?? join(cacheDir ?? defaultCacheDir(context.env), "blocks");
}

/** This machine's block cache secret per run: a run builds its writer options more than once. */
const secrets = new WeakMap<RunContext, string | null>();

/** The secret, loaded once per run; where it cannot be, the run is told once. */
function blockCacheSecret(context: RunContext, file: string): string | undefined {
  let secret = secrets.get(context);
  if (secret === undefined) {
    secret = loadBlockCacheSecret(file) ?? null;
    secrets.set(context, secret);
    // The cache still works and stays safe; only this machine's own entries lose their fast path.
    if (secret === null) {
      context.reporter.warn({
        code: "W_SQUASHFS_BLOCK_CACHE_UNTRUSTED",
        message:
          `cannot read or make the block cache's secret ${file}, so every cached block is decompressed ` +
          "to check it (slower): make its directory writable, or remove the file if it holds something else",
        path: file,
      });
    }
  }
  return secret ?? undefined;
}

/**
 * The writer's options for a run: the caller's settings, the context's time and backends, and
 * the block cache when on, in `cacheDir` (the blob cache's, as `gvmconv cache` looks) unless
 * `GVMCONV_BLOCK_CACHE` names its own directory.
 */
export function writerOptions(
  writer: ConvertWriterOptions | undefined,
  context: RunContext,
  cacheDir?: string,
): WriterOptions {
  const cache = context.blockCache;
  const secret = cache === undefined ? undefined : blockCacheSecret(context, cache.secretFile);
  return {
    xzBackend: context.xzBackend,
    gzipBackend: context.gzipBackend,
    ...(cache === undefined
      ? {}
      : {
          blockCache: {
            dir: blockCacheDir(context, cacheDir),
            maxBytes: cache.maxBytes,
            ...(secret === undefined ? {} : { secret }),
          },
        }),
    ...writer,
    mkfsTime: context.mkfsTime,
  };
}

/**
 * Without libdeflate, gzip falls back to Node's zlib: a valid image, but larger and not the bytes
 * the same command writes on a machine with libdeflate, so it is said (and fatal under --strict).
 */
export function warnGzipFallback(compressor: CompressorInfo, context: RunContext): void {
  if (!compressor.gzipFallback) return;
  context.reporter.warn({
    code: "W_SQUASHFS_LIBDEFLATE_MISSING",
    message:
      "libdeflate cannot be loaded, so Node's zlib writes the gzip blocks: a valid image, but other (larger) bytes " +
      "than where libdeflate is installed (install libdeflate0 / brew install libdeflate, or set GVMCONV_GZIP_BACKEND=zlib)",
  });
}
