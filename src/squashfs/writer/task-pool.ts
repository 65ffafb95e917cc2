import { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import type { Compressor, CompressorSpec } from "../compressor/compressor.js";
import { createCompressor } from "../compressor/index.js";
import { looksIncompressible } from "../compressor/incompressible.js";
import { BlockCache } from "./block-cache.js";

/** One data block to compress. The pool takes ownership of `data` (its buffer may be transferred). */
export interface CompressTask {
  data: Uint8Array;
  /**
   * The caller gives up all of `data.buffer`, not just the view: a worker pool may then transfer
   * it even when `data` is a shorter view (a partly filled fragment block) instead of copying.
   */
  ownsBuffer?: boolean;
  /** The SHA-256 of `data`, when the caller took it already: the block cache keys on it. */
  digest?: Uint8Array;
}

/** A compressed block, or the original bytes when compression did not make them smaller. */
export interface CompressResult {
  bytes: Uint8Array;
  /** False when `bytes` is the raw block (to be stored with BLOCK_UNCOMPRESSED). */
  compressed: boolean;
  /**
   * The task's block memory, handed back for reuse once `bytes` has been consumed (`bytes` may
   * be a view of it). A worker pool returns the transferred buffer, so the caller's own view is
   * detached and this is the only way back to that memory.
   */
  block: Uint8Array;
  /** Served by the block cache (a verified entry), not compressed now. */
  cached?: boolean;
}

/**
 * Somewhere to run compression tasks (after yarnpkg/berry's TaskPool): in this thread or in worker
 * threads, behind the same `run()`. Results may complete in any order; ordering is the caller's job.
 */
export interface TaskPool {
  /** How many tasks the pool runs at once; callers size their backlog from it. */
  readonly concurrency: number;
  run(task: CompressTask): Promise<CompressResult>;
  /** Stop the workers. Pending tasks reject. */
  close(): Promise<void>;
}

/**
 * Compress one block and apply the raw fallback: SquashFS stores a block uncompressed when the
 * compressed form is not smaller (format.adoc, "Data blocks"; the size word has 24 bits of size).
 */
export function compressOrRaw(data: Uint8Array, out: Uint8Array): CompressResult {
  return out.length < data.length
    ? { bytes: out, compressed: true, block: data }
    : { bytes: data, compressed: false, block: data };
}

/** The raw result for a block the spec lets us skip (see compressor/incompressible.ts), or null: compress it. */
export function skippedAsIncompressible(spec: CompressorSpec, data: Uint8Array): CompressResult | null {
  if (spec.skipIncompressible === false || !looksIncompressible(data)) return null;
  return { bytes: data, compressed: false, block: data };
}

/** The spec's block cache for `compressor`, or null when it has none. */
export function blockCacheFor(spec: CompressorSpec, compressor: Compressor): BlockCache | null {
  return spec.blockCache === undefined ? null : new BlockCache(spec.blockCache, spec, compressor);
}

/**
 * One block, on this thread: from the block cache when it holds a verified entry, else the
 * incompressible check or the compressor, then stored in the cache. The same bytes either way.
 * With `scratch` the result may be a view of the compressor's or the cache's own buffer, valid
 * until its next call: for a caller that copies it at once. `digest` is the block's SHA-256 when
 * the caller has it (the cache key is taken from it instead of from the bytes).
 */
export function compressBlockSync(
  spec: CompressorSpec,
  compressor: Compressor,
  cache: BlockCache | null,
  data: Uint8Array,
  scratch = false,
  digest?: Uint8Array,
): CompressResult {
  if (cache === null) {
    const compress =
      scratch && compressor.compressSyncScratch !== undefined ? "compressSyncScratch" : "compressSync";
    return skippedAsIncompressible(spec, data) ?? compressOrRaw(data, compressor[compress]!(data));
  }
  const key = cache.key(data, digest);
  const hit = cache.get(data, key, scratch);
  if (hit !== null) return { bytes: hit.bytes, compressed: hit.compressed, block: data, cached: true };
  const result = skippedAsIncompressible(spec, data) ?? compressOrRaw(data, compressor.compressSync(data));
  cache.put(key, result);
  return result;
}

/**
 * Compresses in this thread's event loop. gzip's async deflate still runs on libuv's thread pool,
 * so this is parallel for gzip (up to UV_THREADPOOL_SIZE); xz runs synchronously.
 */
export class InProcessPool implements TaskPool {
  readonly concurrency: number;
  readonly #compressor: Compressor;
  readonly #spec: CompressorSpec;
  readonly #cache: BlockCache | null;

  constructor(spec: CompressorSpec) {
    this.#spec = spec;
    this.#compressor = createCompressor(spec);
    this.#cache = blockCacheFor(spec, this.#compressor);
    // The one environment read under src/squashfs, and on purpose: libuv sizes its thread pool from
    // this variable when the process starts, so it is a fact about this process, not a setting.
    const uv = Number(process.env["UV_THREADPOOL_SIZE"] ?? "4");
    this.concurrency = this.#compressor.name === "gzip" ? (Number.isInteger(uv) && uv > 0 ? uv : 4) : 1;
  }

  async run(task: CompressTask): Promise<CompressResult> {
    if (this.#cache !== null)
      return compressBlockSync(this.#spec, this.#compressor, this.#cache, task.data, false, task.digest);
    return (
      skippedAsIncompressible(this.#spec, task.data) ??
      compressOrRaw(task.data, await this.#compressor.compress(task.data))
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Messages between the pool and compress-worker.ts. Buffers travel as transferred ArrayBuffers. */
export interface WorkerRequest {
  id: number;
  buffer: ArrayBuffer;
  offset: number;
  length: number;
  /** CompressTask.digest, in a buffer of its own (a view would clone all of its ArrayBuffer). */
  digest?: Uint8Array;
}
/** Asks a worker to finish what it has queued and exit on its own (see WorkerPool.close). */
export interface WorkerShutdown {
  shutdown: true;
}
/**
 * The worker writes a compressed result over the start of the block it was given (compressed
 * output is shorter by definition) and transfers that buffer back, so blocks circulate between
 * the threads instead of being allocated per block on both sides (GC time on the main thread).
 */
export type WorkerReply =
  | {
      id: number;
      buffer: ArrayBuffer;
      offset: number;
      length: number;
      resultLength: number;
      compressed: boolean;
      cached: boolean;
    }
  | { id: number; error: unknown };

interface Pending {
  resolve: (r: CompressResult) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** Where the compiled worker sits: beside this file in dist/ and build/src/. */
const WORKER_URL = new URL("./compress-worker.js", import.meta.url);

/**
 * Compression in `worker_threads`. Each task goes to the worker with the fewest tasks outstanding
 * (ties: lowest index, so scheduling is simple; output order never depends on it). The block's
 * ArrayBuffer is transferred, not copied, when the view covers all of it. Workers with nothing
 * outstanding are unref()ed so an idle pool never keeps the process alive.
 */
export class WorkerPool implements TaskPool {
  readonly concurrency: number;
  readonly #slots: Slot[] = [];
  #nextId = 0;
  #closed = false;
  #failure: unknown = null;

  constructor(spec: CompressorSpec, workers: number = availableParallelism()) {
    // Validate in this thread so a bad spec is a typed error here, not a crash in every worker.
    createCompressor(spec);
    if (!Number.isInteger(workers) || workers < 1)
      throw new RangeError(`worker count must be a positive integer, got ${workers}`);
    this.concurrency = workers;
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(WORKER_URL, { workerData: { spec } });
      const slot: Slot = { worker, pending: new Map() };
      worker.on("message", (reply: WorkerReply) => this.#onReply(slot, reply));
      worker.on("error", (err) => this.#fail(err));
      worker.on("exit", (code) => {
        if (!this.#closed) this.#fail(new Error(`compression worker exited with code ${code}`));
      });
      worker.unref();
      this.#slots.push(slot);
    }
  }

  run(task: CompressTask): Promise<CompressResult> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(new Error("WorkerPool: run after close"));
    let slot = this.#slots[0]!;
    for (const s of this.#slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.#nextId++;
    const { data } = task;
    let buffer = data.buffer as ArrayBuffer;
    let offset = data.byteOffset;
    // Only a view that owns its whole ArrayBuffer may be transferred (a pooled Buffer shares one).
    const whole = task.ownsBuffer === true || (offset === 0 && data.byteLength === buffer.byteLength);
    if (!whole || !(buffer instanceof ArrayBuffer)) {
      buffer = data.slice().buffer as ArrayBuffer;
      offset = 0;
    }
    const request: WorkerRequest = { id, buffer, offset, length: data.byteLength };
    if (task.digest !== undefined) request.digest = new Uint8Array(task.digest);
    return new Promise<CompressResult>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      if (slot.pending.size === 1) slot.worker.ref();
      slot.worker.postMessage(request, [buffer]);
    });
  }

  /**
   * Workers are asked to exit, never `terminate()`d: terminating a thread that is inside a native
   * addon (lzma-native's module init, a koffi call) makes node-addon-api throw in a dying
   * environment, which aborts the whole process ("terminate called after throwing an instance of
   * 'Napi::Error'"). A worker exits once the blocks already queued to it are done (milliseconds).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const err = new Error("WorkerPool closed");
    for (const slot of this.#slots) {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    }
    await Promise.all(
      this.#slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.worker.threadId < 0) return resolve(); // already exited
            s.worker.once("exit", () => resolve());
            s.worker.ref(); // so that awaiting close() keeps the process alive until the exit
            s.worker.postMessage({ shutdown: true } satisfies WorkerShutdown);
          }),
      ),
    );
  }

  #onReply(slot: Slot, reply: WorkerReply): void {
    const pending = slot.pending.get(reply.id);
    if (pending === undefined) return;
    slot.pending.delete(reply.id);
    if (slot.pending.size === 0 && !this.#closed) slot.worker.unref();
    if ("error" in reply) pending.reject(reply.error);
    else {
      const block = new Uint8Array(reply.buffer, reply.offset, reply.length);
      pending.resolve({
        bytes: block.subarray(0, reply.resultLength),
        compressed: reply.compressed,
        block,
        cached: reply.cached,
      });
    }
  }

  /** A worker crashed: fail everything outstanding and every later call (sticky). */
  #fail(err: unknown): void {
    this.#failure ??= err;
    for (const slot of this.#slots) {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      // While closing, close() holds a reference until each worker's exit.
      if (!this.#closed) slot.worker.unref();
    }
  }
}

/** The pool for `workers`: 0 = in-process, otherwise that many worker threads (default: one per CPU). */
export function createTaskPool(spec: CompressorSpec, workers: number = availableParallelism()): TaskPool {
  return workers === 0 ? new InProcessPool(spec) : new WorkerPool(spec, workers);
}
