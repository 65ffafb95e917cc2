import { koffi, systemLibrary, type KoffiFn } from "./system-library.js";

/**
 * The system's LZ4 library (Debian `liblz4-1`) called through koffi (FFI): the library mksquashfs
 * links, so `LZ4_compress_HC` at mksquashfs's level gives its bytes. The npm packages, measured on
 * 24 MB of /usr/bin in 128 KiB blocks: `lz4` (node-lz4, a node-gyp build of LZ4 1.9.2) has HC, but
 * its binding never passes the level, so it always compresses at 9 — not mksquashfs's 12 (0.3420
 * vs 0.3410 of the input); its plain blocks are identical to liblz4's. `lz4js` (pure JavaScript)
 * has no HC and takes 12.1 ms CPU per MB where liblz4 takes 2.6, for other bytes; `lz4-napi`
 * (lz4_flex) has no HC either.
 */
export interface Liblz4 {
  /** liblz4's version, e.g. "1.9.4". */
  readonly version: string;
  /** LZ4_compress_HC at `hcLevel` (1–12), or LZ4_compress_default when it is null. */
  compress(data: Uint8Array, hcLevel: number | null): Uint8Array;
  /** LZ4_decompress_safe: bounded by `maxSize`; throws on corrupt input or overrun. */
  decompress(data: Uint8Array, maxSize: number): Uint8Array;
}

const LIBRARY_NAMES: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ["liblz4.so.1"],
  freebsd: ["liblz4.so.1"],
  darwin: ["liblz4.1.dylib", "/opt/homebrew/lib/liblz4.1.dylib", "/usr/local/lib/liblz4.1.dylib"],
};

const library = systemLibrary(LIBRARY_NAMES, bind);

/** The system liblz4, or null when koffi or the library is unavailable (see liblz4Failure). */
export function systemLiblz4(): Liblz4 | null {
  return library.get();
}

/** Why systemLiblz4() returned null (the last loader error), for the error message. */
export function liblz4Failure(): string {
  return library.failure();
}

function bind(name: string): Liblz4 {
  const ffi = koffi();
  const lib = ffi.load(name);
  const version = String((lib.func("const char *LZ4_versionString(void)") as KoffiFn)());
  // LZ4_compress_HC with a level argument dates from 1.7; 1.8 is the oldest compared here (Debian 10).
  const [major, minor] = version.split(".").map(Number);
  if (major !== 1 || (minor ?? 0) < 8) throw new Error(`liblz4 ${version} is too old (1.8 or later needed)`);
  const compressBound = lib.func("int LZ4_compressBound(int)") as KoffiFn;
  const compressHC = lib.func(
    "int LZ4_compress_HC(const uint8_t *src, uint8_t *dst, int srcSize, int dstCapacity, int level)",
  ) as KoffiFn;
  const compressFast = lib.func(
    "int LZ4_compress_default(const uint8_t *src, uint8_t *dst, int srcSize, int dstCapacity)",
  ) as KoffiFn;
  const decompress = lib.func(
    "int LZ4_decompress_safe(const uint8_t *src, uint8_t *dst, int compressedSize, int dstCapacity)",
  ) as KoffiFn;

  let out = Buffer.alloc(0);
  return {
    version,
    compress(data, hcLevel) {
      // Room for the worst case, so a block never fails for lack of space; the caller keeps the
      // raw block when the result is not smaller (what mksquashfs's block-size limit amounts to).
      const bound = compressBound(data.length) as number;
      if (out.length < bound) out = Buffer.alloc(bound);
      const size = (
        hcLevel === null
          ? compressFast(data, out, data.length, out.length)
          : compressHC(data, out, data.length, out.length, hcLevel)
      ) as number;
      if (size <= 0 && data.length > 0) throw new Error(`LZ4 compression failed (${size})`);
      return Uint8Array.prototype.slice.call(out, 0, size);
    },
    decompress(data, maxSize) {
      const result = Buffer.alloc(maxSize);
      const size = decompress(data, result, data.length, maxSize) as number;
      if (size < 0) throw new Error(`lz4 block is corrupt or inflates past ${maxSize} bytes`);
      return result.subarray(0, size);
    },
  };
}
