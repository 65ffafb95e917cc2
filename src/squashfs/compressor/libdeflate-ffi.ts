import { createHash } from "node:crypto";
import { koffi, systemLibrary, type KoffiFn } from "./system-library.js";

/**
 * The system's libdeflate (Debian `libdeflate0`, Homebrew `libdeflate`, vcpkg/MSYS2
 * `libdeflate.dll`) called through koffi (FFI). Its `libdeflate_zlib_compress` writes a zlib
 * stream (RFC 1950), which is exactly a SquashFS "gzip" block. Why: measured on 128 KiB blocks
 * (README, "Default gzip level"), its level 6 writes smaller blocks than zlib's level 9 at a
 * fraction of the CPU, and its levels 10–12 (exhaustive near-optimal parsing) go further. There is
 * no npm binding that exposes its zlib format with levels 10–12 and is kept up.
 *
 * libdeflate is whole-buffer only (no streaming state), which is what a SquashFS block is; each
 * compressor handle is single-threaded, and every worker thread binds its own.
 */
export interface Libdeflate {
  /** Where it was loaded from (the name the loader accepted). */
  readonly library: string;
  /**
   * A fingerprint of this libdeflate's encoder at `level`: the SHA-256 of what it makes of a fixed
   * probe. libdeflate 1.14 exports no version, and releases have changed their output (1.15 and
   * 1.18 retuned the parsers), so this is what says "the same encoder" across machines.
   */
  fingerprint(level: number): string;
  /** libdeflate_zlib_compress at `level` (1–12): a zlib stream, whatever its size. */
  compress(data: Uint8Array, level: number): Uint8Array;
  /**
   * The same, as a view of this binding's output buffer: valid only until its next call (a worker
   * copies it over the block at once; a copy per block was garbage the worker's heap grew on).
   */
  compressScratch(data: Uint8Array, level: number): Uint8Array;
  /** libdeflate_zlib_decompress: bounded by `maxSize`; throws on corrupt input or overrun. */
  decompress(data: Uint8Array, maxSize: number): Uint8Array;
  /** The same, as a view of this binding's inflate buffer: valid only until its next call. */
  decompressScratch(data: Uint8Array, maxSize: number): Uint8Array;
}

/** libdeflate_result (libdeflate.h). */
const LIBDEFLATE_SUCCESS = 0;
const LIBDEFLATE_INSUFFICIENT_SPACE = 3;

/**
 * Linux/FreeBSD: the soname `libdeflate.so.0` (Debian/Ubuntu `libdeflate0`, Fedora `libdeflate`,
 * Alpine `libdeflate`). macOS: Homebrew's `libdeflate.0.dylib` on the loader's path, then in
 * Homebrew's prefixes (Apple silicon, Intel), which the loader does not search. Windows: the
 * `libdeflate.dll` its CMake build, vcpkg and MSYS2 install, found on PATH or beside node.exe.
 */
const LIBRARY_NAMES: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ["libdeflate.so.0"],
  freebsd: ["libdeflate.so.0"],
  darwin: [
    "libdeflate.0.dylib",
    "/opt/homebrew/lib/libdeflate.0.dylib",
    "/usr/local/lib/libdeflate.0.dylib",
    "/opt/homebrew/lib/libdeflate.dylib",
    "/usr/local/lib/libdeflate.dylib",
  ],
  win32: ["libdeflate.dll", "deflate.dll"],
};

const library = systemLibrary(LIBRARY_NAMES, bind);

/** The system libdeflate, or null when koffi or the library is unavailable (see libdeflateFailure). */
export function systemLibdeflate(): Libdeflate | null {
  return library.get();
}

/** Why systemLibdeflate() returned null (the last loader error), for the error message. */
export function libdeflateFailure(): string {
  return library.failure();
}

