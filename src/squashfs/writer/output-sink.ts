import { open, unlink, type FileHandle } from "node:fs/promises";

/** Size of the append buffer: small writes (inodes, 2-byte headers, short blocks) become one large write. */
export const SINK_BATCH_SIZE = 1024 * 1024;

/**
 * Most appends (batches, or large writes straight through) handed to the disk and not yet
 * written. A caller waits only beyond this, so filling the next batch overlaps the disk write of
 * the last ones: awaiting every 1 MiB write (~2 ms through libuv's pool) stalled the data
 * writer's ordered chain, and with it the compressors, on each batch.
 */
export const SINK_WRITES_IN_FLIGHT = 4;

/**
 * The image file, written front to back with a few patches (the superblock at the end) and rewinds
 * (a duplicate file's blocks dropped after the fact).
 *
 * Appends are copied into a 1 MiB batch and written to disk a batch at a time. Every disk operation
 * is chained on one promise, so they reach the file in call order even when a caller does not
 * await; `position` is the logical end (disk + batch) and is updated synchronously. A write that
 * hands a batch to the disk returns at once while fewer than SINK_WRITES_IN_FLIGHT appends are
 * pending, else a promise of the oldest one landing: awaiting it is the backpressure.
 * The first I/O error is sticky: every later call (and `flush`, `close`) rejects with it.
 */
export class OutputSink {
  readonly path: string;
  #fh: FileHandle;
  /** Pending append bytes, destined for file offset `#batchStart`. */
  #batch: Buffer = Buffer.allocUnsafeSlow(SINK_BATCH_SIZE);
  #batchLen = 0;
  #batchStart = 0;
  /** Batch buffers whose disk writes have landed, kept for the next batches. */
  readonly #spareBatches: Buffer[] = [];
  /** The appends handed to the disk and not yet landed, oldest first (each settles, never rejects). */
  readonly #inFlight: Promise<void>[] = [];
  /** Tail of the chain of disk operations. */
  #queue: Promise<void> = Promise.resolve();
  #error: unknown = null;
  #closed = false;

  private constructor(path: string, fh: FileHandle, start: number) {
    this.path = path;
    this.#fh = fh;
    this.#batchStart = start;
  }

  /** Create (or truncate) `path` for writing. */
  static async open(path: string): Promise<OutputSink> {
    const fh = await open(path, "w");
    return new OutputSink(path, fh, 0);
  }

  /** Logical end of the image: bytes written so far, flushed or not. */
  get position(): number {
    return this.#batchStart + this.#batchLen;
  }

