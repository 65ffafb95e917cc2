import { createHash, hash as hashOnce, type Hash } from "node:crypto";
import { availableParallelism } from "node:os";
import { GvmconvError } from "../../errors.js";
import { BlockProcessor } from "./block-processor.js";
import type { CompressorSpec } from "../compressor/compressor.js";
import { checkBlockSize } from "../compressor/index.js";
import type { FileLayout, FragmentEntry } from "../format/data-layout.js";
import type { FileContent } from "../entry.js";
import type { OutputSink } from "./output-sink.js";
import { createTaskPool, type TaskPool } from "./task-pool.js";
import { evictBlockCache, type BlockCacheUse } from "./block-cache.js";
import { DigestIndex } from "./digest-index.js";
import { LayoutTable } from "./layout-table.js";

/** A file's content stream yielded more or fewer bytes than its declared size. */
export class ContentSizeMismatchError extends GvmconvError {
  readonly expected: number;
  readonly actual: number;
  constructor(expected: number, actual: number, more: boolean) {
    super(
      "E_SQUASHFS_CONTENT_SIZE",
      more
        ? `file content is longer than its declared size ${expected}`
        : `file content ended after ${actual} of ${expected} bytes`,
      { hint: "the source archive is truncated or corrupt" },
    );
    this.expected = expected;
    this.actual = more ? Math.max(actual, expected + 1) : actual;
  }
}

export interface DataWriterOptions {
  sink: OutputSink;
  spec: CompressorSpec;
  /** Compression worker threads; 0 = in-process. Default: the machine's available parallelism. */
  workers?: number;
  /** Store files with identical content once. Default true. */
  dedupe?: boolean;
  /** Most blocks compressing or waiting to be written. Default: 3 per unit of pool concurrency. */
  backlog?: number;
  /** Use this pool instead of creating one (tests; the DataWriter then does not close it). */
  pool?: TaskPool;
}

/**
 * Writes file contents as SquashFS data blocks and fragment blocks (format.adoc, "Data and
 * fragment blocks"), from the sink's current position on. The sink must not be written by anyone
 * else between construction and `finish()`.
 *
 * Content streams: only one block-size buffer per file plus the processor's backlog is held, so a
 * 4 GiB file costs the same memory as a 4 KiB one. Full blocks go to the ordered BlockProcessor;
 * all-zero full blocks are sparse (size word 0, nothing stored); the tail (< block size) is packed
 * into the current fragment block. Duplicates are found by (size, SHA-256) as they stream; a
 * duplicate reuses the first file's layout, and its own blocks are dropped by rewinding the sink.
 */
export class DataWriter {
  readonly blockSize: number;
  readonly #sink: OutputSink;
  readonly #pool: TaskPool;
  readonly #ownsPool: boolean;
  readonly #processor: BlockProcessor;
  readonly #dedupe: boolean;
  /**
   * Whether each stored block's SHA-256 is taken: for the duplicate key (a file's digest is over
   * its blocks' digests) and for the block cache's key, which the worker then need not hash.
   */
  readonly #blockDigests: boolean;
  readonly #zero: Buffer;
  /** Every file's layout, by the id `writeFile` returns. */
  readonly layouts = new LayoutTable();
  /** A digest of a file's content (see `#writeFile`) → the layout of the first file with it. */
  readonly #seen = new DigestIndex();
  /** The same for the rare file with all-zero blocks, whose key is longer (see `#writeFile`). */
  readonly #seenSparse = new Map<string, number>();
  /** Layouts handed out for more than one file (the serializer counts duplicates with it). */
  readonly #duplicated = new Set<number>();
  readonly #fragments: FragmentEntry[] = [];
  /** The fragment block being filled, and how much of it is used. */
  #frag: Buffer;
  #fragFill = 0;
  /**
   * The block being filled for the current file. Reused from file to file: only a block handed to
   * the compressors (transferred to a worker) is replaced. A fresh buffer per file made a root
   * filesystem's thousands of small files churn a block size each (~0.9 GB for a Debian rootfs),
   * which showed up as GC time and peak RSS.
   */
  #staging: Buffer;
  /** Blocks back from the compressors, ready to be the next staging or fragment block. */
  readonly #spare: Buffer[] = [];
  #busy = false;
  #finished = false;
  #evicted = false;
  readonly #spec: CompressorSpec;

