import lzma from "lzma-native";
import type { Compressor } from "./compressor.js";

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
  return { ...common, mode: MODE_NORMAL, mf: MF_BT4, niceLen: level === 4 ? 16 : level === 5 ? 32 : 64, depth: 0 };
}

/**
 * SquashFS xz: one XZ container per block, LZMA2 only, check CRC32 — the kernel's lib/xz is built
 * without XZ_DEC_ANY_CHECK and fails every read of a CRC64 stream. With dictionary = block size and
 * no BCJ filter, mksquashfs and the kernel's xz_wrapper (dict = max(block size, 8 KiB)) need no
 * compressor options, so none are stored.
 */
export class XzCompressor implements Compressor {
  readonly id = XZ_ID;
  readonly name = "xz" as const;
  readonly level: number;
  readonly options: Uint8Array | null = null;
  readonly #filters: { id: number; options: Record<string, number> }[];

  constructor(level: number, blockSize: number) {
    this.level = level;
    this.#filters = [{ id: lzma.FILTER_LZMA2, options: { ...presetParams(level), dictSize: blockSize } }];
  }

  compressSync(data: Uint8Array): Uint8Array {
    return runNative((s) => s.streamEncoder_(this.#filters, lzma.CHECK_CRC32), data);
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
      const out = runNative((s) => s.streamDecoder_(null, 0), data);
      if (out.length > maxSize) throw new RangeError(`xz block inflates past ${maxSize} bytes`);
      return Promise.resolve(out);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

function runNative(init: (s: NativeLzmaStream) => number, data: Uint8Array): Buffer {
  const Ctor = (lzma as unknown as { Stream: NativeLzmaCtor }).Stream;
  const stream = new Ctor();
  const chunks: Buffer[] = [];
  let failure: unknown = null;
  stream.bufferHandler = (buf, _processed, err) => {
    if (err) failure = err;
    else if (buf) chunks.push(buf);
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
