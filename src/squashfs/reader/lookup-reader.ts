/**
 * Reading lookup tables (format.adoc, "Storing Lookup Tables"), the mirror of writer/lookup-table-writer.ts:
 * fixed-size records in metadata blocks, then an uncompressed list of u64 block positions, which
 * the superblock points at. Records are fetched on demand (through the metadata cache), so a
 * fragment table of millions of entries costs only its pointer list up front.
 */
import type { ByteSource } from "./byte-source.js";
import { MAX_READ } from "./byte-source.js";
import { LOOKUP_POINTER_SIZE } from "../format/lookup-table.js";
import { METADATA_BLOCK_SIZE, METADATA_HEADER_SIZE } from "../format/metadata.js";
import type { MetadataReader } from "./metadata-reader.js";
import { SquashfsImageCorruptError } from "./errors.js";

export class LookupTableReader {
  readonly #meta: MetadataReader;
  readonly #recordSize: number;
  readonly #pointers: number[];
  /** Absolute position of the pointer list. */
  readonly listStart: number;
  /** Where the last block ends: the list itself, except for the xattr ids (a header in between). */
  readonly blocksEnd: number;
  readonly count: number;
  readonly what: string;

  private constructor(
    meta: MetadataReader,
    what: string,
    listStart: number,
    blocksEnd: number,
    count: number,
    recordSize: number,
    pointers: number[],
  ) {
    this.#meta = meta;
    this.what = what;
    this.listStart = listStart;
    this.blocksEnd = blocksEnd;
    this.count = count;
    this.#recordSize = recordSize;
    this.#pointers = pointers;
  }

  /**
   * Reads and checks the pointer list at `listStart`: positions strictly increasing, each at or
   * after `lowest` and before the list (as the kernel checks, squashfs_read_table callers).
   */
  static async open(
    source: ByteSource,
    meta: MetadataReader,
    opts: {
      what: string;
      listStart: number;
      blocksEnd?: number;
      count: number;
      recordSize: number;
      lowest: number;
      end: number;
    },
  ): Promise<LookupTableReader> {
    const { what, listStart, count, recordSize, lowest, end } = opts;
    const blocksEnd = opts.blocksEnd ?? listStart;
    const blocks = Math.ceil((count * recordSize) / METADATA_BLOCK_SIZE);
    const listBytes = blocks * LOOKUP_POINTER_SIZE;
    if (listStart + listBytes > end) {
      throw new SquashfsImageCorruptError(
        what,
        `${count} entries need a ${listBytes}-byte pointer list, which runs past ${end}`,
      );
    }
    const pointers: number[] = [];
    for (let at = 0; at < listBytes; at += MAX_READ - (MAX_READ % LOOKUP_POINTER_SIZE)) {
      const chunk = await source.read(
        listStart + at,
        Math.min(listBytes - at, MAX_READ - (MAX_READ % LOOKUP_POINTER_SIZE)),
      );
      const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let p = 0; p < chunk.length; p += LOOKUP_POINTER_SIZE) {
        const big = view.getBigUint64(p, true);
        const pos = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
        const prev = pointers.length > 0 ? pointers[pointers.length - 1]! : lowest - 1;
        // Each block holds at least a header and one byte.
        if (pos <= prev || pos < lowest || pos + METADATA_HEADER_SIZE + 1 > blocksEnd) {
          throw new SquashfsImageCorruptError(
            what,
            `block pointer ${pointers.length} (${big}) is out of order or outside ${lowest} … ${blocksEnd}`,
          );
        }
        pointers.push(pos);
      }
    }
    return new LookupTableReader(meta, what, listStart, blocksEnd, count, recordSize, pointers);
  }

  /** Position of the first block, or the list itself for an empty table. */
  get firstBlock(): number {
    return this.#pointers[0] ?? this.blocksEnd;
  }

  /** The bytes of record `index`. */
  async record(index: number): Promise<Uint8Array> {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new SquashfsImageCorruptError(this.what, `index ${index} outside 0 … ${this.count - 1}`);
    }
    const at = index * this.#recordSize;
    const b = Math.floor(at / METADATA_BLOCK_SIZE);
    const offset = at % METADATA_BLOCK_SIZE;
    const end = this.#pointers[b + 1] ?? this.blocksEnd;
    const block = await this.#meta.block(this.#pointers[b]!, end, this.what);
    if (block.next !== end) {
      throw new SquashfsImageCorruptError(
        this.what,
        `metadata block ${b} does not end where block ${b + 1} starts`,
      );
    }
    const full = b + 1 < this.#pointers.length;
    const want = full ? METADATA_BLOCK_SIZE : this.count * this.#recordSize - b * METADATA_BLOCK_SIZE;
    if (block.data.length !== want) {
      throw new SquashfsImageCorruptError(
        this.what,
        `metadata block ${b} holds ${block.data.length} bytes, expected ${want}`,
      );
    }
    return block.data.subarray(offset, offset + this.#recordSize);
  }
}
