import type { Compressor } from "./compressor.js";
import { type Liblzo, liblzoFailure, systemLiblzo } from "./liblzo-ffi.js";
import { CompressorLibraryError } from "./library-error.js";

/** Superblock `compression_id` of lzo (format.adoc, "Compression"). */
export const LZO_ID = 3;
/** squashfs-tools' algorithm number for lzo1x_999 (lzo_wrapper.h: 1x_1 0, 1x_1_11 1, 1x_1_12 2, 1x_1_15 3, 1x_999 4). */
export const LZO_ALGORITHM_1X_999 = 4;
/** mksquashfs's default lzo1x_999 level; with it (and lzo1x_999) no options are stored. */
export const LZO_MKSQUASHFS_LEVEL = 8;
/** Size of the lzo compressor options: u32 algorithm, u32 compression_level. */
export const LZO_OPTIONS_SIZE = 8;

/**
 * SquashFS lzo, as mksquashfs writes it: lzo1x_999 at the chosen level (1–9), then
 * lzo1x_optimize over the result (same size, faster to decode), one raw LZO1X stream per block.
 * The kernel's lzo_wrapper decodes with lzo1x_decompress_safe and ignores the options; unsquashfs
 * and sqfsdiff read them, so, like mksquashfs, we store them only for a level other than 8.
 */
export class LzoCompressor implements Compressor {
  readonly id = LZO_ID;
  readonly name = "lzo" as const;
  readonly level: number;
  readonly options: Uint8Array | null;
  readonly #lib: Liblzo;

  constructor(level: number) {
    const lib = systemLiblzo();
    if (lib === null) throw new CompressorLibraryError("lzo", liblzoFailure());
    this.#lib = lib;
    this.level = level;
    this.options = level === LZO_MKSQUASHFS_LEVEL ? null : encodeLzoOptions(level);
  }

  /** "liblzo2 <version> (system)": which encoder this instance drives. */
  get backend(): string {
    return `liblzo2 ${this.#lib.version} (system)`;
  }

  compressSync(data: Uint8Array): Uint8Array {
    return this.#lib.compress999(data, this.level);
  }

  // One synchronous library call each; async only so that a throw becomes a rejection.
  async compress(data: Uint8Array): Promise<Uint8Array> {
    return this.compressSync(data);
  }

  async decompress(data: Uint8Array, maxSize: number): Promise<Uint8Array> {
    return this.#lib.decompress(data, maxSize);
  }

  decompressSync(data: Uint8Array, maxSize: number): Uint8Array {
    return this.#lib.decompress(data, maxSize);
  }
}

/** Encode the lzo compressor options struct (format.adoc, "Compression options", lzo). */
export function encodeLzoOptions(level: number): Uint8Array {
  const out = new Uint8Array(LZO_OPTIONS_SIZE);
  const view = new DataView(out.buffer);
  /** algorithm: 4 = lzo1x_999 (the only one gvmconv writes). */
  view.setUint32(0, LZO_ALGORITHM_1X_999, true);
  /** compression_level: 1–9, meaningful for lzo1x_999 only. */
  view.setUint32(4, level, true);
  return out;
}
