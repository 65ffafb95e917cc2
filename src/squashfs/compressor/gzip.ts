import { deflate, deflateSync, inflateSync } from "node:zlib";
import type { Compressor } from "./compressor.js";

/** Superblock `compression_id` of "gzip" (format.adoc, "Compression"). */
export const GZIP_ID = 1;
/** mksquashfs's default level; at this level (with the defaults below) no options are stored. */
export const GZIP_MKSQUASHFS_LEVEL = 9;
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
 * framing. The kernel's zlib_wrapper only inflates and ignores the options, but unsquashfs and
 * sqfsdiff read them, so we record the level the way mksquashfs does: nothing at its default
 * (level 9, window 15, default strategy), otherwise the 8-byte options struct.
 */
export class GzipCompressor implements Compressor {
  readonly id = GZIP_ID;
  readonly name = "gzip" as const;
  readonly level: number;
  readonly options: Uint8Array | null;
  readonly #zopts: { level: number; windowBits: number; memLevel: number };

  constructor(level: number) {
    this.level = level;
    this.#zopts = { level, windowBits: GZIP_WINDOW_BITS, memLevel: GZIP_MEM_LEVEL };
    this.options = level === GZIP_MKSQUASHFS_LEVEL ? null : encodeGzipOptions(level);
  }

  compressSync(data: Uint8Array): Uint8Array {
    return deflateSync(data, this.#zopts);
  }

  /** Async deflate runs on libuv's thread pool, so in-process callers still get parallelism. */
  compress(data: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      deflate(data, this.#zopts, (err, out) => (err ? reject(err) : resolve(out)));
    });
  }

  decompress(data: Uint8Array, maxSize: number): Promise<Uint8Array> {
    try {
      // maxOutputLength makes a block that inflates past the block size fail instead of
      // allocating without bound (untrusted images).
      return Promise.resolve(inflateSync(data, { maxOutputLength: Math.max(maxSize, 1) }));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

/** Encode the gzip compressor options struct (format.adoc, "Compression options", gzip). */
export function encodeGzipOptions(level: number): Uint8Array {
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
