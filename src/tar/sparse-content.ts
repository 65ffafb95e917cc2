/**
 * A sparse member's real content from its stored bytes and map: the data segments in place and
 * zeros in the holes, `realSize` bytes in all, produced as it is read. Nothing is buffered beyond
 * the stored stream's own chunks, and holes come as views of one shared zero buffer (1 MiB, the
 * largest SquashFS block), so a file of terabytes of holes costs no memory and little work.
 */
import { TarFormatError } from "./errors.js";
import {
  checkSparseMap,
  SparseMap10Parser,
  type SparseFormat,
  type SparseMap,
  type SparseSegment,
} from "./sparse.js";

/** A sparse member as its headers describe it. */
export interface SparseMember {
  format: SparseFormat;
  /** The real file size (holes included). */
  realSize: number;
  /** The member's data size in the archive: for format 1.0 the in-data map plus the segments. */
  memberSize: number;
  /** The segments, from the headers; absent for format 1.0, whose map is the data's first bytes. */
  segments?: SparseSegment[];
}

/** The largest chunk a hole is yielded in: one SquashFS block at the largest block size. */
export const HOLE_CHUNK_SIZE = 1024 * 1024;

let zeros: Uint8Array | undefined;

/**
 * `length` (≤ HOLE_CHUNK_SIZE) zero bytes, a view of the shared buffer. Consumers copy chunks and
 * never write them (the Entry contract); should one transfer the buffer away, a new one is made.
 */
function holeChunk(length: number): Uint8Array {
  if (zeros === undefined || zeros.byteLength === 0) zeros = new Uint8Array(HOLE_CHUNK_SIZE);
  return zeros.subarray(0, length);
}

function* hole(length: number): Generator<Uint8Array> {
  for (let left = length; left > 0; left -= HOLE_CHUNK_SIZE) yield holeChunk(Math.min(left, HOLE_CHUNK_SIZE));
}

/**
 * Yields the real content of `member` from `stored`, its data in the archive. The map is checked
 * (`checkSparseMap`) before the first byte is yielded; a format 1.0 map is parsed from the data
 * first. `onMap` receives the checked map.
 */
export async function* expandSparse(
  member: SparseMember,
  stored: AsyncIterable<Uint8Array>,
  onMap?: (map: SparseMap) => void,
): AsyncGenerator<Uint8Array> {
  const source = stored[Symbol.asyncIterator]();
  let pending: Uint8Array | undefined;
  const nextChunk = async (): Promise<Uint8Array | undefined> => {
    if (pending !== undefined) {
      const chunk = pending;
      pending = undefined;
      return chunk;
    }
    const next = await source.next();
    return next.done ? undefined : next.value;
  };

  let segments = member.segments;
  let dataSize = member.memberSize;
  if (segments === undefined) {
    const parser = new SparseMap10Parser(member.memberSize);
    for (;;) {
      const chunk = await nextChunk();
      if (chunk === undefined) throw parser.truncated();
      const used = parser.push(chunk);
      if (used !== undefined) {
        if (used < chunk.length) pending = chunk.subarray(used);
        break;
      }
    }
    segments = parser.segments;
    dataSize -= parser.mapLength;
  }
  const map = { realSize: member.realSize, segments };
  checkSparseMap(map, dataSize);
  onMap?.(map);

  let position = 0;
  for (const { offset, length } of segments) {
    yield* hole(offset - position);
    let left = length;
    while (left > 0) {
      const chunk = await nextChunk();
      if (chunk === undefined) throw new TarFormatError(`sparse file data ends ${left} bytes early`);
      if (chunk.length > left) {
        pending = chunk.subarray(left);
        yield chunk.subarray(0, left);
        left = 0;
      } else {
        yield chunk;
        left -= chunk.length;
      }
    }
    position = offset + length;
  }
  yield* hole(member.realSize - position);
}
