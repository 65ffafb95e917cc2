/**
 * The 512-byte tar header block (POSIX.1-1988 ustar, as extended by pax and GNU tar), read field
 * by field: an index that only needs names, types and sizes must not refuse an archive over a
 * field it never uses.
 */
import { decodeName } from "../byte-names.js";
import { decodeNumber } from "./number.js";

/** Tar files are sequences of 512-byte blocks: a header, then the member's data padded to a block. */
export const BLOCK_SIZE = 512;

/** Where each header field lives (POSIX `<tar.h>`, "ustar Interchange Format"), in spec order. */
export const HEADER_FIELDS = {
  /** Member name, NUL-terminated unless it fills the field. */
  name: { offset: 0, length: 100 },
  /** Permission bits, octal. */
  mode: { offset: 100, length: 8 },
  /** Owner id, octal or base-256. */
  uid: { offset: 108, length: 8 },
  /** Group id, octal or base-256. */
  gid: { offset: 116, length: 8 },
  /** Data size in bytes, octal or base-256 (GNU, for 8 GiB and more). */
  size: { offset: 124, length: 12 },
  /** Modification time, seconds since the epoch, octal or base-256. */
  mtime: { offset: 136, length: 12 },
  /** Header checksum, octal: the byte sum of the block with this field as spaces. */
  chksum: { offset: 148, length: 8 },
  /** Member type: `0`/NUL file, `1` hard link, `2` symlink, `5` directory, `x`/`g` pax, `L`/`K` GNU long names. */
  typeflag: { offset: 156, length: 1 },
  /** Link target, NUL-terminated unless it fills the field. */
  linkname: { offset: 157, length: 100 },
  /** `ustar\0` (POSIX, then version `00`) or `ustar ` (old GNU, then version ` \0`). */
  magic: { offset: 257, length: 6 },
  /** Format version. */
  version: { offset: 263, length: 2 },
  /** Owner name. */
  uname: { offset: 265, length: 32 },
  /** Group name. */
  gname: { offset: 297, length: 32 },
  /** Device major number, octal. */
  devmajor: { offset: 329, length: 8 },
  /** Device minor number, octal. */
  devminor: { offset: 337, length: 8 },
  /** POSIX ustar only: directory prefix of `name`, joined with a `/`. GNU uses these bytes for other fields. */
  prefix: { offset: 345, length: 155 },
} as const;

export type HeaderField = keyof typeof HEADER_FIELDS;

function fieldBytes(block: Uint8Array, field: HeaderField): Uint8Array {
  const { offset, length } = HEADER_FIELDS[field];
  return block.subarray(offset, offset + length);
}

/** A NUL-terminated string of bytes, in its string form (src/byte-names.ts: UTF-8, other bytes kept). */
export function decodeString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return decodeName(bytes.subarray(0, nul < 0 ? bytes.length : nul));
}

/** A text field of the header (name, linkname, magic, uname, ...). */
export function headerString(block: Uint8Array, field: HeaderField): string {
  return decodeString(fieldBytes(block, field));
}

/** A numeric field of the header (mode, uid, gid, size, mtime, ...); see `decodeNumber`. */
export function headerNumber(block: Uint8Array, field: HeaderField): number {
  return decodeNumber(fieldBytes(block, field));
}

/** The type flag as a character (`"\0"` stays `"\0"`: old tars' regular files). */
export function headerType(block: Uint8Array): string {
  return String.fromCharCode(block[HEADER_FIELDS.typeflag.offset] ?? 0x30);
}

/** The member name as stored: `prefix/name` in POSIX ustar headers, `name` otherwise. */
export function headerName(block: Uint8Array): string {
  const name = headerString(block, "name");
  if (headerString(block, "magic") !== "ustar") return name;
  const prefix = headerString(block, "prefix");
  return prefix === "" ? name : `${prefix}/${name}`;
}

/** An all-zero block: the end-of-archive marker (two of them, though one is enough to stop). */
export function isZeroBlock(block: Uint8Array): boolean {
  return block.every((byte) => byte === 0);
}

/** The data of a GNU `L` (long name) or `K` (long link name) member: the name, NUL-terminated. */
export function decodeGnuLongName(data: Uint8Array): string {
  return decodeString(data);
}

/**
 * Whether the header's checksum field matches its bytes (POSIX: the unsigned byte sum, the
 * checksum field counted as eight spaces).
 */
export function headerChecksumOk(block: Uint8Array): boolean {
  const { offset, length } = HEADER_FIELDS.chksum;
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK_SIZE; i++) if (i < offset || i >= offset + length) sum += block[i] ?? 0;
  try {
    return headerNumber(block, "chksum") === sum;
  } catch {
    return false;
  }
}
