/**
 * Turning a layer blob into its uncompressed tar stream: compression sniffed and decoded once, by
 * src/decompress.ts (plain, gzip, zstd), a cap on the decompression ratio of untrusted input, and
 * the uncompressed bytes checked against the config's diff_id at the end of the stream.
 */
import { PassThrough, Transform, type Readable, type TransformCallback } from "node:stream";
import { DecompressionLimitError, markDecompressed, openDecompressed } from "../decompress.js";
import { DigestingStream } from "./digest.js";
import { CorruptLayerError, DiffIdMismatchError, TooLargeError } from "./errors.js";

/** gzip's format limit is ~1032:1; zstd can go far beyond. Real layers stay well below this. */
export const DEFAULT_MAX_RATIO = 1100;
/** Output always allowed regardless of ratio (small layers of zero-filled files). */
export const DEFAULT_RATIO_ALLOWANCE = 256 * 1024 * 1024;

/** Counts compressed bytes going in (the caller feeds it) and refuses output beyond the ratio. */
class RatioGuard extends Transform {
  compressedIn = 0;
  #out = 0;
  readonly #maxRatio: number;
  readonly #allowance: number;
  readonly #what: string;
  constructor(maxRatio: number, allowance: number, what: string) {
    super();
    this.#maxRatio = maxRatio;
    this.#allowance = allowance;
    this.#what = what;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#out += chunk.length;
    if (this.#out > this.#allowance && this.#out > this.compressedIn * this.#maxRatio) {
      cb(
        new TooLargeError(
          `${this.#what} decompresses to more than ${this.#maxRatio}× its compressed size; refusing a likely decompression bomb`,
          this.#maxRatio,
          {
            // gzip cannot exceed ~1032:1, so only zstd (or a corrupt count) gets here.
            hint: "no real layer compresses this well; if this one is genuine, recompress it with gzip, or raise image.maxDecompressionRatio (library)",
          },
        ),
      );
      return;
    }
    cb(null, chunk);
  }
}

export interface DecompressOptions {
  /** Expected digest of the uncompressed stream (`rootfs.diff_ids[i]`); checked at its end. */
  diffId?: string;
  layerIndex?: number;
  maxRatio?: number;
  ratioAllowance?: number;
}

/**
 * The uncompressed tar of a layer blob. Errors anywhere upstream (digest mismatch of the blob,
 * corrupt data, diff_id mismatch at the end) surface as an error on the returned stream.
 */
export async function decompressLayer(blob: Readable, opts: DecompressOptions = {}): Promise<Readable> {
  const what = `layer ${opts.layerIndex ?? "?"}`;
  const guard = new RatioGuard(
    opts.maxRatio ?? DEFAULT_MAX_RATIO,
    opts.ratioAllowance ?? DEFAULT_RATIO_ALLOWANCE,
    what,
  );
  const {
    compression: kind,
    compressed: raw,
    stream: dec,
  } = await openDecompressed(blob, {
    onCompressed: (c) => {
      guard.compressedIn += c.length;
    },
  });
  const out = markDecompressed(
    opts.diffId !== undefined
      ? new DigestingStream({
          expected: opts.diffId,
          what,
          mismatch: (actual) => new DiffIdMismatchError(opts.layerIndex ?? -1, opts.diffId ?? "", actual),
        })
      : new PassThrough(),
  );
  const forward = (err: Error): void => {
    out.destroy(err);
  };
  if (kind === "none") {
    raw.on("error", forward);
    raw.pipe(out);
    return out;
  }
  raw.on("error", forward);
  dec.on("error", (err) =>
    forward(
      err instanceof DecompressionLimitError
        ? new DecompressionLimitError(`${what}: ${err.message}`, err.window)
        : kind === "gzip"
          ? new CorruptLayerError(`corrupt gzip ${what}: ${err.message}`, {
              cause: err,
              ...(opts.layerIndex !== undefined ? { layerIndex: opts.layerIndex } : {}),
            })
          : new CorruptLayerError(`corrupt zstd layer: ${err.message}`, { cause: err }),
    ),
  );
  guard.on("error", forward);
  dec.pipe(guard).pipe(out);
  // If the consumer gives up, stop reading the source.
  out.on("close", () => {
    if (!raw.destroyed && !raw.readableEnded) raw.destroy();
    if (raw !== blob && !blob.destroyed) blob.destroy();
  });
  return out;
}
