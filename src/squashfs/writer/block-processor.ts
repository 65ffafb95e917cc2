import { encodeBlockSize } from "../format/data-layout.js";
import type { TaskPool } from "./task-pool.js";

/** A block ready to be stored: its bytes and its size word (size, `| BLOCK_UNCOMPRESSED` if raw). */
export interface BlockResult {
  bytes: Uint8Array;
  sizeWord: number;
}

/** Called for each block in submission order, once all earlier blocks have been consumed. */
export type BlockConsumer = (result: BlockResult) => Promise<void> | void;

export interface BlockProcessorOptions {
  pool: TaskPool;
  /** Most blocks submitted but not yet consumed. Default: 3 per unit of pool concurrency. */
  maxBlocks?: number;
  /** Most uncompressed bytes submitted but not yet consumed. Default: unbounded (maxBlocks rules). */
  maxBytes?: number;
  /** Gets each block's memory back once its consumer is done with it, for reuse. */
  recycle?: (block: Uint8Array) => void;
}

/**
 * Ordered parallel compression with a bounded backlog (after squashfs-tools-ng's block_processor).
 *
 * Blocks are compressed in any order on the pool, but each one's consumer runs strictly in
 * submission order: every submission appends a link to one promise chain that first waits for
 * the previous link, then for its own result. So the bytes on disk never depend on worker count
 * or timing. `submit()` resolves when the block has been accepted; it waits first while the
 * backlog (blocks or bytes submitted and not yet consumed) is full — that is the producer's
 * backpressure, and what bounds memory to a few blocks per worker.
 *
 * The first failure (compression or consumer) is sticky: later links skip their consumers and
 * submit()/drain() reject with it.
 */
export class BlockProcessor {
  readonly maxBlocks: number;
  readonly maxBytes: number;
  readonly #pool: TaskPool;
  readonly #recycle: ((block: Uint8Array) => void) | undefined;
  #chain: Promise<void> = Promise.resolve();
  #blocks = 0;
  #bytes = 0;
  #failure: unknown = null;
  #waiters: (() => void)[] = [];
  /** Highest number of blocks ever in the backlog (tests check the bound with it). */
  peakBlocks = 0;
  /** Blocks whose results were consumed, and how many of them the block cache served. */
  consumed = 0;
  cached = 0;

  constructor(options: BlockProcessorOptions) {
    this.#pool = options.pool;
    this.maxBlocks = Math.max(1, options.maxBlocks ?? 3 * options.pool.concurrency);
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.#recycle = options.recycle;
  }

  /**
   * Queue `data` for compression; `consume` gets the result in order. The processor owns `data`
   * from here on (it may be transferred to a worker), and all of `data.buffer` with `ownsBuffer`.
   * `digest`, the block's SHA-256 when the caller took it, travels with it (the block cache's key).
   * Resolves once the block is queued.
   */
  async submit(
    data: Uint8Array,
    consume: BlockConsumer,
    ownsBuffer = false,
    digest?: Uint8Array,
  ): Promise<void> {
    // A single block larger than maxBytes is still admitted when the backlog is empty.
    while (
      this.#failure === null &&
      this.#blocks > 0 &&
      (this.#blocks >= this.maxBlocks || this.#bytes + data.length > this.maxBytes)
    ) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    if (this.#failure !== null) throw this.#failure;
    const size = data.length;
    this.#blocks++;
    this.#bytes += size;
    if (this.#blocks > this.peakBlocks) this.peakBlocks = this.#blocks;
    const result = this.#pool.run(digest === undefined ? { data, ownsBuffer } : { data, ownsBuffer, digest });
    // The chain awaits it later; until then, a rejection must not count as unhandled.
    result.catch(() => undefined);
    this.#chain = this.#chain.then(async () => {
      try {
        if (this.#failure !== null) return;
        const { bytes, compressed, block, cached } = await result;
        await consume({ bytes, sizeWord: encodeBlockSize(bytes.length, !compressed) });
        this.consumed++;
        if (cached === true) this.cached++;
        this.#recycle?.(block);
      } catch (err) {
        this.#failure ??= err;
      } finally {
        this.#blocks--;
        this.#bytes -= size;
        this.#wake();
      }
    });
  }

  /** Wait until every submitted block has been consumed. Rejects with the first failure. */
  async drain(): Promise<void> {
    await this.#chain;
    if (this.#failure !== null) throw this.#failure;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
