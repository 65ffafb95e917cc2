import type { CompressionName, GzipBackend, XzBackend } from "../options.js";
import type { BlockCacheOptions } from "../writer/block-cache.js";

/**
 * One SquashFS compressor. Implementations are plain data-in/data-out so that the same code runs
 * in-process (metadata blocks) and inside worker threads (data blocks).
 */
export interface Compressor {
  /** Superblock `compression_id` (format.adoc: 1 = gzip (zlib stream), 4 = xz). */
  readonly id: number;
  readonly name: CompressionName;
  readonly level: number;
  /**
   * The encoder this instance drives, precise enough that the same string means the same bytes
   * for the same block (e.g. "liblz4 1.9.4 (system)"); the block cache keys on it.
   */
  readonly backend: string;
  /**
   * Compressor options stored right after the superblock (superblock flag COMPRESSOR_OPTIONS),
   * or null when the defaults apply and nothing is stored.
   */
  readonly options: Uint8Array | null;
  /** Compress one block. The caller stores the raw block instead when the result is not smaller. */
  compress(data: Uint8Array): Promise<Uint8Array>;
  /**
   * The same as `compress`, on the calling thread. Worker threads use this: each worker is already
   * one unit of parallelism, and an async call would just queue the work on libuv's shared pool.
   */
  compressSync(data: Uint8Array): Uint8Array;
  /**
   * Where an encoder can, `compressSync` into a buffer the compressor reuses: the result is valid
   * only until the next call on this instance. For a caller that copies it at once (a worker).
   */
  compressSyncScratch?(data: Uint8Array): Uint8Array;
  /** Decompress one block whose uncompressed size is at most `maxSize` (the reader uses this). */
  decompress(data: Uint8Array, maxSize: number): Promise<Uint8Array>;
  /** The same as `decompress`, on the calling thread (the block cache verifies entries with it). */
  decompressSync(data: Uint8Array, maxSize: number): Uint8Array;
  /**
   * Where a decoder can, `decompressSync` into a buffer the compressor reuses, valid only until
   * its next call: for a caller that only compares the result (the block cache's check).
   */
  decompressSyncScratch?(data: Uint8Array, maxSize: number): Uint8Array;
}

/** What a worker needs to build the same compressor (plain, structured-cloneable). */
export interface CompressorSpec {
  name: CompressionName;
  level: number;
  blockSize: number;
  /** Store data blocks that look random raw without compressing them (incompressible.ts). Default true. */
  skipIncompressible?: boolean;
  /** xz only: which liblzma (options.ts). Travels with the spec so worker threads use the same one. */
  xzBackend?: XzBackend;
  /**
   * gzip only: which encoder (options.ts). Resolved by the writer before workers start, so every
   * thread uses the same one; undefined here means libdeflate when it loads, else zlib.
   */
  gzipBackend?: GzipBackend;
  /** Data blocks are looked up in and stored to this block cache (writer/block-cache.ts). */
  blockCache?: BlockCacheOptions;
}
