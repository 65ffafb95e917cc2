import { createRequire } from "node:module";
import type { XzBackend } from "../options.js";
import type { Compressor } from "./compressor.js";
import { type Liblzma, systemLiblzma } from "./liblzma-ffi.js";
import { encodeXzStream } from "./xz-container.js";

/** Superblock `compression_id` of xz (format.adoc, "Compression"). */
export const XZ_ID = 4;

/**
 * The parts of lzma-native's native `Stream` we drive directly. Its JS Transform wrapper defers
 * every callback through setImmediate even in synchronous mode; the native object called with
 * `async = false` runs liblzma on this thread and reports output before `code()` returns, which
 * is what a worker thread wants (no event-loop round trips per 128 KiB block).
 */
interface NativeLzmaStream {
  bufferHandler: (buf: Buffer | null | undefined, processed: unknown, err: unknown) => void;
  streamEncoder_(filters: { id: number; options: Record<string, number> }[], check: number): number;
  streamDecoder_(memlimit: number | null, flags: number): number;
  code(chunk: Uint8Array | null, async: boolean): void;
  resetUnderlying(): void;
}
type NativeLzmaCtor = new () => NativeLzmaStream;
interface LzmaNative {
  Stream: NativeLzmaCtor;
  FILTER_LZMA2: number;
  CHECK_CRC32: number;
}

let native: LzmaNative | undefined;
/**
 * lzma-native, loaded on first use only: with a system liblzma it is never needed, and a native
 * addon loaded by every compression worker is one more thing that must not be interrupted
 * mid-initialisation (see WorkerPool.close in writer/task-pool.ts).
 */
function lzmaNative(): LzmaNative {
  native ??= createRequire(import.meta.url)("lzma-native") as LzmaNative;
  return native;
}

/** liblzma LZMA_MODE_FAST / LZMA_MODE_NORMAL and match finders (lzma/lzma12.h). */
const MODE_FAST = 1;
const MODE_NORMAL = 2;
const MF_HC3 = 0x03;
const MF_HC4 = 0x04;
const MF_BT4 = 0x14;

/**
 * LZMA2 parameters of xz preset `level` (liblzma lzma_encoder_presets.c) without its dictionary.
 * lzma-native applies `preset` after `dictSize`, so passing both would silently give the preset's
 * 8 MiB dictionary — which the kernel rejects (it preallocates block-size dictionaries). We spell
 * the preset out instead and set dictSize = block size ourselves.
 */
function presetParams(level: number): Record<string, number> {
  const common = { lc: 3, lp: 0, pb: 2 };
  if (level <= 3) {
    return {
      ...common,
      mode: MODE_FAST,
      mf: level === 0 ? MF_HC3 : MF_HC4,
      niceLen: level <= 1 ? 128 : 273,
      depth: [4, 8, 24, 48][level] ?? 0,
    };
  }
  return {
    ...common,
    mode: MODE_NORMAL,
    mf: MF_BT4,
    niceLen: level === 4 ? 16 : level === 5 ? 32 : 64,
    depth: 0,
  };
}

/**
 * SquashFS xz: one XZ container per block, LZMA2 only, check CRC32 — the kernel's lib/xz is built
 * without XZ_DEC_ANY_CHECK and fails every read of a CRC64 stream. With dictionary = block size and
 * no BCJ filter, mksquashfs and the kernel's xz_wrapper (dict = max(block size, 8 KiB)) need no
 * compressor options, so none are stored.
 *
 * Encoding: the system liblzma (liblzma-ffi.ts) when available, 2.3× less CPU than lzma-native's
 * bundled 5.2.3; its raw LZMA2 goes into our own container (xz-container.ts), laid out exactly as
 * liblzma's stream encoder lays it out, so both backends give the same bytes for the same block.
 */
export class XzCompressor implements Compressor {
  readonly id = XZ_ID;
  readonly name = "xz" as const;
  readonly level: number;
  readonly options: Uint8Array | null = null;
  readonly #dictSize: number;
  readonly #lib: Liblzma | null;

  constructor(level: number, blockSize: number, backend: XzBackend = "liblzma") {
    this.level = level;
    this.#dictSize = blockSize;
    this.#lib = backend === "lzma-native" ? null : systemLiblzma();
  }

  /** "liblzma <version> (system)" or "lzma-native" — which encoder this instance drives. */
  get backend(): string {
    return this.#lib ? `liblzma ${this.#lib.version} (system)` : "lzma-native";
  }

  compressSync(data: Uint8Array): Uint8Array {
    if (this.#lib)
      return encodeXzStream(this.#lib.rawLzma2Encode(data, this.level, this.#dictSize), data, this.#dictSize);
    const lzma = lzmaNative();
    const filters = [
      { id: lzma.FILTER_LZMA2, options: { ...presetParams(this.level), dictSize: this.#dictSize } },
    ];
    return runNative((s) => s.streamEncoder_(filters, lzma.CHECK_CRC32), data);
  }

  compress(data: Uint8Array): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.compressSync(data));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  decompress(data: Uint8Array, maxSize: number): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.decompressSync(data, maxSize));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  decompressSync(data: Uint8Array, maxSize: number): Uint8Array {
    if (this.#lib) return this.#lib.streamDecode(data, maxSize);
    return runNative((s) => s.streamDecoder_(DECODE_MEMLIMIT, 0), data, maxSize);
  }
}

/** Decoder memory limit: a SquashFS block (≤ 1 MiB dictionary) needs ~1 MiB. */
const DECODE_MEMLIMIT = 64 * 1024 * 1024;

/**
 * Run one native stream over `data`. With `maxOut`, output past it is dropped as it arrives and
 * the call fails, so a hostile block costs at most `maxOut` plus one liblzma output chunk.
 */
function runNative(init: (s: NativeLzmaStream) => number, data: Uint8Array, maxOut = Infinity): Buffer {
  const stream = new (lzmaNative().Stream)();
  const chunks: Buffer[] = [];
  let total = 0;
  let failure: unknown = null;
  stream.bufferHandler = (buf, _processed, err) => {
    if (failure !== null) return;
    if (err) failure = err;
    else if (buf) {
      total += buf.length;
      if (total > maxOut) failure = new RangeError(`xz block inflates past ${maxOut} bytes`);
      else chunks.push(buf);
    }
  };
  try {
    const ret = init(stream);
    if (ret !== 0) throw new Error(`liblzma init failed (lzma_ret ${ret})`);
    stream.code(data, false);
    stream.code(null, false);
  } finally {
    stream.resetUnderlying();
  }
  if (failure !== null) throw failure instanceof Error ? failure : new Error(String(failure));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