/** 64 KiB of deterministic text-like bytes: enough matches and literals to exercise the parser. */
function probe(): Uint8Array {
  const words = ["squashfs", "block", "inode", "/usr/lib/", "fragment", "\n", "0x7f", "ELF", "golem"];
  const out = new Uint8Array(65536);
  let seed = 0x12345678;
  let n = 0;
  while (n < out.length) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const w = words[seed % words.length]!;
    for (let i = 0; i < w.length && n < out.length; i++) out[n++] = w.charCodeAt(i);
    if (n < out.length) out[n++] = (seed >>> 16) & 0xff;
  }
  return out;
}

function bind(name: string): Libdeflate {
  const ffi = koffi();
  const lib = ffi.load(name);
  const alloc = lib.func("void *libdeflate_alloc_compressor(int level)") as KoffiFn;
  const compressBound = lib.func(
    "size_t libdeflate_zlib_compress_bound(void *c, size_t in_nbytes)",
  ) as KoffiFn;
  const zlibCompress = lib.func(
    "size_t libdeflate_zlib_compress(void *c, const uint8_t *in, size_t in_nbytes, _Out_ uint8_t *out, size_t out_nbytes_avail)",
  ) as KoffiFn;
  const allocDecompressor = lib.func("void *libdeflate_alloc_decompressor(void)") as KoffiFn;
  const zlibDecompress = lib.func(
    "int libdeflate_zlib_decompress_ex(void *d, const uint8_t *in, size_t in_nbytes, _Out_ uint8_t *out, size_t out_nbytes_avail, _Out_ size_t *actual_in, _Out_ size_t *actual_out)",
  ) as KoffiFn;

  // One compressor per level for the life of the thread (each holds ~1 MB of match-finder state
  // at the high levels; a run uses one level). Never freed: the thread's exit frees them.
  const compressors = new Map<number, unknown>();
  const compressor = (level: number): unknown => {
    let c = compressors.get(level);
    if (c === undefined) {
      c = alloc(level);
      if (c === null) throw new Error(`libdeflate_alloc_compressor(${level}) failed`);
      compressors.set(level, c);
    }
    return c;
  };
  let decompressor: unknown = null;
  const fingerprints = new Map<number, string>();

  let out = Buffer.alloc(0);
  let inflated = Buffer.alloc(0);
  const api: Libdeflate = {
    library: name,
    fingerprint(level) {
      let f = fingerprints.get(level);
      if (f === undefined) {
        const bytes = api.compress(probe(), level);
        f = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
        fingerprints.set(level, f);
      }
      return f;
    },
    compress(data, level) {
      return Uint8Array.prototype.slice.call(api.compressScratch(data, level));
    },
    compressScratch(data, level) {
      // Room for the worst case, so a block never fails for lack of space; the caller keeps the
      // raw block when the result is not smaller.
      const c = compressor(level);
      const bound = compressBound(c, data.length) as number;
      if (out.length < bound) out = Buffer.alloc(bound);
      const size = zlibCompress(c, data, data.length, out, out.length) as number;
      if (size === 0) throw new Error("libdeflate_zlib_compress failed");
      return out.subarray(0, size);
    },
    decompress(data, maxSize) {
      return Uint8Array.prototype.slice.call(api.decompressScratch(data, maxSize));
    },
    decompressScratch(data, maxSize) {
      decompressor ??= allocDecompressor();
      if (decompressor === null) throw new Error("libdeflate_alloc_decompressor failed");
      // Not zero-filled: libdeflate writes every byte it reports, and only those are returned.
      if (inflated.length < maxSize) inflated = Buffer.allocUnsafeSlow(maxSize);
      const inUsed = [0];
      const outUsed = [0];
      const ret = zlibDecompress(
        decompressor,
        data,
        data.length,
        inflated,
        maxSize,
        inUsed,
        outUsed,
      ) as number;
      if (ret === LIBDEFLATE_INSUFFICIENT_SPACE)
        throw new RangeError(`gzip block inflates past ${maxSize} bytes`);
      if (ret !== LIBDEFLATE_SUCCESS) throw new Error(`gzip block is corrupt (libdeflate result ${ret})`);
      if (inUsed[0] !== data.length) throw new Error("gzip block has trailing bytes");
      return inflated.subarray(0, outUsed[0]);
    },
  };
  return api;
}
