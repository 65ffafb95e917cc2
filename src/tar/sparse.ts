/**
 * GNU sparse members: a file with holes stored as its data segments plus a map of where they go.
 * Four encodings exist (GNU tar manual, "Storing Sparse Files"; the `oldgnu_header` and
 * `sparse_header` structs of GNU tar's `tar.h`):
 *
 * - old GNU (`--format=gnu`): typeflag `S`; four map entries in the header itself, more in
 *   512-byte extension blocks that follow the header (each with 21 entries and its own
 *   `isextended` flag); `realsize` in the header.
 * - PAX 0.0: repeated `GNU.sparse.offset`/`GNU.sparse.numbytes` records, `GNU.sparse.size`.
 * - PAX 0.1: `GNU.sparse.map=off,len,off,len,...`, `GNU.sparse.size`.
 * - PAX 1.0 (GNU tar's default in posix format, and what bsdtar writes for any file with holes):
 *   `GNU.sparse.major=1`, `GNU.sparse.minor=0`, `GNU.sparse.name`, `GNU.sparse.realsize`; the
 *   map is at the start of the member's data, decimal numbers one per line (count, then offset and
 *   length pairs), padded with NULs to a 512-byte block; the segments' data follows.
 *
 * The map is untrusted input: every parser here is bounded in entries and in work per byte, and
 * `checkSparseMap` refuses what cannot describe a file (unsorted, overlapping, beyond the real
 * size, a real size past 2^53-1, data that does not add up to the stored size).
 */
import { SparseMapError, TarTooLargeError } from "./errors.js";
import { BLOCK_SIZE } from "./header.js";
import { decodeNumber } from "./number.js";

/** One data segment: `length` stored bytes that belong at `offset` of the real file. */
export interface SparseSegment {
  offset: number;
  length: number;
}

/** Where a sparse member's stored bytes go, and the size of the file they make. */
export interface SparseMap {
  /** The file's real size (holes included). */
  realSize: number;
  /** Data segments in file order. */
  segments: SparseSegment[];
}

export type SparseFormat = "gnu" | "0.0" | "0.1" | "1.0";

/**
 * The most map entries a member may have. GNU tar makes one per run of data between holes, so a
 * real file needs as many as it has holes; a million covers any file a VM image carries (a 1 TiB
 * file with a hole every MiB) and keeps a hostile map to ~16 MiB of numbers.
 */
export const MAX_SPARSE_SEGMENTS = 1_000_000;

/**
 * The most bytes the sparse members of one tar may claim beyond the data they carry (their holes),
 * summed: 256 GiB. Holes cost no input, but the SquashFS writer keeps a block-size word for each
 * hole block until the inode table is written (8 bytes per 128 KiB block) and scans each block, so
 * a 3 KB tar claiming 2^52 bytes of holes would otherwise run for days and exhaust memory.
 * Measured: 256 GiB of holes, 7 s and 169 MiB resident at 128 KiB blocks.
 */
export const MAX_SPARSE_EXPANSION = 256 * 1024 ** 3;

/** Sums the holes of one tar's sparse members against `MAX_SPARSE_EXPANSION`. */
export class SparseExpansionBudget {
  readonly #limit: number;
  #used = 0;
  constructor(limit = MAX_SPARSE_EXPANSION) {
    this.#limit = limit;
  }
  /** A sparse member of `realSize` bytes stored in `memberSize`: refused once the sum passes the bound. */
  add(name: string, realSize: number, memberSize: number): void {
    this.#used += Math.max(0, realSize - memberSize);
    if (this.#used > this.#limit) {
      throw new TarTooLargeError(
        `sparse file '${name}' claims ${realSize} bytes; the tar's sparse files claim more than ${this.#limit} bytes beyond the data they hold`,
      );
    }
  }
}

/** Old GNU header layout (`struct oldgnu_header`): the part after `prefix`'s first 41 bytes. */
export const GNU_SPARSE_FIELDS = {
  /** Four map entries, 24 bytes each: offset (12, octal) then numbytes (12, octal). */
  sparse: { offset: 386, entries: 4 },
  /** Non-zero: extension blocks follow the header. */
  isextended: { offset: 482, length: 1 },
  /** The real file size, octal or base-256. */
  realsize: { offset: 483, length: 12 },
} as const;

/** An extension block (`struct sparse_header`): 21 entries, then `isextended`. */
export const GNU_SPARSE_EXTENSION = {
  sparse: { offset: 0, entries: 21 },
  isextended: { offset: 504, length: 1 },
} as const;

const ENTRY_SIZE = 24;
const FIELD_SIZE = 12;

/** The map entries and `isextended` flag of an old GNU header or extension block. */
export interface GnuSparseBlock {
  segments: SparseSegment[];
  isExtended: boolean;
}

