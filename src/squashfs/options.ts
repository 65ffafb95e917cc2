/** Options of the SquashFS writer, with the defaults and limits the format and kernel impose. */
import type { BlockCacheOptions } from "./writer/block-cache.js";

export type CompressionName = "gzip" | "xz" | "lzo" | "lz4";

/**
 * Which liblzma encodes and decodes xz blocks (compressor/xz.ts): "liblzma", the system's through
 * FFI when it loads, else lzma-native's bundled copy; "lzma-native", always the bundled copy. Both
 * give the same bytes; the system library takes less than half the CPU.
 */
export type XzBackend = "liblzma" | "lzma-native";

/**
 * Which encoder writes gzip blocks (compressor/gzip.ts): "libdeflate", the system's through FFI
 * (levels 1–12; an error when it does not load); "zlib", Node's bundled zlib (levels 1–9). The
 * two write different (equally valid) bytes. Unset: libdeflate when it loads, else zlib — the
 * caller hears of the fallback (W_GZIP_LIBDEFLATE_MISSING), since it changes the image's bytes.
 */
export type GzipBackend = "libdeflate" | "zlib";

export interface WriterOptions {
  /** Compressor for data and metadata blocks. Default "gzip". */
  compression?: CompressionName;
  /**
   * Compression level: gzip 1–12 (10–12 with libdeflate only), xz 0–9, lzo 1–9 (lzo1x_999), lz4 0 (plain) or 1 (HC). Default:
   * gzip 6 (measured; see README), xz 6, lzo 8 and lz4 1 (what mksquashfs writes by default for
   * lzo, and with -Xhc for lz4, as gvmkit-build calls it).
   */
  level?: number;
  /** Data block size, a power of two from 4 KiB to 1 MiB. Default 128 KiB. */
  blockSize?: number;
  /** xz only: which liblzma runs, see XzBackend. Default "liblzma" (falls back to lzma-native). */
  xzBackend?: XzBackend;
  /** gzip only: which encoder runs, see GzipBackend. Default: libdeflate when it loads, else zlib. */
  gzipBackend?: GzipBackend;
  /** Compression worker threads. Default: the machine's available parallelism. 0 = compress in-process. */
  workers?: number;
  /**
   * Filesystem creation time (superblock `mkfs_time`), seconds. Default 0 — never the clock, so
   * that the same input gives the same bytes. The writer does not read the environment: a caller
   * that honours `SOURCE_DATE_EPOCH` (the CLI does) resolves it and passes it here.
   */
  mkfsTime?: number;
  /**
   * Store data blocks whose bytes look random (already-compressed content) raw without running
   * the compressor on them, as btrfs does; see compressor/incompressible.ts for what it costs
   * (measured: +0.008% on a Debian rootfs image, ~60% less CPU on random data). Default true.
   */
  skipIncompressible?: boolean;
  /**
   * A cache of compressed data blocks for re-conversions (writer/block-cache.ts): each block is
   * looked up by a hash of its bytes and every setting that shapes its stored form, verified, and
   * stored after compressing. The image's bytes are the same with or without it. `secret` marks
   * the entries this run stores, and spares entries it marks the decompressing check
   * (`loadBlockCacheSecret`). Default: none.
   */
  blockCache?: BlockCacheOptions;
  /** Store files with identical content once (as mksquashfs does). Default true. */
  dedupe?: boolean;
  /** Write an export table (NFS export support; mksquashfs writes one by default). Default true. */
  exportTable?: boolean;
  /** Pad the image to a multiple of this many bytes (the kernel reads whole device blocks). Default 4096. */
  padding?: number;
  /** mtime of directories created implicitly for missing parents. Default: mkfsTime. */
  implicitDirMtime?: number;
}

export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 1024 * 1024;
export const DEFAULT_BLOCK_SIZE = 128 * 1024;
export const DEFAULT_GZIP_LEVEL = 6;
export const DEFAULT_XZ_LEVEL = 6;
export const DEFAULT_LZO_LEVEL = 8;
export const DEFAULT_LZ4_LEVEL = 1;
/** The default level of each compressor. */
export const DEFAULT_LEVEL: Readonly<Record<CompressionName, number>> = {
  gzip: DEFAULT_GZIP_LEVEL,
  xz: DEFAULT_XZ_LEVEL,
  lzo: DEFAULT_LZO_LEVEL,
  lz4: DEFAULT_LZ4_LEVEL,
};
