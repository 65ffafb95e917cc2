/**
 * The 96-byte SquashFS 4.0 superblock (format.adoc, "The Superblock"; Linux squashfs_fs.h
 * `struct squashfs_super_block`). The writer writes a placeholder first and patches it last,
 * when every table position is known.
 */
import { SquashfsCorruptError, SquashfsInternalError } from "../errors.js";
import { getOptionalU64, getU64, setOptionalU64, setU16, setU32, setU64, viewOf } from "./binary.js";

export const SUPERBLOCK_SIZE = 96;
/** "hsqs" read as a little-endian u32. */
export const SQUASHFS_MAGIC = 0x73717368;

/** Superblock flag bits (format.adoc). Only COMPRESSOR_OPTIONS changes how the kernel reads. */
export const SuperblockFlags = {
  UNCOMPRESSED_INODES: 0x0001,
  UNCOMPRESSED_DATA: 0x0002,
  CHECK: 0x0004,
  UNCOMPRESSED_FRAGMENTS: 0x0008,
  NO_FRAGMENTS: 0x0010,
  ALWAYS_FRAGMENTS: 0x0020,
  DUPLICATES: 0x0040,
  EXPORTABLE: 0x0080,
  UNCOMPRESSED_XATTRS: 0x0100,
  NO_XATTRS: 0x0200,
  COMPRESSOR_OPTIONS: 0x0400,
  UNCOMPRESSED_IDS: 0x0800,
} as const;

export interface Superblock {
  /** Number of inodes; inode numbers run 1 … inodeCount. */
  inodeCount: number;
  /** Filesystem creation time, seconds since the epoch (u32). */
  modificationTime: number;
  /** Data block size, a power of two 4 KiB … 1 MiB. */
  blockSize: number;
  /** Number of fragment table entries. */
  fragmentCount: number;
  /** Compressor id: 1 gzip (zlib), 4 xz. */
  compressionId: number;
  /** Bitwise OR of SuperblockFlags. */
  flags: number;
  /** Number of id table entries (u16: at most 65535). */
  idCount: number;
  /** Inode reference of the root directory: block start << 16 | offset. */
  rootInodeRef: number;
  /** Bytes used by the image, excluding padding. */
  bytesUsed: number;
  /** Absolute position of the id table's pointer list. */
  idTableStart: number;
  /** Absolute position of the xattr id table header, or null (no xattrs). */
  xattrIdTableStart: number | null;
  /** Absolute position of the first inode metadata block. */
  inodeTableStart: number;
  /** Absolute position of the first directory metadata block. */
  directoryTableStart: number;
  /** Absolute position of the fragment table's pointer list, or null. */
  fragmentTableStart: number | null;
  /** Absolute position of the export table's pointer list, or null. */
  exportTableStart: number | null;
}

export function encodeSuperblock(sb: Superblock): Uint8Array {
  const out = new Uint8Array(SUPERBLOCK_SIZE);
  const v = viewOf(out);
  const blockLog = Math.log2(sb.blockSize);
  if (!Number.isInteger(blockLog) || blockLog < 12 || blockLog > 20) {
    throw new SquashfsInternalError(`block size ${sb.blockSize} is not a power of two from 4 KiB to 1 MiB`);
  }
  // magic: "hsqs"
  v.setUint32(0, SQUASHFS_MAGIC, true);
  // inode_count
  setU32(v, 4, sb.inodeCount, "inode count");
  // modification_time
  setU32(v, 8, sb.modificationTime, "mkfs time");
  // block_size
  setU32(v, 12, sb.blockSize, "block size");
  // fragment_entry_count
  setU32(v, 16, sb.fragmentCount, "fragment count");
  // compression_id
  setU16(v, 20, sb.compressionId, "compression id");
  // block_log: log2(block_size), must agree with it
  setU16(v, 22, blockLog, "block log");
  // flags
  setU16(v, 24, sb.flags, "flags");
  // id_count
  setU16(v, 26, sb.idCount, "id count");
  // version_major: 4
  v.setUint16(28, 4, true);
  // version_minor: 0
  v.setUint16(30, 0, true);
  // root_inode_ref
  setU64(v, 32, sb.rootInodeRef, "root inode ref");
  // bytes_used
  setU64(v, 40, sb.bytesUsed, "bytes used");
  // id_table_start
  setU64(v, 48, sb.idTableStart, "id table start");
  // xattr_id_table_start (all-ones when absent)
  setOptionalU64(v, 56, sb.xattrIdTableStart, "xattr id table start");
  // inode_table_start
  setU64(v, 64, sb.inodeTableStart, "inode table start");
  // directory_table_start
  setU64(v, 72, sb.directoryTableStart, "directory table start");
  // fragment_table_start (all-ones when absent)
  setOptionalU64(v, 80, sb.fragmentTableStart, "fragment table start");
  // export_table_start (all-ones when absent)
  setOptionalU64(v, 88, sb.exportTableStart, "export table start");
  return out;
}

export function decodeSuperblock(bytes: Uint8Array): Superblock {
  if (bytes.length < SUPERBLOCK_SIZE)
    throw new SquashfsCorruptError(`superblock needs ${SUPERBLOCK_SIZE} bytes, got ${bytes.length}`);
  const v = viewOf(bytes);
  if (v.getUint32(0, true) !== SQUASHFS_MAGIC)
    throw new SquashfsCorruptError("not a SquashFS image (bad magic)");
  const major = v.getUint16(28, true);
  const minor = v.getUint16(30, true);
  if (major !== 4 || minor !== 0)
    throw new SquashfsCorruptError(`unsupported SquashFS version ${major}.${minor}`);
  const blockSize = v.getUint32(12, true);
  const blockLog = v.getUint16(22, true);
  // 4 KiB … 1 MiB (format.adoc). Checked before comparing: `1 << n` wraps at 32 in JS, so
  // block_log 44 would otherwise "agree" with block size 4096.
  if (blockLog < 12 || blockLog > 20 || 2 ** blockLog !== blockSize) {
    throw new SquashfsCorruptError(
      `block size ${blockSize} and block log ${blockLog} are not a valid pair (4 KiB … 1 MiB)`,
    );
  }
  return {
    inodeCount: v.getUint32(4, true),
    modificationTime: v.getUint32(8, true),
    blockSize,
    fragmentCount: v.getUint32(16, true),
    compressionId: v.getUint16(20, true),
    flags: v.getUint16(24, true),
    idCount: v.getUint16(26, true),
    rootInodeRef: getU64(v, 32),
    bytesUsed: getU64(v, 40),
    idTableStart: getU64(v, 48),
    xattrIdTableStart: getOptionalU64(v, 56),
    inodeTableStart: getU64(v, 64),
    directoryTableStart: getU64(v, 72),
    fragmentTableStart: getOptionalU64(v, 80),
    exportTableStart: getOptionalU64(v, 88),
  };
}