function decodeGnuEntries(block: Uint8Array, offset: number, entries: number): SparseSegment[] {
  const segments: SparseSegment[] = [];
  for (let i = 0; i < entries; i++) {
    const at = offset + i * ENTRY_SIZE;
    // An unused entry is all NULs; the list ends at the first one.
    if ((block[at] ?? 0) === 0) break;
    segments.push({
      offset: decodeNumber(block.subarray(at, at + FIELD_SIZE)),
      length: decodeNumber(block.subarray(at + FIELD_SIZE, at + ENTRY_SIZE)),
    });
  }
  return segments;
}

/** The sparse fields of an old GNU `S` header: its four entries, `isextended` and `realsize`. */
export function decodeGnuSparseHeader(block: Uint8Array): GnuSparseBlock & { realSize: number } {
  const { sparse, isextended, realsize } = GNU_SPARSE_FIELDS;
  return {
    segments: decodeGnuEntries(block, sparse.offset, sparse.entries),
    isExtended: (block[isextended.offset] ?? 0) !== 0,
    realSize: decodeNumber(block.subarray(realsize.offset, realsize.offset + realsize.length)),
  };
}

/** One old GNU extension block: 21 entries and its own `isextended`. */
export function decodeGnuSparseExtension(block: Uint8Array): GnuSparseBlock {
  const { sparse, isextended } = GNU_SPARSE_EXTENSION;
  return {
    segments: decodeGnuEntries(block, sparse.offset, sparse.entries),
    isExtended: (block[isextended.offset] ?? 0) !== 0,
  };
}

/** Appends `more` to `segments`, refusing to grow past the bound. */
export function addSegments(segments: SparseSegment[], more: readonly SparseSegment[]): void {
  if (segments.length + more.length > MAX_SPARSE_SEGMENTS) {
    throw new SparseMapError(`more than ${MAX_SPARSE_SEGMENTS} map entries`);
  }
  for (const s of more) segments.push(s);
}

