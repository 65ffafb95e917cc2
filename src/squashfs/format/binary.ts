/**
 * Checked little-endian field writers shared by the struct encoders. SquashFS fields are narrow
 * (u16 ids, u32 sizes); a silently wrapped number is a corrupt image, so every write checks its
 * range first (after node-tar's large-numbers.ts refusing what it cannot encode).
 */
import { SquashfsRangeError } from "../errors.js";

export const U16_MAX = 0xffff;
export const U32_MAX = 0xffffffff;

/** Throws unless `value` is an integer in 0 … max. */
export function checkRange(field: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max)
    throw new SquashfsRangeError(field, value, max);
  return value;
}

export function setU16(view: DataView, offset: number, value: number, field: string): void {
  view.setUint16(offset, checkRange(field, value, U16_MAX), true);
}

export function setU32(view: DataView, offset: number, value: number, field: string): void {
  view.setUint32(offset, checkRange(field, value, U32_MAX), true);
}

/*
 * The same writers straight into the bytes, for the encoders run once per entry (inodes and
 * directory entries): on Node 20 a `new DataView` costs ~1.2 µs, twenty times the stores
 * themselves, and at 100k entries the writer's two views per entry were 0.2 s of the main thread.
 */

export function putU16(bytes: Uint8Array, offset: number, value: number, field: string): void {
  checkRange(field, value, U16_MAX);
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = value >>> 8;
}

export function putU32(bytes: Uint8Array, offset: number, value: number, field: string): void {
  storeU32(bytes, offset, checkRange(field, value, U32_MAX));
}

export function putI16(bytes: Uint8Array, offset: number, value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < -0x8000 || value > 0x7fff)
    throw new SquashfsRangeError(field, value, 0x7fff);
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >> 8) & 0xff;
}

export function putU64(bytes: Uint8Array, offset: number, value: number, field: string): void {
  checkRange(field, value, Number.MAX_SAFE_INTEGER);
  const low = value % 0x1_0000_0000;
  storeU32(bytes, offset, low);
  storeU32(bytes, offset + 4, (value - low) / 0x1_0000_0000);
}

/** A u32 already range-checked, little-endian. */
function storeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = value >>> 24;
}

/** u64 fields hold JS numbers up to 2^53-1: images and offsets never get near that. */
export function setU64(view: DataView, offset: number, value: number, field: string): void {
  view.setBigUint64(offset, BigInt(checkRange(field, value, Number.MAX_SAFE_INTEGER)), true);
}

/** Reads a u64 as a number, refusing values a JS number cannot hold exactly. */
export function getU64(view: DataView, offset: number): number {
  const v = view.getBigUint64(offset, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new SquashfsRangeError("u64", v, Number.MAX_SAFE_INTEGER);
  return Number(v);
}

/** All-ones u64: the "table absent" marker of the superblock (format.adoc, "The Superblock"). */
export const ABSENT_U64 = 0xffffffffffffffffn;

/** A u64 table position that may be absent (all-ones → null). */
export function setOptionalU64(view: DataView, offset: number, value: number | null, field: string): void {
  if (value === null) view.setBigUint64(offset, ABSENT_U64, true);
  else setU64(view, offset, value, field);
}

export function getOptionalU64(view: DataView, offset: number): number | null {
  return view.getBigUint64(offset, true) === ABSENT_U64 ? null : getU64(view, offset);
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** UTF-8 encoding of names and targets, shared so all tables agree on the bytes. */
export const utf8 = new TextEncoder();

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
