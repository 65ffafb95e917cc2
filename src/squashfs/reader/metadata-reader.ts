/**
 * Reading metadata blocks (format.adoc, "Packing Metadata"), the mirror of writer/metadata-writer.ts: a
 * u16 header (stored size, bit 15 = raw), then the stored bytes, which inflate to at most 8 KiB.
 * A record is addressed by (block start relative to its table, offset in the inflated block) and
 * may run on into the following blocks, so reads go through a cursor.
 *
 * Every block is checked against the end of the table it belongs to, and every block but a
 * table's last must inflate to exactly 8 KiB (the writer only cuts full blocks); a cursor that
 * runs past a short block is reading garbage.
 */
import type { Compressor } from "../compressor/compressor.js";
import type { ByteSource } from "./byte-source.js";
import {
  decodeMetadataHeader,
  METADATA_BLOCK_SIZE,
  METADATA_HEADER_SIZE,
  type MetadataRef,
} from "../format/metadata.js";
import { SquashfsDecompressError, SquashfsImageCorruptError } from "./errors.js";

/** One inflated metadata block and where the next one starts. */
export interface MetadataBlock {
  data: Uint8Array;
  /** Absolute position of the following block. */
  next: number;
}

/** Metadata blocks kept inflated (8 KiB each): enough for a directory walk's working set. */
const DEFAULT_CACHE_BLOCKS = 256;
/** Largest record a cursor hands out at once: a file inode's block list for a 64 GiB file at 4 KiB blocks. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export class MetadataReader {
  readonly #source: ByteSource;
  readonly #compressor: Compressor;
  readonly #cache = new Map<number, MetadataBlock>();
  readonly #cacheBlocks: number;

  constructor(source: ByteSource, compressor: Compressor, cacheBlocks = DEFAULT_CACHE_BLOCKS) {
    this.#source = source;
    this.#compressor = compressor;
    this.#cacheBlocks = cacheBlocks;
  }

  /** The block at absolute `position`, which must end by `tableEnd`. */
  async block(position: number, tableEnd: number, what: string): Promise<MetadataBlock> {
    const hit = this.#cache.get(position);
    if (hit !== undefined) {
      if (hit.next > tableEnd)
        throw new SquashfsImageCorruptError(
          what,
          `metadata block at ${position} runs past the table end ${tableEnd}`,
        );
      // Re-insert: Map order is the LRU order.
      this.#cache.delete(position);
      this.#cache.set(position, hit);
      return hit;
    }
    if (position + METADATA_HEADER_SIZE > tableEnd) {
      throw new SquashfsImageCorruptError(
        what,
        `metadata block at ${position} starts past the table end ${tableEnd}`,
      );
    }
    const headerBytes = await this.#source.read(position, METADATA_HEADER_SIZE);
    let header;
    try {
      header = decodeMetadataHeader(headerBytes);
    } catch (cause) {
      throw new SquashfsImageCorruptError(what, `bad metadata block header at ${position}`, { cause });
    }
    const next = position + METADATA_HEADER_SIZE + header.storedSize;
    if (next > tableEnd)
      throw new SquashfsImageCorruptError(
        what,
        `metadata block at ${position} runs past the table end ${tableEnd}`,
      );
    const stored = await this.#source.read(position + METADATA_HEADER_SIZE, header.storedSize);
    let data: Uint8Array;
    if (header.uncompressed) {
      data = stored;
    } else {
      try {
        data = await this.#compressor.decompress(stored, METADATA_BLOCK_SIZE);
      } catch (cause) {
        throw new SquashfsDecompressError(`${what} metadata block`, position, "does not decompress", {
          cause,
        });
      }
      if (data.length === 0 || data.length > METADATA_BLOCK_SIZE) {
        throw new SquashfsDecompressError(
          `${what} metadata block`,
          position,
          `inflates to ${data.length} bytes (1 … 8192 allowed)`,
        );
      }
    }
    const block = { data, next };
    this.#cache.set(position, block);
    if (this.#cache.size > this.#cacheBlocks) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    return block;
  }

  /** A cursor at `ref` of the table spanning [tableStart, tableEnd). */
  cursor(tableStart: number, tableEnd: number, ref: MetadataRef, what: string): MetadataCursor {
    return new MetadataCursor(this, tableStart, tableEnd, ref, what);
  }
}

/** Sequential reads through a metadata table, across block boundaries. */
export class MetadataCursor {
  readonly #reader: MetadataReader;
  readonly #tableEnd: number;
  readonly #what: string;
  /** Absolute position of the current block. */
  #block: number;
  #offset: number;

  constructor(reader: MetadataReader, tableStart: number, tableEnd: number, ref: MetadataRef, what: string) {
    this.#reader = reader;
    this.#tableEnd = tableEnd;
    this.#what = what;
    this.#block = tableStart + ref.block;
    this.#offset = ref.offset;
    if (ref.offset >= METADATA_BLOCK_SIZE || this.#block >= tableEnd) {
      throw new SquashfsImageCorruptError(
        what,
        `reference ${ref.block}:${ref.offset} lies outside its table`,
      );
    }
  }

  /** Exactly `length` bytes from the current position, advancing past them. */
  async read(length: number): Promise<Uint8Array> {
    // A metadata block of ≥ 3 stored bytes inflates to ≤ 8 KiB: a bound on what the rest of the
    // table can hold, so a corrupt length fails here rather than allocating it.
    const remaining = Math.ceil((this.#tableEnd - this.#block) / 3) * METADATA_BLOCK_SIZE;
    if (!Number.isSafeInteger(length) || length < 0 || length > MAX_RECORD_BYTES || length > remaining) {
      throw new SquashfsImageCorruptError(this.#what, `record of ${length} bytes cannot fit the table`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const block = await this.#reader.block(this.#block, this.#tableEnd, this.#what);
      if (this.#offset > block.data.length) {
        throw new SquashfsImageCorruptError(
          this.#what,
          `offset ${this.#offset} is past the end of the ${block.data.length}-byte block at ${this.#block}`,
        );
      }
      const n = Math.min(length - done, block.data.length - this.#offset);
      out.set(block.data.subarray(this.#offset, this.#offset + n), done);
      done += n;
      this.#offset += n;
      if (this.#offset === block.data.length && done < length) this.#advance(block);
    }
    return out;
  }

  /** Moves to the next block; only a full block can have a successor. */
  #advance(block: MetadataBlock): void {
    if (block.data.length !== METADATA_BLOCK_SIZE) {
      throw new SquashfsImageCorruptError(
        this.#what,
        `record runs past the last metadata block (at ${this.#block})`,
      );
    }
    this.#block = block.next;
    this.#offset = 0;
  }
}