/** A map number: decimal digits only, at most 16 of them (2^53 has 16), a safe integer. */
function decimal(text: string, what: string): number {
  if (!/^\d{1,16}$/.test(text))
    throw new SparseMapError(`${what} "${text.slice(0, 24)}" is not a decimal number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new SparseMapError(`${what} ${text} is beyond 2^53-1`);
  return n;
}

/** A PAX sparse size record (`GNU.sparse.size`, `GNU.sparse.realsize`). */
export function parseSparseSize(text: string | undefined, key: string): number {
  if (text === undefined) throw new SparseMapError(`the ${key} record is missing`);
  return decimal(text.trim(), key);
}

/** PAX 0.1's `GNU.sparse.map`: `offset,length` pairs, comma-separated. */
export function parseSparseMapRecord(text: string): SparseSegment[] {
  if (text === "") return [];
  // Count before splitting: a hostile record is at most the pax header's size, but a million
  // pairs is the bound whatever that is.
  let commas = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0x2c) commas++;
  if (commas % 2 === 0) throw new SparseMapError("GNU.sparse.map has an odd count of numbers");
  if ((commas + 1) / 2 > MAX_SPARSE_SEGMENTS)
    throw new SparseMapError(`more than ${MAX_SPARSE_SEGMENTS} map entries`);
  const parts = text.split(",");
  const segments: SparseSegment[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    segments.push({
      offset: decimal(parts[i] ?? "", "GNU.sparse.map offset"),
      length: decimal(parts[i + 1] ?? "", "GNU.sparse.map length"),
    });
  }
  return segments;
}

const SPARSE_OFFSET = "GNU.sparse.offset";
const SPARSE_NUMBYTES = "GNU.sparse.numbytes";

/**
 * PAX 0.0's segments, from the pax header's records in their order (a key-value map keeps only
 * the last of the repeated records). `undefined` when the header has none of them.
 */
export function collectPaxSparse00(
  records: Iterable<readonly [string, Uint8Array]>,
): SparseSegment[] | undefined {
  let segments: SparseSegment[] | undefined;
  let offset: number | undefined;
  for (const [key, value] of records) {
    if (key !== SPARSE_OFFSET && key !== SPARSE_NUMBYTES) continue;
    segments ??= [];
    const text = Buffer.from(value).toString("latin1");
    if (key === SPARSE_OFFSET) {
      if (offset !== undefined) throw new SparseMapError(`${SPARSE_OFFSET} without its ${SPARSE_NUMBYTES}`);
      offset = decimal(text, SPARSE_OFFSET);
    } else {
      if (offset === undefined) throw new SparseMapError(`${SPARSE_NUMBYTES} without its ${SPARSE_OFFSET}`);
      addSegments(segments, [{ offset, length: decimal(text, SPARSE_NUMBYTES) }]);
      offset = undefined;
    }
  }
  if (offset !== undefined) throw new SparseMapError(`${SPARSE_OFFSET} without its ${SPARSE_NUMBYTES}`);
  return segments;
}

/**
 * Checks a map against the member that carries it: the real size a safe integer, segments
 * sorted and disjoint, each inside the real size, and their lengths adding up to the `stored`
 * bytes the member holds after the map. A zero-length segment at the real size (GNU tar's
 * terminating entry) is fine.
 */
export function checkSparseMap(map: SparseMap, stored: number): void {
  if (!Number.isSafeInteger(map.realSize) || map.realSize < 0) {
    throw new SparseMapError(`real size ${map.realSize} is not a size up to 2^53-1`);
  }
  if (map.segments.length > MAX_SPARSE_SEGMENTS)
    throw new SparseMapError(`more than ${MAX_SPARSE_SEGMENTS} map entries`);
  let end = 0;
  let total = 0;
  for (const { offset, length } of map.segments) {
    if (offset < end) {
      throw new SparseMapError(
        `segment at ${offset} starts before the previous one ends (${end}): unsorted or overlapping`,
      );
    }
    if (offset + length > map.realSize) {
      throw new SparseMapError(`segment ${offset}+${length} ends beyond the real size ${map.realSize}`);
    }
    end = offset + length;
    total += length;
  }
  if (total !== stored) {
    throw new SparseMapError(`the map describes ${total} bytes of data but the member stores ${stored}`);
  }
}

/**
 * Incremental parser of PAX 1.0's in-data map: feed it the member's first bytes until `done`;
 * `consumed` then says how many bytes the map and its padding took (a multiple of 512).
 * Work is linear in the bytes fed, and the map may not be longer than `memberSize` or describe
 * more than `MAX_SPARSE_SEGMENTS` entries.
 */
export class SparseMap10Parser {
  readonly #memberSize: number;
  readonly #numbers: number[] = [];
  #count = -1;
  #digits = "";
  #mapBytes = 0;
  /** The map's length rounded up to a block: where the data starts. */
  #padded = 0;
  #segments: SparseSegment[] | undefined;

  constructor(memberSize: number) {
    this.#memberSize = memberSize;
  }

  /** Bytes the map and its padding take at the start of the data, once complete. */
  get mapLength(): number {
    return this.#padded;
  }

  /** The segments, once `push` has returned a consumed length. */
  get segments(): SparseSegment[] {
    if (this.#segments === undefined) throw new Error("SparseMap10Parser: map not complete");
    return this.#segments;
  }

  /**
   * Parses what it can of `chunk`. Returns the number of bytes of `chunk` that belong to the map
   * (padding included) once the map is complete, or `undefined` if it needs more.
   */
  push(chunk: Uint8Array): number | undefined {
    let i = 0;
    while (this.#segments === undefined) {
      if (i === chunk.length) return undefined;
      const c = chunk[i++] ?? 0;
      if (++this.#mapBytes > this.#memberSize) throw this.#truncated();
      if (c === 0x0a) this.#endNumber();
      else if (c < 0x30 || c > 0x39) {
        throw new SparseMapError(
          `the map in the data has a stray byte 0x${c.toString(16)} at ${this.#mapBytes - 1}`,
        );
      } else if (this.#digits.length === 16)
        throw new SparseMapError("a number in the map has more than 16 digits");
      else this.#digits += String.fromCharCode(c);
    }
    const take = Math.min(chunk.length - i, this.#padded - this.#mapBytes);
    this.#mapBytes += take;
    return this.#mapBytes === this.#padded ? i + take : undefined;
  }

  /** The error for a member whose data ends inside the map. */
  truncated(): SparseMapError {
    return this.#truncated();
  }

  #truncated(): SparseMapError {
    return new SparseMapError("the map in the data is truncated: the member ends inside it");
  }

  #endNumber(): void {
    const n = decimal(this.#digits, "map number");
    this.#digits = "";
    if (this.#count < 0) {
      if (n > MAX_SPARSE_SEGMENTS)
        throw new SparseMapError(`the map declares ${n} entries, more than ${MAX_SPARSE_SEGMENTS}`);
      this.#count = n;
    } else {
      this.#numbers.push(n);
    }
    if (this.#numbers.length === 2 * this.#count) {
      const segments: SparseSegment[] = [];
      for (let j = 0; j < this.#numbers.length; j += 2) {
        segments.push({ offset: this.#numbers[j] ?? 0, length: this.#numbers[j + 1] ?? 0 });
      }
      this.#padded = Math.ceil(this.#mapBytes / BLOCK_SIZE) * BLOCK_SIZE;
      if (this.#padded > this.#memberSize) throw this.#truncated();
      this.#segments = segments;
    }
  }
}
