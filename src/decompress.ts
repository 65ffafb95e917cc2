/**
 * The one place a compressed input is recognized: layer blobs (src/oci) and the tars the
 * `squashfs` command reads (src/layers) are sniffed here, from their magic bytes (registries
 * mislabel media types; the bytes do not lie), and decoded: gzip via node:zlib, zstd via fzstd's
 * streaming decoder (Node 20 has no zstd), behind a frame guard that refuses windows past
 * `MAX_ZSTD_WINDOW` before fzstd allocates them (zstd-frame-guard.ts). gzip needs no such guard:
 * inflate's memory is its 32 KiB window whatever the stream claims, and its ratio stops at ~1032:1.
 *
 * A layer is sniffed once. The convert pipeline hands the layer decompressor's output to the tar
 * reader, which also accepts compressed tars: streams this module has decided are uncompressed
 * are remembered (`markDecompressed`), and `openDecompressed` takes them as they are instead of
 * looking at their first bytes again.
 */
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { createGunzip } from "node:zlib";
import { Decompress } from "fzstd";
import { GvmconvError } from "./errors.js";
import { peek } from "./stream-peek.js";
import { MAX_ZSTD_WINDOW, ZstdFrameError, ZstdFrameGuard } from "./zstd-frame-guard.js";

export { MAX_ZSTD_WINDOW } from "./zstd-frame-guard.js";

/** A compressed stream asks for more decoder memory than gvmconv allows (a zstd window past the bound). */
export class DecompressionLimitError extends GvmconvError {
  readonly window: number | undefined;
  constructor(message: string, window?: number) {
    super("E_TAR_COMPRESSION_LIMIT", message, {
      hint: "recompress it with zstd level 19 or lower, without --ultra or --long (or with gzip)",
    });
    this.window = window;
  }
}

export type Compression = "gzip" | "zstd" | "none";

export function sniffCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

// 256 KiB output chunks instead of zlib's 16 KiB: every chunk is one trip through libuv's thread
// pool and one callback on the main thread. Gunzipping a 313 MiB layer (629 MB out) cost 3.6 s
// of CPU at 16 KiB, 1.7 s at 64 KiB, 1.3 s at 256 KiB and 1.2 s at 1 MiB.
const GUNZIP_CHUNK = 256 * 1024;

/**
 * fzstd's streaming decoder as a node Transform. Corrupt data fails with fzstd's own error (or
 * the frame guard's); a window past `maxWindow` with `DecompressionLimitError`, before fzstd
 * allocates it (see zstd-frame-guard.ts).
 *
 * fzstd decodes everything it is given in one call, ignoring backpressure: a 64 KiB chunk of RLE
 * blocks is 2 GiB of output at once (measured: a 500 MB bomb peaked at 641 MiB resident). So each
 * chunk is fed one block at a time, cut where the guard saw blocks end, and the next block waits
 * while the output buffer is full: at most one block (128 KiB) is decoded ahead of the reader.
 */
class ZstdDecompressStream extends Transform {
  readonly #z: Decompress;
  readonly #guard: ZstdFrameGuard;
  /** Resolves the feed loop's wait for the reader (set while the output buffer is full). */
  #resume: (() => void) | undefined;
  constructor(maxWindow: number) {
    super();
    this.#guard = new ZstdFrameGuard(maxWindow);
    // fzstd may hand out views of its window buffer: copy before pushing downstream.
    this.#z = new Decompress((data) => {
      if (data.length > 0) this.push(Buffer.from(data));
    });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let cuts: number[];
    try {
      cuts = this.#guard.check(chunk);
    } catch (err) {
      cb(zstdError(err));
      return;
    }
    this.#feed(chunk, cuts).then(
      () => cb(),
      (err: unknown) => cb(zstdError(err)),
    );
  }
  async #feed(chunk: Buffer, cuts: number[]): Promise<void> {
    let start = 0;
    for (const end of [...cuts, chunk.length]) {
      if (this.destroyed) return;
      this.#z.push(chunk.subarray(start, end));
      start = end;
      if (this.readableLength >= this.readableHighWaterMark && !this.destroyed) {
        await new Promise<void>((resolve) => (this.#resume = resolve));
      }
    }
  }
  #wake(): void {
    const resume = this.#resume;
    this.#resume = undefined;
    resume?.();
  }
  override _read(size: number): void {
    this.#wake();
    super._read(size);
  }
  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#wake();
    super._destroy(err, cb);
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.#z.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

function zstdError(err: unknown): Error {
  return err instanceof ZstdFrameError && err.kind === "limit"
    ? new DecompressionLimitError(err.message, err.window)
    : (err as Error);
}

export interface Decompression {
  /** What the first bytes said ("none" for a stream already marked as decompressed). */
  compression: Compression;
  /** The input from its first byte (the sniffed bytes are put back): what to count or watch. */
  compressed: Readable;
  /**
   * The uncompressed bytes: `compressed` itself when it is plain, else the decoder it is piped
   * into, whose own errors mean corrupt data. `pipe()` does not carry `compressed`'s errors to
   * the decoder: each caller routes them, since only it knows what they mean.
   */
  stream: Readable;
}

const decompressed = new WeakSet<Readable>();

/** Records that `stream` carries uncompressed bytes, so `openDecompressed` does not sniff it again. */
export function markDecompressed<T extends Readable>(stream: T): T {
  decompressed.add(stream);
  return stream;
}

/**
 * Sniffs `input` (plain, gzip or zstd) and opens its uncompressed bytes. `onCompressed` sees each
 * compressed chunk as it is read (to cap the decompression ratio of untrusted input).
 */
export async function openDecompressed(
  input: Readable,
  opts: {
    onCompressed?: (chunk: Buffer) => void;
    /** The largest zstd window decoded (default `MAX_ZSTD_WINDOW`, 8 MiB). */
    maxZstdWindow?: number;
  } = {},
): Promise<Decompression> {
  if (decompressed.has(input)) return { compression: "none", compressed: input, stream: input };
  // The bytes are put back into the input, which is then read directly: re-yielding every chunk
  // through an async generator and a new Readable cost a promise per chunk and ~20 MB of garbage
  // on the main thread in the pipeline benchmark.
  const { head, stream: compressed } = await peek(input, 4);
  const compression = sniffCompression(head);
  if (compression === "none") return { compression, compressed, stream: markDecompressed(compressed) };
  const { onCompressed } = opts;
  if (onCompressed) compressed.on("data", onCompressed);
  const decoder: Transform =
    compression === "gzip"
      ? createGunzip({ chunkSize: GUNZIP_CHUNK })
      : new ZstdDecompressStream(opts.maxZstdWindow ?? MAX_ZSTD_WINDOW);
  compressed.pipe(decoder);
  return { compression, compressed, stream: markDecompressed(decoder) };
}
