/**
 * The writing bar of a conversion. It counts the uncompressed layer bytes the merge reads, so it
 * moves inside a large file (the file's bytes stream through the tar reader into the writer), not
 * once per file. Its total is the uncompressed size of all layers, which no manifest states: it
 * starts as the compressed sizes times a typical gzip ratio and is corrected from the ratio
 * measured on what has been read, then set exactly when the merge ends.
 */
import type { ProgressTask, Reporter } from "../reporter.js";

/** Layer tars shrink about 2.5× under gzip; the first estimate only, replaced once bytes are read. */
const PRIOR_RATIO = 2.5;
/** Compressed bytes read before the measured ratio replaces the prior. */
const MEASURED_AFTER = 256 * 1024;
/** A new estimate is reported only when it moves by more than this fraction (no jitter). */
const REESTIMATE_STEP = 0.01;

export class WriteProgress {
  readonly #task: ProgressTask;
  readonly #compressedTotal: number;
  #compressed = 0;
  #uncompressed = 0;
  #total: number;
  /** Layers already counted: a second read (a hard link's target) is work, not progress. */
  readonly #counted = new Set<number>();

  constructor(reporter: Reporter, layers: readonly { size: number }[]) {
    this.#compressedTotal = layers.reduce((n, l) => n + l.size, 0);
    this.#total = Math.round(this.#compressedTotal * PRIOR_RATIO);
    this.#task = reporter.task("writing", this.#total, { kind: "write" });
  }

  /** The `onProgress` of layer `index`'s first read; undefined for a later read of it. */
  layer(index: number): ((compressed: number, uncompressed: number) => void) | undefined {
    if (this.#counted.has(index)) return undefined;
    this.#counted.add(index);
    let compressedSeen = 0;
    let uncompressedSeen = 0;
    return (compressed, uncompressed) => {
      this.#compressed += compressed - compressedSeen;
      const bytes = uncompressed - uncompressedSeen;
      this.#uncompressed += bytes;
      compressedSeen = compressed;
      uncompressedSeen = uncompressed;
      this.#task.advance(bytes);
      this.#reestimate();
    };
  }

  /** The merge is over: the total is what was read. */
  finish(): void {
    this.#task.setTotal(this.#uncompressed);
  }

  done(): void {
    this.#task.done();
  }

  #reestimate(): void {
    // Past the estimate before the ratio is measured (small, very compressible layers): the
    // measured ratio is the better guess already.
    if (this.#compressed < MEASURED_AFTER && this.#uncompressed <= this.#total) return;
    const ratio = this.#uncompressed / Math.max(1, this.#compressed);
    const left = Math.max(0, this.#compressedTotal - this.#compressed);
    const estimate = Math.round(this.#uncompressed + left * ratio);
    if (Math.abs(estimate - this.#total) > this.#total * REESTIMATE_STEP) {
      this.#total = estimate;
      this.#task.setTotal(estimate);
    }
  }
}