  /** Append `bytes`. The data is copied (or handed to the disk queue) before this returns. */
  write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("OutputSink: write after close"));
    if (this.#error !== null) return Promise.reject(this.#error);
    if (bytes.length === 0) return Promise.resolve();
    if (this.#batchLen + bytes.length <= SINK_BATCH_SIZE) {
      this.#batch.set(bytes, this.#batchLen);
      this.#batchLen += bytes.length;
      return this.#batchLen === SINK_BATCH_SIZE ? this.#flushBatch() : Promise.resolve();
    }
    // Does not fit: flush what we have, then either write a large chunk straight through (no copy)
    // or start a new batch with it. The caller may reuse `bytes` after this returns, so a direct
    // write keeps a copy only when it is small enough to batch.
    const flushed = this.#flushBatch();
    if (bytes.length >= SINK_BATCH_SIZE) {
      const pos = this.#batchStart;
      this.#batchStart += bytes.length;
      const copy = Buffer.from(bytes);
      return this.#append(this.#enqueue(() => this.#writeFully(copy, pos)));
    }
    this.#batch.set(bytes, 0);
    this.#batchLen = bytes.length;
    return flushed;
  }

  /**
   * Overwrite `bytes` at absolute offset `pos` (before `position`; e.g. the superblock).
   * Patches to bytes still in the batch are applied there; others are queued after pending appends.
   */
  writeAt(bytes: Uint8Array, pos: number): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("OutputSink: write after close"));
    if (this.#error !== null) return Promise.reject(this.#error);
    if (!Number.isSafeInteger(pos) || pos < 0 || pos + bytes.length > this.position) {
      return Promise.reject(
        new RangeError(
          `OutputSink.writeAt: [${pos}, +${bytes.length}) is outside the image (${this.position} bytes)`,
        ),
      );
    }
    const end = pos + bytes.length;
    // Part (or all) of the range may still be in the batch: patch that part in memory.
    if (end > this.#batchStart) {
      const from = Math.max(pos, this.#batchStart);
      this.#batch.set(bytes.subarray(from - pos), from - this.#batchStart);
      if (pos >= this.#batchStart) return Promise.resolve();
      bytes = bytes.subarray(0, this.#batchStart - pos);
    }
    const copy = Buffer.from(bytes);
    return this.#enqueue(() => this.#writeFully(copy, pos));
  }

  /** Cut the image back to `pos` bytes (dropping a duplicate file's blocks). */
  truncate(pos: number): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("OutputSink: truncate after close"));
    if (this.#error !== null) return Promise.reject(this.#error);
    if (!Number.isSafeInteger(pos) || pos < 0 || pos > this.position) {
      return Promise.reject(
        new RangeError(`OutputSink.truncate: ${pos} is outside the image (${this.position} bytes)`),
      );
    }
    if (pos >= this.#batchStart) {
      this.#batchLen = pos - this.#batchStart;
      return Promise.resolve();
    }
    // The cut reaches bytes already queued for disk: drop the batch and truncate after the queue.
    this.#batchLen = 0;
    this.#batchStart = pos;
    return this.#enqueue(() => this.#fh.truncate(pos));
  }

  /** Wait until everything written so far is on disk (in the OS's hands; no fsync). */
  flush(): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    void this.#flushBatch().catch(() => undefined);
    return this.#queue.then(() => {
      if (this.#error !== null) throw this.#error;
    });
  }

  /** Flush and close the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } finally {
      this.#closed = true;
      await this.#queue.catch(() => undefined);
      await this.#fh.close();
    }
  }

  /** Give up: close without flushing and delete the partial image. Never throws. */
  async abort(): Promise<void> {
    const wasClosed = this.#closed;
    this.#closed = true;
    this.#batchLen = 0;
    await this.#queue.catch(() => undefined);
    if (!wasClosed) await this.#fh.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }

  /** Hand the batch to the disk queue and start a fresh one. */
  #flushBatch(): Promise<void> {
    if (this.#batchLen === 0) return this.#queue;
    const data = this.#batch.subarray(0, this.#batchLen);
    const pos = this.#batchStart;
    this.#batchStart += this.#batchLen;
    // Another buffer: the old one is owned by the pending write until it lands, then it is spare.
    const full = this.#batch;
    this.#batch = this.#spareBatches.pop() ?? Buffer.allocUnsafeSlow(SINK_BATCH_SIZE);
    this.#batchLen = 0;
    return this.#append(
      this.#enqueue(async () => {
        await this.#writeFully(data, pos);
        this.#spareBatches.push(full);
      }),
    );
  }

  /**
   * Track an append's disk write; what the caller awaits: nothing while few are in flight, else
   * the oldest one's landing. A failure is sticky (#error), so later calls and `flush` report it.
   */
  #append(written: Promise<void>): Promise<void> {
    // Writes land in queue order, so the one settling is the oldest.
    const landed = (): void => void this.#inFlight.shift();
    const settled = written.then(landed, landed);
    this.#inFlight.push(settled);
    if (this.#inFlight.length < SINK_WRITES_IN_FLIGHT) return Promise.resolve();
    return this.#inFlight[0]!.then(() => {
      if (this.#error !== null) throw this.#error;
    });
  }

  #enqueue(op: () => Promise<unknown>): Promise<void> {
    const next = this.#queue.then(async () => {
      if (this.#error !== null) throw this.#error;
      try {
        await op();
      } catch (err) {
        this.#error ??= err;
        throw err;
      }
    });
    // Keep the chain alive after a failure; the sticky #error reports it to later calls.
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #writeFully(data: Uint8Array, pos: number): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await this.#fh.write(data, off, data.length - off, pos + off);
      off += bytesWritten;
    }
  }
}