  constructor(options: DataWriterOptions) {
    checkBlockSize(options.spec.blockSize);
    this.blockSize = options.spec.blockSize;
    this.#spec = options.spec;
    this.#sink = options.sink;
    this.#dedupe = options.dedupe ?? true;
    this.#blockDigests = this.#dedupe || options.spec.blockCache !== undefined;
    this.#ownsPool = options.pool === undefined;
    this.#pool = options.pool ?? createTaskPool(options.spec, options.workers ?? availableParallelism());
    // ~3 blocks per worker keeps every worker busy while one result waits for its turn to be
    // written, and caps the backlog at a few MiB even at 1 MiB blocks.
    this.#processor = new BlockProcessor({
      pool: this.#pool,
      maxBlocks: options.backlog ?? 3 * this.#pool.concurrency,
      recycle: (block) => {
        // Every block this writer submits is a buffer of its own of exactly block size (a fragment
        // block as a shorter view of one); a pool that had to copy returns a smaller buffer.
        if (block.buffer.byteLength === this.blockSize && block.buffer instanceof ArrayBuffer) {
          this.#spare.push(Buffer.from(block.buffer, 0, this.blockSize));
        }
      },
    });
    this.#zero = Buffer.alloc(this.blockSize);
    this.#frag = Buffer.allocUnsafeSlow(this.blockSize);
    this.#staging = Buffer.allocUnsafeSlow(this.blockSize);
  }

  /**
   * Store one file of `size` bytes; returns its layout id (`layouts`, `layout()`). Resolves when
   * its content has been consumed and its blocks queued, so the next file can start while they
   * compress.
   *
   * NOTE: a layout's `blocksStart` and `blockSizes` are filled in as the blocks land on disk, in
   * order; they are final once `finish()` resolves — read them only after that. `fileSize`, the
   * fragment, `sparseBytes` and the length of `blockSizes` are final at once. A duplicate gets
   * the layout id of the file it duplicates.
   */
  async writeFile(size: number, content: FileContent): Promise<number> {
    if (this.#finished) throw new Error("DataWriter: writeFile after finish");
    if (this.#busy) throw new Error("DataWriter: writeFile called while another file is being written");
    if (!Number.isSafeInteger(size) || size < 0)
      throw new RangeError(`file size ${size} is not a non-negative safe integer`);
    this.#busy = true;
    try {
      return await this.#writeFile(size, content);
    } finally {
      this.#busy = false;
    }
  }

  /** The layout `writeFile` returned `id` for. */
  layout(id: number): FileLayout {
    return this.layouts.get(id);
  }

  async #writeFile(size: number, content: FileContent): Promise<number> {
    const bs = this.blockSize;
    const layouts = this.layouts;
    if (size === 0) {
      await drainEmpty(content);
      return layouts.add(0);
    }
    const id = layouts.add(size);
    /** The file's block list, created at its first full block (most small files have none). */
    let blockSizes: number[] | undefined;
    const blockList = (): number[] => (blockSizes ??= layouts.blockSizes(id));
    // Created at the first stored block: a file that is all tail (most small files) is hashed in
    // one call at the end instead (createHash, update, update, digest cost ~1.5 µs more a file).
    let hash: Hash | null = null;
    /** Sink position of this file's first stored block, once it has landed (for the rewind). */
    let firstStored = -1;
    let stored = 0;
    let block = this.#staging;
    let fill = 0;
    let total = 0;

    /**
     * Runs of the file's all-zero blocks as [first index, count] pairs, for the duplicate key
     * (their bytes are not hashed). Runs, not indices: a file of holes has few.
     */
    const zeroRuns: number[] = [];

    /** A full all-zero block is sparse: size word 0, nothing stored (format.adoc, "Data blocks"). */
    const sparseBlock = (): void => {
      const list = blockList();
      const index = list.length;
      const last = zeroRuns.length - 2;
      if (last >= 0 && (zeroRuns[last] ?? 0) + (zeroRuns[last + 1] ?? 0) === index) zeroRuns[last + 1]! += 1;
      else zeroRuns.push(index, 1);
      list.push(0);
      layouts.addSparse(id, bs);
    };

    const emitBlock = async (): Promise<void> => {
      const list = blockList();
      const index = list.length;
      if (block.equals(this.#zero)) return sparseBlock();
      const digest = this.#blockDigests ? hashOnce("sha256", block, "buffer") : undefined;
      if (this.#dedupe) (hash ??= createHash("sha256")).update(digest!);
      // Only a block cache keys on it; without one the worker would be sent it for nothing.
      const cacheKey = this.#spec.blockCache === undefined ? undefined : digest;
      list.push(0);
      stored++;
      const data = block;
      block = this.#staging = this.#newBlock();
      await this.#processor.submit(
        data,
        async ({ bytes, sizeWord }) => {
          if (firstStored < 0) {
            firstStored = this.#sink.position;
            layouts.setBlocksStart(id, firstStored);
          }
          list[index] = sizeWord;
          await this.#sink.write(bytes);
        },
        true,
        cacheKey,
      );
    };

    const feed = async (chunk: Uint8Array): Promise<void> => {
      if (total + chunk.length > size) throw new ContentSizeMismatchError(size, total + chunk.length, true);
      total += chunk.length;
      let off = 0;
      while (off < chunk.length) {
        // A whole block of zeros in the chunk itself (a sparse file's hole, an image's empty
        // space) is recognized by one memcmp, without being copied or hashed.
        if (fill === 0 && chunk.length - off >= bs && isZero(chunk, off, bs, this.#zero)) {
          sparseBlock();
          off += bs;
          continue;
        }
        const n = Math.min(bs - fill, chunk.length - off);
        block.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === bs) {
          fill = 0;
          await emitBlock();
        }
      }
    };

    try {
      // Most files of a root filesystem arrive whole, as one buffer: no async iteration for them.
      if (content instanceof Uint8Array) await feed(content);
      else for await (const chunk of content) await feed(chunk);
      if (total !== size) throw new ContentSizeMismatchError(size, total, false);
    } catch (err) {
      // Drop whatever this file already stored so the writer stays consistent, then report.
      if (stored > 0) await this.#rewind(() => firstStored);
      layouts.dropLast(id);
      throw err;
    }

    if (this.#dedupe) {
      // The key is the stored blocks' digests, the tail's bytes and where the zero blocks are: as
      // unique to the content as hashing every byte (each block's own SHA-256 stands for it, and
      // the block count follows from the size), for a fraction of the work on sparse files.
      // Without zero blocks, the size appended makes the input unique to (content, size): the
      // key is the 32 digest bytes. With zero blocks (rare) the key spells size and runs out as
      // a string; a separate map, so the two never meet.
      /** The streamed hash of the stored blocks' digests, with the tail added. */
      const hashed = (): Hash => (hash ??= createHash("sha256")).update(block.subarray(0, fill));
      let original: number;
      let remember: () => void;
      if (zeroRuns.length === 0) {
        let digest: Buffer;
        if (hash === null && fill + 8 <= bs) {
          // All tail: its bytes and the size behind them (the staging block has room) in one call,
          // the same digest as the streaming form below.
          block.writeDoubleLE(size, fill);
          digest = hashOnce("sha256", block.subarray(0, fill + 8), "buffer");
        } else {
          const tail = Buffer.allocUnsafe(8);
          tail.writeDoubleLE(size);
          digest = hashed().update(tail).digest();
        }
        original = this.#seen.get(digest);
        remember = () => this.#seen.set(digest, id);
      } else {
        const key = `${size}:${hashed().digest("base64")}:${zeroRunsDigest(zeroRuns)}`;
        original = this.#seenSparse.get(key) ?? -1;
        remember = () => this.#seenSparse.set(key, id);
      }
      if (original >= 0) {
        if (stored > 0) await this.#rewind(() => firstStored);
        layouts.dropLast(id);
        this.#duplicated.add(original);
        return original;
      }
      remember();
    }

    // The tail (fill bytes, < block size) goes to the current fragment block.
    if (fill > 0) {
      if (this.#fragFill + fill > bs) await this.#flushFragment();
      layouts.setFragment(id, this.#fragments.length, this.#fragFill);
      this.#frag.set(block.subarray(0, fill), this.#fragFill);
      this.#fragFill += fill;
    }
    return id;
  }

  /** The layouts `writeFile` returned for more than one file (their duplicates share them). */
  get duplicatedLayouts(): ReadonlySet<number> {
    return this.#duplicated;
  }

  /** A block-size buffer: one the compressors have finished with, or a new one. */
  #newBlock(): Buffer {
    return this.#spare.pop() ?? Buffer.allocUnsafeSlow(this.blockSize);
  }

  /** Wait for this file's in-flight blocks to land, then cut the sink back to its first one. */
  async #rewind(start: () => number): Promise<void> {
    await this.#processor.drain();
    const pos = start();
    if (pos >= 0) await this.#sink.truncate(pos);
  }

  /** Compress and store the current fragment block; its table entry is filled when it lands. */
  async #flushFragment(): Promise<void> {
    if (this.#fragFill === 0) return;
    const entry: FragmentEntry = { start: 0, size: 0 };
    this.#fragments.push(entry);
    const data = this.#frag.subarray(0, this.#fragFill);
    this.#frag = this.#newBlock();
    this.#fragFill = 0;
    await this.#processor.submit(
      data,
      async ({ bytes, sizeWord }) => {
        entry.start = this.#sink.position;
        entry.size = sizeWord;
        await this.#sink.write(bytes);
      },
      true,
    );
  }

  /**
   * Store the last, partial fragment block and wait for every block to land. Returns the fragment
   * table entries (index = FileLayout.fragmentIndex). After this, every returned layout is final.
   */
  async finish(): Promise<FragmentEntry[]> {
    if (this.#finished) throw new Error("DataWriter: finish called twice");
    if (this.#busy) throw new Error("DataWriter: finish called while a file is being written");
    this.#finished = true;
    // No file can follow: the duplicate keys are garbage before the tree is serialized.
    this.#seen.clear();
    this.#seenSparse.clear();
    await this.#flushFragment();
    await this.#processor.drain();
    return this.#fragments;
  }

  /** With a block cache: how many blocks it served (hits) and how many were compressed and stored. */
  get blockCache(): BlockCacheUse | undefined {
    if (this.#spec.blockCache === undefined) return undefined;
    const p = this.#processor;
    return { hits: p.cached, misses: p.consumed - p.cached };
  }

  /**
   * Stop the worker threads (if this writer created them), then keep the block cache within its
   * bound — unless every block was a hit, which stored nothing (eviction scans every entry). Safe
   * to call more than once.
   */
  async close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.close();
    const cache = this.#spec.blockCache;
    if (cache !== undefined && !this.#evicted) {
      this.#evicted = true;
      if (this.blockCache!.misses > 0) evictBlockCache(cache.dir, cache.maxBytes);
    }
  }
}

/** Whether `chunk[off, off + length)` is all zeros (`zero`: at least `length` zero bytes). */
function isZero(chunk: Uint8Array, off: number, length: number, zero: Buffer): boolean {
  // Most data blocks differ from zeros in their first bytes: memcmp stops there.
  return Buffer.from(chunk.buffer, chunk.byteOffset + off, length).equals(zero.subarray(0, length));
}

/** A digest of the zero-block runs (first index, count; ascending), as part of a duplicate key. */
function zeroRunsDigest(runs: number[]): string {
  return createHash("sha256")
    .update(new Uint8Array(Float64Array.from(runs).buffer))
    .digest("base64");
}

/** Normalize content to an async sequence of byte chunks. */
async function* chunksOf(content: FileContent): AsyncIterable<Uint8Array> {
  if (content instanceof Uint8Array) yield content;
  else yield* content;
}

/** An empty file must still have an empty stream: anything else is a size mismatch. */
async function drainEmpty(content: FileContent): Promise<void> {
  for await (const chunk of chunksOf(content)) {
    if (chunk.length > 0) throw new ContentSizeMismatchError(0, chunk.length, true);
  }
}
