import { koffi, systemLibrary, type KoffiFn } from "./system-library.js";

/**
 * The system's LZO library (liblzo2, Debian `liblzo2-2`) called through koffi (FFI). Why native:
 * mksquashfs writes lzo1x_999 blocks and then runs `lzo1x_optimize` over them, and no npm package
 * offers either. `lzo` (node-lzo, a node-gyp build) bundles miniLZO, which has lzo1x_1 only:
 * measured on 24 MB of /usr/bin in 128 KiB blocks, its blocks are 37% bigger than lzo1x_999 level
 * 8's (0.443 vs 0.322 of the input), at 2.6 vs 128 ms CPU per MB. Every distribution that ships
 * squashfs-tools ships liblzo2. Only one-shot, thread-safe entry points are used, with work
 * buffers per thread (each worker binds its own).
 */
export interface Liblzo {
  /** liblzo2's version, e.g. "2.10". */
  readonly version: string;
  /** lzo1x_999 at `level` (1–9), then lzo1x_optimize, as mksquashfs's lzo_wrapper.c does. */
  compress999(data: Uint8Array, level: number): Uint8Array;
  /** lzo1x_decompress_safe: never writes past `maxSize`; throws on corrupt input or overrun. */
  decompress(data: Uint8Array, maxSize: number): Uint8Array;
}

/** liblzo2 return codes (lzo/lzoconf.h). */
const LZO_E_OK = 0;
const LZO_E_OUTPUT_OVERRUN = -5;
/** LZO1X_999_MEM_COMPRESS = 14 · 16384 · sizeof(short) (lzo/lzo1x.h). */
const LZO1X_999_MEM_COMPRESS = 14 * 16384 * 2;

/** Debian/Ubuntu/Fedora/Alpine: liblzo2.so.2 (package liblzo2-2 / lzo); macOS Homebrew: liblzo2.2.dylib. */
const LIBRARY_NAMES: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ["liblzo2.so.2"],
  freebsd: ["liblzo2.so.2"],
  darwin: ["liblzo2.2.dylib", "/opt/homebrew/lib/liblzo2.2.dylib", "/usr/local/lib/liblzo2.2.dylib"],
};

const library = systemLibrary(LIBRARY_NAMES, bind);

/** The system liblzo2, or null when koffi or the library is unavailable (see liblzoFailure). */
export function systemLiblzo(): Liblzo | null {
  return library.get();
}

/** Why systemLiblzo() returned null (the last loader error), for the error message. */
export function liblzoFailure(): string {
  return library.failure();
}

function bind(name: string): Liblzo {
  const ffi = koffi();
  const lib = ffi.load(name);
  const versionString = String((lib.func("const char *lzo_version_string(void)") as KoffiFn)());
  const versionNumber = (lib.func("unsigned int lzo_version(void)") as KoffiFn)() as number;
  // lzo_init(): the library checks the caller's idea of its type sizes (LP64 / LLP64 alike:
  // short 2, int 4, long, lzo_uint32_t 4, lzo_uint = size_t, dict_t = pointer, char*, void*,
  // lzo_callback_t = 6 pointer-sized members).
  const init = lib.func(
    "int __lzo_init_v2(unsigned int, int, int, int, int, int, int, int, int, int)",
  ) as KoffiFn;
  const ptr = ffi.sizeof("void *");
  const ret = init(versionNumber, 2, 4, ffi.sizeof("long"), 4, ffi.sizeof("size_t"), ptr, ptr, ptr, 6 * ptr);
  if (ret !== LZO_E_OK) throw new Error(`lzo_init failed (${String(ret)})`);
  const compress = lib.func(
    "int lzo1x_999_compress_level(const uint8_t *src, size_t src_len, uint8_t *dst, _Inout_ size_t *dst_len, void *wrkmem, const uint8_t *dict, size_t dict_len, void *cb, int level)",
  ) as KoffiFn;
  const optimize = lib.func(
    "int lzo1x_optimize(uint8_t *src, size_t src_len, uint8_t *dst, _Inout_ size_t *dst_len, void *wrkmem)",
  ) as KoffiFn;
  const decompress = lib.func(
    "int lzo1x_decompress_safe(const uint8_t *src, size_t src_len, uint8_t *dst, _Inout_ size_t *dst_len, void *wrkmem)",
  ) as KoffiFn;

  // Per thread (each worker binds its own): the compressor's work memory, its output, and the
  // buffer lzo1x_optimize decompresses into (it needs the data back, and the caller's block is
  // not ours to write).
  const work = Buffer.alloc(LZO1X_999_MEM_COMPRESS);
  let out = Buffer.alloc(0);
  let scratch = Buffer.alloc(0);
  return {
    version: versionString,
    compress999(data, level) {
      // LZO1X worst case: n + n/16 + 64 + 3 (lzo's own documentation, LZO.FAQ).
      const bound = data.length + Math.ceil(data.length / 16) + 67;
      if (out.length < bound) out = Buffer.alloc(bound);
      if (scratch.length < data.length) scratch = Buffer.alloc(data.length);
      const outLen = [out.length];
      let r = compress(data, data.length, out, outLen, work, null, 0, null, level);
      if (r !== LZO_E_OK) throw new Error(`lzo1x_999_compress_level failed (${String(r)})`);
      const size = outLen[0]!;
      const back = [data.length];
      r = optimize(out, size, scratch, back, null);
      if (r !== LZO_E_OK || back[0] !== data.length) throw new Error(`lzo1x_optimize failed (${String(r)})`);
      return Uint8Array.prototype.slice.call(out, 0, size);
    },
    decompress(data, maxSize) {
      const result = Buffer.alloc(maxSize);
      const outLen = [maxSize];
      const r = decompress(data, data.length, result, outLen, null);
      if (r === LZO_E_OUTPUT_OVERRUN) throw new RangeError(`lzo block inflates past ${maxSize} bytes`);
      if (r !== LZO_E_OK) throw new Error(`lzo block is corrupt (lzo error ${String(r)})`);
      return result.subarray(0, outLen[0]);
    },
  };
}
