/**
 * Directory table records (format.adoc, "Directory Table"; Linux squashfs_fs.h
 * `struct squashfs_dir_header`, `squashfs_dir_entry`, `squashfs_dir_index`): the run header, the
 * entry and the extended directory inode's index entry, with the name order the kernel's lookup
 * assumes. How a listing is cut into runs is the writer's business (writer/directory-writer.ts).
 */
import { SquashfsInternalError } from "../errors.js";
import { putI16, putU16, putU32 } from "./binary.js";

export const DIR_HEADER_SIZE = 12;
export const DIR_ENTRY_SIZE = 8;
export const DIR_INDEX_SIZE = 12;
/** Entries per header (SQUASHFS_DIR_COUNT). */
export const DIR_MAX_RUN = 256;
/** Longest name the kernel accepts (SQUASHFS_NAME_LEN). */
export const MAX_NAME_BYTES = 256;

export interface DirHeader {
  /** Number of entries that follow (stored minus one). */
  count: number;
  /** Start of the inode metadata block of these entries, relative to the inode table. */
  start: number;
  /** Base inode number the entries' deltas refer to. */
  inodeNumber: number;
}

export interface DirEntry {
  /** Offset of the inode in its uncompressed inode metadata block. */
  offset: number;
  /** Inode number minus the header's, signed 16-bit. */
  inodeDelta: number;
  /** Basic inode type (1 … 7). */
  type: number;
  /** Name bytes (stored size minus one). */
  name: Uint8Array;
}

export interface DirIndexEntry {
  /** Byte offset of the header from the start of the listing. */
  index: number;
  /** Start of the directory metadata block holding the header, relative to the directory table. */
  start: number;
  /** First name of the run behind the header. */
  name: Uint8Array;
}

export function encodeDirHeader(h: DirHeader): Uint8Array {
  const out = new Uint8Array(DIR_HEADER_SIZE);
  if (h.count < 1 || h.count > DIR_MAX_RUN)
    throw new SquashfsInternalError(`directory run of ${h.count} entries`);
  // count: entries following, minus one
  putU32(out, 0, h.count - 1, "dir run count");
  // start: inode block of the entries, relative to the inode table
  putU32(out, 4, h.start, "dir inode block");
  // inode_number: base for the entries' deltas
  putU32(out, 8, h.inodeNumber, "dir base inode");
  return out;
}

export function decodeDirHeader(bytes: Uint8Array, offset: number): DirHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, DIR_HEADER_SIZE);
  return { count: v.getUint32(0, true) + 1, start: v.getUint32(4, true), inodeNumber: v.getUint32(8, true) };
}

export function encodeDirEntry(e: DirEntry): Uint8Array {
  checkName(e.name);
  const out = new Uint8Array(DIR_ENTRY_SIZE + e.name.length);
  // offset: inode offset in its uncompressed metadata block
  putU16(out, 0, e.offset, "dir entry inode offset");
  // inode_offset: signed delta to the header's inode number
  putI16(out, 2, e.inodeDelta, "dir entry inode delta");
  // type: basic inode type
  putU16(out, 4, e.type, "dir entry type");
  // name_size: length minus one
  putU16(out, 6, e.name.length - 1, "dir entry name size");
  // name, no NUL
  out.set(e.name, DIR_ENTRY_SIZE);
  return out;
}

export function decodeDirEntry(bytes: Uint8Array, offset: number): DirEntry {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, DIR_ENTRY_SIZE);
  const size = v.getUint16(6, true) + 1;
  return {
    offset: v.getUint16(0, true),
    inodeDelta: v.getInt16(2, true),
    type: v.getUint16(4, true),
    name: bytes.slice(offset + DIR_ENTRY_SIZE, offset + DIR_ENTRY_SIZE + size),
  };
}

export function encodeDirIndex(e: DirIndexEntry): Uint8Array {
  checkName(e.name);
  const out = new Uint8Array(DIR_INDEX_SIZE + e.name.length);
  // index: byte offset of the header within the listing
  putU32(out, 0, e.index, "dir index offset");
  // start: directory block of the header, relative to the directory table
  putU32(out, 4, e.start, "dir index block");
  // name_size: length minus one
  putU32(out, 8, e.name.length - 1, "dir index name size");
  // name of the run's first entry
  out.set(e.name, DIR_INDEX_SIZE);
  return out;
}

export function decodeDirIndex(bytes: Uint8Array, offset: number): DirIndexEntry {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, DIR_INDEX_SIZE);
  const size = v.getUint32(8, true) + 1;
  return {
    index: v.getUint32(0, true),
    start: v.getUint32(4, true),
    name: bytes.slice(offset + DIR_INDEX_SIZE, offset + DIR_INDEX_SIZE + size),
  };
}

function checkName(name: Uint8Array): void {
  if (name.length < 1 || name.length > MAX_NAME_BYTES)
    throw new SquashfsInternalError(`directory entry name of ${name.length} bytes`);
}

/** Bytewise (strcmp, unsigned) order of names: the order the kernel's lookup assumes. */
export function compareNames(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
