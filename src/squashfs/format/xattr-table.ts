/**
 * Extended attribute table records (format.adoc, "Extended Attribute Table"; Linux xattr.c,
 * xattr_id.c): the key and value headers of a pair, the 16-byte xattr id of a set and the table
 * header the superblock points at, and the namespace prefixes a key type stands for.
 */
import { getU64, setU16, setU32, setU64, utf8, viewOf } from "./binary.js";
import { packRef, unpackRef, type MetadataRef } from "./metadata.js";

export const XATTR_KEY_SIZE = 4;
export const XATTR_VALUE_SIZE = 4;
export const XATTR_ID_SIZE = 16;
export const XATTR_TABLE_HEADER_SIZE = 16;
/** Key type bit: the value is a u64 reference to a value stored elsewhere. */
export const XATTR_VALUE_OUT_OF_LINE = 0x100;

/** Namespace prefixes and their key type (format.adoc: 0 user, 1 trusted, 2 security). */
export const XATTR_PREFIXES: readonly (readonly [string, number])[] = [
  ["user.", 0],
  ["trusted.", 1],
  ["security.", 2],
];

export interface XattrKey {
  /** Prefix id, | XATTR_VALUE_OUT_OF_LINE when the value is a reference. */
  type: number;
  /** Name without its prefix. */
  name: Uint8Array;
}

export interface XattrId {
  /** Reference to the first key of the set, relative to the kv start. */
  ref: MetadataRef;
  /** Number of key/value pairs. */
  count: number;
  /** Uncompressed bytes of the pairs, keys and value headers included. */
  size: number;
}

export interface XattrTableHeader {
  /** Absolute position of the first key/value metadata block. */
  kvStart: number;
  /** Number of xattr ids. */
  count: number;
}

export function encodeXattrKey(k: XattrKey): Uint8Array {
  const out = new Uint8Array(XATTR_KEY_SIZE + k.name.length);
  const v = viewOf(out);
  // type: prefix id (| 0x100 for out-of-line values)
  setU16(v, 0, k.type, "xattr type");
  // name_size
  setU16(v, 2, k.name.length, "xattr name size");
  // name without the prefix
  out.set(k.name, XATTR_KEY_SIZE);
  return out;
}

export function decodeXattrKey(bytes: Uint8Array, offset: number): XattrKey {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, XATTR_KEY_SIZE);
  const n = v.getUint16(2, true);
  return {
    type: v.getUint16(0, true),
    name: bytes.slice(offset + XATTR_KEY_SIZE, offset + XATTR_KEY_SIZE + n),
  };
}

export function encodeXattrValue(value: Uint8Array): Uint8Array {
  const out = new Uint8Array(XATTR_VALUE_SIZE + value.length);
  // value_size
  setU32(viewOf(out), 0, value.length, "xattr value size");
  // value bytes
  out.set(value, XATTR_VALUE_SIZE);
  return out;
}

export function decodeXattrValue(bytes: Uint8Array, offset: number): Uint8Array {
  const n = new DataView(bytes.buffer, bytes.byteOffset + offset, XATTR_VALUE_SIZE).getUint32(0, true);
  return bytes.slice(offset + XATTR_VALUE_SIZE, offset + XATTR_VALUE_SIZE + n);
}

export function encodeXattrId(id: XattrId): Uint8Array {
  const out = new Uint8Array(XATTR_ID_SIZE);
  const v = viewOf(out);
  // xattr: reference to the first key, block << 16 | offset
  setU64(v, 0, packRef(id.ref), "xattr ref");
  // count: pairs
  setU32(v, 8, id.count, "xattr count");
  // size: uncompressed bytes of the pairs
  setU32(v, 12, id.size, "xattr size");
  return out;
}

export function decodeXattrId(bytes: Uint8Array, offset = 0): XattrId {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, XATTR_ID_SIZE);
  const packed = getU64(v, 0);
  return { ref: unpackRef(packed), count: v.getUint32(8, true), size: v.getUint32(12, true) };
}

export function encodeXattrTableHeader(h: XattrTableHeader): Uint8Array {
  const out = new Uint8Array(XATTR_TABLE_HEADER_SIZE);
  const v = viewOf(out);
  // xattr_table_start: absolute position of the kv blocks
  setU64(v, 0, h.kvStart, "xattr kv start");
  // xattr_ids
  setU32(v, 8, h.count, "xattr id count");
  // unused: zero
  v.setUint32(12, 0, true);
  return out;
}

export function decodeXattrTableHeader(bytes: Uint8Array, offset = 0): XattrTableHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, XATTR_TABLE_HEADER_SIZE);
  return { kvStart: getU64(v, 0), count: v.getUint32(8, true) };
}

/** Splits a full attribute name into prefix id and rest; null for namespaces SquashFS lacks. */
export function splitXattrName(full: string): XattrKey | null {
  for (const [prefix, type] of XATTR_PREFIXES) {
    if (full.startsWith(prefix) && full.length > prefix.length)
      return { type, name: utf8.encode(full.slice(prefix.length)) };
  }
  return null;
}
