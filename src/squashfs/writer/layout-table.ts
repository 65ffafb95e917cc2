/**
 * Where every file's bytes went (format/data-layout.ts FileLayout), packed: a layout is an id into
 * typed arrays, and only what few files have (a block list, sparse bytes) is kept per file in a
 * Map. A tree of small files has one layout per file, and an object per layout was ~70 bytes of
 * each entry's memory (issue 12). `get(id)` gives the FileLayout shape back for the serializer.
 */
import type { FileLayout } from "../format/data-layout.js";

/** The block list of every file with no full block and no stored tail (frozen: nothing adds to it). */
const NO_BLOCKS: number[] = Object.freeze([]) as unknown as number[];

function grown<T extends Float64Array | Uint32Array>(a: T, min: number): T {
  if (a.length >= min) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(a.length * 2, min));
  b.set(a);
  return b;
}

export class LayoutTable {
  #count = 0;
  #fileSize = new Float64Array(1024);
  #blocksStart = new Float64Array(1024);
  /** Fragment index + 1 (0: no fragment), and the offset in it: both fit 32 bits. */
  #fragment = new Uint32Array(1024);
  #fragmentOffset = new Uint32Array(1024);
  readonly #blockSizes = new Map<number, number[]>();
  readonly #sparse = new Map<number, number>();

  get count(): number {
    return this.#count;
  }

  /** A new layout of a file of `fileSize` bytes, with no blocks and no fragment yet. */
  add(fileSize: number): number {
    const id = this.#count++;
    if (id >= this.#fileSize.length) {
      this.#fileSize = grown(this.#fileSize, id + 1);
      this.#blocksStart = grown(this.#blocksStart, id + 1);
      this.#fragment = grown(this.#fragment, id + 1);
      this.#fragmentOffset = grown(this.#fragmentOffset, id + 1);
    }
    this.#fileSize[id] = fileSize;
    this.#blocksStart[id] = 0;
    this.#fragment[id] = 0;
    this.#fragmentOffset[id] = 0;
    return id;
  }

  /** Forgets the last layout added (a file found to duplicate another). */
  dropLast(id: number): void {
    if (id !== this.#count - 1) throw new Error(`LayoutTable: ${id} is not the last layout`);
    this.#count--;
    this.#blockSizes.delete(id);
    this.#sparse.delete(id);
  }

  /** The block list of `id`, to be filled in as its blocks are stored (created on first use). */
  blockSizes(id: number): number[] {
    let list = this.#blockSizes.get(id);
    if (list === undefined) this.#blockSizes.set(id, (list = []));
    return list;
  }

  setBlocksStart(id: number, position: number): void {
    this.#blocksStart[id] = position;
  }

  addSparse(id: number, bytes: number): void {
    this.#sparse.set(id, (this.#sparse.get(id) ?? 0) + bytes);
  }

  setFragment(id: number, index: number, offset: number): void {
    this.#fragment[id] = index + 1;
    this.#fragmentOffset[id] = offset;
  }

  get(id: number): FileLayout {
    if (!(id >= 0 && id < this.#count)) throw new RangeError(`no layout ${id}`);
    return {
      fileSize: this.#fileSize[id]!,
      blocksStart: this.#blocksStart[id]!,
      blockSizes: this.#blockSizes.get(id) ?? NO_BLOCKS,
      fragmentIndex: this.#fragment[id]! - 1,
      fragmentOffset: this.#fragmentOffset[id]!,
      sparseBytes: this.#sparse.get(id) ?? 0,
    };
  }
}
