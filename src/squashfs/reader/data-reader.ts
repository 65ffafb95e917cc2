/**
 * Reading file content (format.adoc, "Data and Fragment Blocks"), the mirror of writer/data-writer.ts.
 * A file is its full blocks, stored back to back from `blocks_start` (size word 0 = a sparse,
 * all-zero block that takes no space; bit 24 = stored raw), then an optional tail inside a
 * fragment block. Every block must inflate to exactly the size the file expects at that point,
 * which is also what `verify` relies on.
 */
import type { ByteSource } from "./byte-source.js";
import type { Compressor } from "../compressor/compressor.js";
import { BLOCK_SIZE_RESERVED, decodeBlockSize, type FragmentEntry } from "../format/data-layout.js";
import { decodeFragmentEntry } from "../format/fragment-table.js";
import { NO_FRAGMENT, type FileInode } from "../format/inode.js";
import type { LookupTableReader } from "./lookup-reader.js";
import { SquashfsDecompressError, SquashfsImageCorruptError } from "./errors.js";

/** Fragment blocks kept inflated: consecutive small files usually share one. */
const FRAGMENT_CACHE = 4;

export class DataReader {
  readonly #source: ByteSource;
  readonly #compressor: Compressor;
  readonly #blockSize: number;
  /** Data and fragment blocks lie between the superblock and the inode table. */
  readonly #dataEnd: number;
  readonly #fragments: LookupTableReader | null;
  readonly #fragmentCache = new Map<number, Uint8Array>();

  constructor(
    source: ByteSource,
    compressor: Compressor,
    blockSize: number,
    dataEnd: number,
    fragments: LookupTableReader | null,
  ) {
    this.#source = source;
    this.#compressor = compressor;
    this.#blockSize = blockSize;
    this.#dataEnd = dataEnd;
    this.#fragments = fragments;
  }

  get fragmentCount(): number {
    return this.#fragments?.count ?? 0;
  }

  /** The content of `inode` in chunks of at most one block. */
  async *read(inode: FileInode): AsyncGenerator<Uint8Array> {
    const bs = this.#blockSize;
    const what = `file inode ${inode.inodeNumber}`;
    let position = inode.blocksStart;
    for (let i = 0; i < inode.blockSizes.length; i++) {
      const expected = Math.min(bs, inode.fileSize - i * bs);
      const word = inode.blockSizes[i]!;
      const stored = decodeBlockSize(word).storedSize;
      if ((word & BLOCK_SIZE_RESERVED) !== 0 || stored > bs)
        throw new SquashfsImageCorruptError(what, `block ${i} size word 0x${word.toString(16)}`);
      if (stored === 0) {
        yield new Uint8Array(expected);
        continue;
      }
      yield await this.#block(position, word, expected, `${what} block ${i}`);
      position += stored;
    }
    if (inode.fragIndex === NO_FRAGMENT) return;
    const tail = inode.fileSize - inode.blockSizes.length * bs;
    if (tail === 0) return;
    const block = await this.fragmentBlock(inode.fragIndex);
    if (inode.fragOffset + tail > block.length) {
      throw new SquashfsImageCorruptError(
        what,
        `tail of ${tail} bytes at ${inode.fragOffset} runs past fragment block ${inode.fragIndex} (${block.length} bytes)`,
      );
    }
    yield block.slice(inode.fragOffset, inode.fragOffset + tail);
  }

  /** Fragment table entry `index`. */
  async fragmentEntry(index: number): Promise<FragmentEntry> {
    if (this.#fragments === null || index >= this.#fragments.count) {
      throw new SquashfsImageCorruptError(
        "fragment table",
        `fragment ${index} does not exist (${this.fragmentCount} fragments)`,
      );
    }
    return decodeFragmentEntry(await this.#fragments.record(index));
  }

  /** Fragment block `index`, inflated (at most one block size; its exact size is not recorded). */
  async fragmentBlock(index: number): Promise<Uint8Array> {
    const cached = this.#fragmentCache.get(index);
    if (cached !== undefined) return cached;
    const entry = await this.fragmentEntry(index);
    const stored = decodeBlockSize(entry.size).storedSize;
    if ((entry.size & BLOCK_SIZE_RESERVED) !== 0 || stored === 0 || stored > this.#blockSize) {
      throw new SquashfsImageCorruptError(
        "fragment table",
        `fragment ${index} size word 0x${entry.size.toString(16)}`,
      );
    }
    const data = await this.#block(entry.start, entry.size, null, `fragment block ${index}`);
    this.#fragmentCache.set(index, data);
    if (this.#fragmentCache.size > FRAGMENT_CACHE) {
      const oldest = this.#fragmentCache.keys().next().value;
      if (oldest !== undefined) this.#fragmentCache.delete(oldest);
    }
    return data;
  }

  /** Reads and inflates one stored block; `expected` null = anything from 1 byte to the block size. */
  async #block(position: number, word: number, expected: number | null, what: string): Promise<Uint8Array> {
    const { storedSize: stored, uncompressed } = decodeBlockSize(word);
    if (position < 0 || position + stored > this.#dataEnd) {
      throw new SquashfsImageCorruptError(
        what,
        `stored at ${position} … ${position + stored}, outside the data area (ends at ${this.#dataEnd})`,
      );
    }
    const bytes = await this.#source.read(position, stored);
    let data: Uint8Array;
    if (uncompressed) {
      data = bytes;
    } else {
      try {
        data = await this.#compressor.decompress(bytes, expected ?? this.#blockSize);
      } catch (cause) {
        throw new SquashfsDecompressError(what, position, "does not decompress", { cause });
      }
    }
    if (expected !== null ? data.length !== expected : data.length === 0 || data.length > this.#blockSize) {
      throw new SquashfsDecompressError(
        what,
        position,
        `holds ${data.length} bytes, expected ${expected ?? `1 … ${this.#blockSize}`}`,
      );
    }
    return data;
  }
}
