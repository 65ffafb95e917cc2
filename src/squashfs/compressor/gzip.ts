import { deflate, deflateSync, inflateSync } from "node:zlib";
import type { GzipBackend } from "../options.js";
import type { Compressor } from "./compressor.js";
import { type Libdeflate, systemLibdeflate } from "./libdeflate-ffi.js";

/** Superblock `compression_id` of "gzip" (format.adoc, "Compression"). */
export const GZIP_ID = 1;
/** mksquashfs's default level; at this level (with the defaults below) no options are stored. */
export const GZIP_MKSQUASHFS_LEVEL = 9;
/** Highest level zlib has; libdeflate goes on to 12. */
export const GZIP_ZLIB_MAX_LEVEL = 9;
/** Highest libdeflate level (its near-optimal parser at its most thorough). */
export const GZIP_LIBDEFLATE_MAX_LEVEL = 12;
/** zlib window bits mksquashfs uses and records (`window_size`, 8–15). */
const GZIP_WINDOW_BITS = 15;
/** Size of the gzip compressor options: u32 compression_level, u16 window_size, u16 strategies. */
export const GZIP_OPTIONS_SIZE = 8;

/**
 * deflate memLevel (the decoder never sees it). Node bundles Chromium's zlib, whose hashing differs
 * from system zlib's; measured on 128 KiB blocks at level 6, memLevel 7 beats the default 8 at the
 * same CPU cost: −0.26% on a Debian root filesystem (96.33 vs 96.58 MB), −0.13% on /usr/bin
 * binaries. (System zlib 1.2.13, which mksquashfs uses, is still ~0.4% smaller there and ~45%
 * slower.)
 */
const GZIP_MEM_LEVEL = 7;

/**
 * SquashFS "gzip": each block is a zlib stream (RFC 1950 header + deflate + Adler-32), not gzip
 * framing. Two encoders make it: the system's libdeflate (libdeflate-ffi.ts), levels 1–12, and
 * Node's bundled zlib, levels 1–9. Both are valid for every reader; they write different bytes at
 * the same level, so the backend is part of what decides an image's bytes (and of `backend`).
 *
 * Options: the kernel's zlib_wrapper only inflates and ignores them, but unsquashfs and
 * sqfsdiff read them and refuse a compression_level outside 1–9 (squashfs-tools gzip_wrapper.c
 * `gzip_extract_options`; squashfs-tools-ng `gzip_read_options`). So levels 1–8 are recorded as
 * mksquashfs does, and levels 9–12 store no options — what mksquashfs writes at its default 9. The
 * level of a 10–12 image is therefore not recorded; `inspect` recovers it by re-encoding a block
 * (identifyGzipEncoder).
 */
export class GzipCompressor implements Compressor {
  readonly id = GZIP_ID;
  readonly name = "gzip" as const;
  readonly level: number;
  readonly options: Uint8Array | null;
  readonly #zopts: { level: number; windowBits: number; memLevel: number };
  readonly #lib: Libdeflate | null;

