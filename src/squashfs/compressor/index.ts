import { GvmconvError } from "../../errors.js";
import { type CompressionName, type GzipBackend, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from "../options.js";
import type { Compressor, CompressorSpec } from "./compressor.js";
import { GZIP_ZLIB_MAX_LEVEL, GzipCompressor } from "./gzip.js";
import { libdeflateFailure, systemLibdeflate } from "./libdeflate-ffi.js";
import { CompressorLibraryError } from "./library-error.js";
import { Lz4Compressor } from "./lz4.js";
import { LzoCompressor } from "./lzo.js";
import { XzCompressor } from "./xz.js";

export type { Compressor, CompressorSpec } from "./compressor.js";
export { GzipCompressor, identifyGzipEncoder, type GzipEncoderMatch } from "./gzip.js";
export { XzCompressor } from "./xz.js";
export { LzoCompressor } from "./lzo.js";
export { Lz4Compressor } from "./lz4.js";
export { CompressorLibraryError } from "./library-error.js";
export type { GzipBackend, XzBackend } from "../options.js";

/**
 * Level ranges the format's compressors accept (gzip: libdeflate's 1–12, of which zlib has 1–9;
 * xz presets; lzo: lzo1x_999's levels; lz4: mksquashfs has no level, only -Xhc, so 0 = plain
 * LZ4, 1 = HC).
 */
export const LEVEL_RANGE = { gzip: [1, 12], xz: [0, 9], lzo: [1, 9], lz4: [0, 1] } as const;

/** A compression level outside what the chosen compressor accepts. */
export class InvalidCompressionLevelError extends GvmconvError {
  readonly compression: string;
  readonly level: number;
  constructor(compression: string, level: number, min: number, max: number) {
    super(
      "E_SQUASHFS_COMPRESSION_LEVEL",
      `${compression} compression level ${level} is not an integer from ${min} to ${max}`,
      {
        hint:
          compression === "lz4"
            ? "pass 0 (plain LZ4) or 1 (LZ4 HC, the default: mksquashfs -Xhc)"
            : compression === "gzip" && max === GZIP_ZLIB_MAX_LEVEL
              ? "zlib has levels 1 to 9; levels 10 to 12 need the libdeflate backend (unset GVMCONV_GZIP_BACKEND=zlib)"
              : `pass a level from ${min} to ${max}`,
      },
    );
    this.compression = compression;
    this.level = level;
  }
}

/** A compressor name the writer does not know (Golem's kernel reads gzip, xz, lzo and lz4). */
export class UnknownCompressionError extends GvmconvError {
  readonly compression: string;
  constructor(compression: string) {
    super("E_SQUASHFS_COMPRESSION_UNKNOWN", `unknown compression "${compression}"`, {
      hint: "use gzip, xz, lzo or lz4",
    });
    this.compression = compression;
  }
}

/** A data block size the format does not allow. */
export class InvalidBlockSizeError extends GvmconvError {
  readonly blockSize: number;
  constructor(blockSize: number) {
    super("E_SQUASHFS_BLOCK_SIZE", `block size ${blockSize} is not a power of two from 4 KiB to 1 MiB`, {
      hint: "use a block size such as 131072",
    });
    this.blockSize = blockSize;
  }
}

/** Validate a block size: a power of two in [4 KiB, 1 MiB] (format.adoc, superblock block_size). */
export function checkBlockSize(blockSize: number): void {
  if (
    !Number.isInteger(blockSize) ||
    blockSize < MIN_BLOCK_SIZE ||
    blockSize > MAX_BLOCK_SIZE ||
    (blockSize & (blockSize - 1)) !== 0
  ) {
    throw new InvalidBlockSizeError(blockSize);
  }
}

/** Build the compressor `spec` describes; throws typed errors on a bad name, level or block size. */
export function createCompressor(spec: CompressorSpec): Compressor {
  checkBlockSize(spec.blockSize);
  const name: string = spec.name;
  if (!Object.hasOwn(LEVEL_RANGE, name)) throw new UnknownCompressionError(name);
  const known = name as CompressionName;
  const [min, max] = LEVEL_RANGE[known];
  if (!Number.isInteger(spec.level) || spec.level < min || spec.level > max) {
    throw new InvalidCompressionLevelError(known, spec.level, min, max);
  }
  switch (known) {
    case "gzip": {
      // zlib stops at 9; libdeflate is needed for 10–12, and asked for by name it must load.
      if (spec.gzipBackend === "zlib") {
        if (spec.level > GZIP_ZLIB_MAX_LEVEL)
          throw new InvalidCompressionLevelError(known, spec.level, min, GZIP_ZLIB_MAX_LEVEL);
        return new GzipCompressor(spec.level, null);
      }
      const lib = systemLibdeflate();
      if (lib === null && (spec.gzipBackend === "libdeflate" || spec.level > GZIP_ZLIB_MAX_LEVEL))
        throw new CompressorLibraryError("gzip", libdeflateFailure(), spec.level);
      return new GzipCompressor(spec.level, lib);
    }
    case "xz":
      return new XzCompressor(spec.level, spec.blockSize, spec.xzBackend);
    case "lzo":
      return new LzoCompressor(spec.level);
    case "lz4":
      return new Lz4Compressor(spec.level);
  }
}

/**
 * Which gzip encoder `spec` gets on this machine: its own choice, else libdeflate when it loads or
 * when only libdeflate has the level (10–12: then createCompressor says the library is missing).
 */
export function resolveGzipBackend(spec: CompressorSpec): GzipBackend {
  if (spec.gzipBackend !== undefined) return spec.gzipBackend;
  return spec.level > GZIP_ZLIB_MAX_LEVEL || systemLibdeflate() !== null ? "libdeflate" : "zlib";
}
