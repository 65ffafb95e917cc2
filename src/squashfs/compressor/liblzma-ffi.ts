import { koffi, systemLibrary, type KoffiFn } from "./system-library.js";

/**
 * The system's liblzma called through koffi (FFI), when the platform has one (every Debian/Ubuntu/
 * Fedora/Alpine system with xz-utils: `liblzma.so.5`; macOS with Homebrew's xz: `liblzma.5.dylib`).
 * Why: lzma-native's prebuilt addon statically bundles liblzma 5.2.3 built so that it encodes our
 * blocks 2.3× slower than a distribution's liblzma (measured 379 vs 165 ms CPU per MB, byte-identical
 * output). Only two one-shot, thread-safe entry points are used: `lzma_raw_buffer_encode` (raw LZMA2;
 * the .xz container is ours, xz-container.ts) and `lzma_stream_buffer_decode` (bounded output).
 */
export interface Liblzma {
  /** liblzma's version, e.g. "5.4.1". */
  readonly version: string;
  /** Raw LZMA2 of `data` with preset `level` and dictionary `dictSize`. */
  rawLzma2Encode(data: Uint8Array, level: number, dictSize: number): Uint8Array;
  /** Decode one .xz stream that must fill `data` exactly; throws when it would exceed `maxSize`. */
  streamDecode(data: Uint8Array, maxSize: number): Uint8Array;
}

/** liblzma return codes (lzma/base.h) and constants. */
const LZMA_OK = 0;
const LZMA_BUF_ERROR = 10;
const LZMA_FILTER_LZMA2 = 0x21n;
const LZMA_VLI_UNKNOWN = 0xffffffffffffffffn;
/**
 * Room for `lzma_options_lzma`, which liblzma fills from a preset; dict_size is its first member
 * (uint32_t). The struct is ~112 bytes on 64-bit targets in 5.2–5.8 (reserved fields included).
 */
const OPTIONS_BYTES = 256;
/** Decoder memory limit: a SquashFS block (≤ 1 MiB dictionary) needs ~1 MiB; refuse bigger streams. */
const DECODE_MEMLIMIT = 64n * 1024n * 1024n;

const LIBRARY_NAMES: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ["liblzma.so.5"],
  freebsd: ["liblzma.so.5"],
  darwin: ["liblzma.5.dylib", "/opt/homebrew/lib/liblzma.5.dylib", "/usr/local/lib/liblzma.5.dylib"],
};

const library = systemLibrary(LIBRARY_NAMES, bind);

/** The system liblzma, or null when koffi or the library is unavailable (callers fall back). */
export function systemLiblzma(): Liblzma | null {
  return library.get();
}

function bind(name: string): Liblzma {
  const ffi = koffi();
  const lib = ffi.load(name);
  const versionString = lib.func("const char *lzma_version_string(void)") as KoffiFn;
  const version = String(versionString());
  // 5.2 is the oldest release whose encoder we compared byte for byte (lzma-native bundles 5.2.3).
  const [major, minor] = version.split(".").map(Number);
  if (major !== 5 || (minor ?? 0) < 2) throw new Error(`liblzma ${version} is too old`);
  // Anonymous struct: koffi's named types are process-wide, and every worker thread binds again.
  const filterPtr = ffi.pointer(ffi.struct({ id: "uint64_t", options: "void *" }));
  const preset = lib.func("bool lzma_lzma_preset(_Out_ uint8_t *options, uint32_t preset)") as KoffiFn;
  const rawEncode = lib.func("lzma_raw_buffer_encode", "int", [
    filterPtr,
    "void *",
    "const uint8_t *",
    "size_t",
    "uint8_t *",
    ffi.inout(ffi.pointer("size_t")),
    "size_t",
  ]) as KoffiFn;
  const streamDecode = lib.func(
    "int lzma_stream_buffer_decode(_Inout_ uint64_t *memlimit, uint32_t flags, void *allocator, const uint8_t *in, _Inout_ size_t *in_pos, size_t in_size, uint8_t *out, _Inout_ size_t *out_pos, size_t out_size)",
  ) as KoffiFn;

  const filtersByKey = new Map<string, unknown[]>();
  function filters(level: number, dictSize: number): unknown[] {
    const key = `${level}/${dictSize}`;
    let f = filtersByKey.get(key);
    if (!f) {
      const options = Buffer.alloc(OPTIONS_BYTES);
      if (preset(options, level)) throw new Error(`liblzma has no preset ${level}`);
      options.writeUInt32LE(dictSize, 0);
      f = [
        { id: LZMA_FILTER_LZMA2, options },
        { id: LZMA_VLI_UNKNOWN, options: null },
      ];
      filtersByKey.set(key, f);
    }
    return f;
  }

  let out = Buffer.alloc(0);
  return {
    version,
    rawLzma2Encode(data, level, dictSize) {
      // LZMA2 never expands by more than a 3-byte header per 64 KiB chunk plus the end marker.
      const bound = data.length + 3 * Math.ceil(data.length / 65536) + 64;
      if (out.length < bound) out = Buffer.alloc(bound);
      const pos = [0];
      const ret = rawEncode(filters(level, dictSize), null, data, data.length, out, pos, out.length);
      if (ret !== LZMA_OK) throw new Error(`lzma_raw_buffer_encode failed (lzma_ret ${String(ret)})`);
      return Uint8Array.prototype.slice.call(out, 0, pos[0]);
    },
    streamDecode(data, maxSize) {
      const result = Buffer.alloc(maxSize);
      const memlimit = [DECODE_MEMLIMIT];
      const inPos = [0];
      const outPos = [0];
      const ret = streamDecode(memlimit, 0, null, data, inPos, data.length, result, outPos, result.length);
      // Single-call decoding reports a full output buffer (or truncated input) as LZMA_BUF_ERROR.
      if (ret === LZMA_BUF_ERROR) throw new RangeError(`xz block inflates past ${maxSize} bytes`);
      if (ret !== LZMA_OK) throw new Error(`xz block is corrupt (lzma_ret ${String(ret)})`);
      if (inPos[0] !== data.length) throw new Error("xz block has trailing bytes");
      return result.subarray(0, outPos[0]);
    },
  };
}