  /** `lib`: the libdeflate to drive, or null for Node's zlib (levels 1–9 only; index.ts checks). */
  constructor(level: number, lib: Libdeflate | null) {
    this.level = level;
    this.#lib = lib;
    this.#zopts = {
      level: Math.min(level, GZIP_ZLIB_MAX_LEVEL),
      windowBits: GZIP_WINDOW_BITS,
      memLevel: GZIP_MEM_LEVEL,
    };
    this.options = level >= GZIP_MKSQUASHFS_LEVEL ? null : encodeGzipOptions(level);
  }

  /** Which encoder writes the blocks: "libdeflate" or "zlib". */
  get gzipBackend(): GzipBackend {
    return this.#lib === null ? "zlib" : "libdeflate";
  }

  /**
   * "libdeflate (libdeflate.so.0, encoder 1f2e…)" or "zlib 1.3.0.1-motley (Node)": the encoder,
   * precise enough that two runs with the same string write the same bytes (the block cache keys
   * on it).
   */
  get backend(): string {
    if (this.#lib === null) return `zlib ${process.versions.zlib ?? "?"} (Node)`;
    return `libdeflate (${this.#lib.library}, encoder ${this.#lib.fingerprint(this.level)})`;
  }

  compressSync(data: Uint8Array): Uint8Array {
    if (this.#lib !== null) return this.#lib.compress(data, this.level);
    return deflateSync(data, this.#zopts);
  }

  compressSyncScratch(data: Uint8Array): Uint8Array {
    if (this.#lib !== null) return this.#lib.compressScratch(data, this.level);
    return deflateSync(data, this.#zopts);
  }

  /**
   * zlib: async deflate runs on libuv's thread pool, so in-process callers still get parallelism.
   * libdeflate: one synchronous call (worker threads are its parallelism).
   */
  compress(data: Uint8Array): Promise<Uint8Array> {
    if (this.#lib !== null) {
      try {
        return Promise.resolve(this.compressSync(data));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise((resolve, reject) => {
      deflate(data, this.#zopts, (err, out) => (err ? reject(err) : resolve(out)));
    });
  }

  decompress(data: Uint8Array, maxSize: number): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.decompressSync(data, maxSize));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  decompressSync(data: Uint8Array, maxSize: number): Uint8Array {
    if (this.#lib !== null) return this.#lib.decompress(data, Math.max(maxSize, 1));
    // maxOutputLength makes a block that inflates past the block size fail instead of
    // allocating without bound (untrusted images).
    return inflateSync(data, { maxOutputLength: Math.max(maxSize, 1) });
  }

  decompressSyncScratch(data: Uint8Array, maxSize: number): Uint8Array {
    if (this.#lib !== null) return this.#lib.decompressScratch(data, Math.max(maxSize, 1));
    return this.decompressSync(data, maxSize);
  }
}

/** Encode the gzip compressor options struct (format.adoc, "Compression options", gzip). */
export function encodeGzipOptions(level: number): Uint8Array {
  if (!Number.isInteger(level) || level < 1 || level > GZIP_ZLIB_MAX_LEVEL)
    throw new RangeError(`gzip options record levels 1–9, not ${level}`);
  const out = new Uint8Array(GZIP_OPTIONS_SIZE);
  const view = new DataView(out.buffer);
  /** compression_level: 1–9. */
  view.setUint32(0, level, true);
  /** window_size: zlib window bits, 8–15. */
  view.setUint16(4, GZIP_WINDOW_BITS, true);
  /** strategies: bit field of strategies mksquashfs tried; 0 = only the default strategy. */
  view.setUint16(6, 0, true);
  return out;
}

/** What wrote a gzip block, as far as this machine's encoders can tell. */
export interface GzipEncoderMatch {
  backend: GzipBackend;
  /**
   * Every level of that encoder that gives these bytes, ascending: a small block often comes out
   * the same at neighbouring levels (11 and 12, say), and then the image does not tell them apart.
   */
  levels: number[];
}

/**
 * Which of this machine's encoders, at which levels, writes exactly `compressed` from `raw`
 * (the first compressed metadata block of an image, for `inspect`). `recordedLevel` is the level
 * of the options block, or null when there is none (levels 9–12). libdeflate is tried first; null
 * when neither reproduces it: another encoder (mksquashfs's system zlib, another libdeflate
 * release).
 */
export function identifyGzipEncoder(
  raw: Uint8Array,
  compressed: Uint8Array,
  recordedLevel: number | null,
): GzipEncoderMatch | null {
  const levels = recordedLevel === null ? [9, 10, 11, 12] : [recordedLevel];
  const lib = systemLibdeflate();
  const same = (a: Uint8Array): boolean => Buffer.from(a).equals(compressed);
  const byLibdeflate = lib === null ? [] : levels.filter((level) => same(lib.compress(raw, level)));
  if (byLibdeflate.length > 0) return { backend: "libdeflate", levels: byLibdeflate };
  const byZlib = levels.filter(
    (level) =>
      level <= GZIP_ZLIB_MAX_LEVEL &&
      same(deflateSync(raw, { level, windowBits: GZIP_WINDOW_BITS, memLevel: GZIP_MEM_LEVEL })),
  );
  return byZlib.length > 0 ? { backend: "zlib", levels: byZlib } : null;
}
