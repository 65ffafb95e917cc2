/**
 * Inodes (format.adoc, "Inode Table"; Linux squashfs_fs.h `struct squashfs_*_inode`). Every
 * type has a basic and an extended layout; `pickInodeType` chooses the basic one unless a field
 * needs the extended one, as mksquashfs does.
 */
import { SquashfsCorruptError, SquashfsInternalError } from "../errors.js";
import { checkRange, getU64, putU16, putU32, putU64 } from "./binary.js";
import { DIR_INDEX_SIZE, decodeDirIndex, encodeDirIndex, type DirIndexEntry } from "./directory.js";

export const InodeType = {
  BASIC_DIR: 1,
  BASIC_FILE: 2,
  BASIC_SYMLINK: 3,
  BASIC_BLOCK_DEV: 4,
  BASIC_CHAR_DEV: 5,
  BASIC_FIFO: 6,
  BASIC_SOCKET: 7,
  EXT_DIR: 8,
  EXT_FILE: 9,
  EXT_SYMLINK: 10,
  EXT_BLOCK_DEV: 11,
  EXT_CHAR_DEV: 12,
  EXT_FIFO: 13,
  EXT_SOCKET: 14,
} as const;

/** Extended types are the basic ones + 7; directory entries store the basic type. */
export function basicType(type: number): number {
  return type > 7 ? type - 7 : type;
}

/** "No xattrs" / "no fragment" marker in u32 index fields. */
export const NO_XATTR = 0xffffffff;
export const NO_FRAGMENT = 0xffffffff;

/** Longest symlink target the kernel reads, PAGE_SIZE (squashfs inode.c): writer and reader refuse more. */
export const MAX_SYMLINK_TARGET = 4096;

/** Common header of every inode. */
export const INODE_HEADER_SIZE = 16;
export const BASIC_DIR_SIZE = 32;
export const EXT_DIR_SIZE = 40;
export const BASIC_FILE_SIZE = 32;
export const EXT_FILE_SIZE = 56;
export const BASIC_SYMLINK_SIZE = 24;
export const BASIC_DEV_SIZE = 24;
export const EXT_DEV_SIZE = 28;
export const BASIC_IPC_SIZE = 20;
export const EXT_IPC_SIZE = 24;

const FOUR_GIB = 2 ** 32;

interface InodeCommon {
  /** Permission bits (07777); the type comes from `type`. */
  permissions: number;
  /** Index into the id table of the owner. */
  uidIndex: number;
  /** Index into the id table of the group. */
  gidIndex: number;
  /** Modification time, u32 seconds. */
  mtime: number;
  /** Inode number, 1 … inode count. */
  inodeNumber: number;
}

export interface DirInode extends InodeCommon {
  type: typeof InodeType.BASIC_DIR | typeof InodeType.EXT_DIR;
  /** Start of the listing's metadata block, relative to the directory table. */
  blockIndex: number;
  /** 2 + number of subdirectories. */
  nlink: number;
  /** Listing size + 3 (the kernel's "." and ".."); < 4 means empty. */
  fileSize: number;
  /** Offset of the listing in its uncompressed metadata block. */
  blockOffset: number;
  /** Inode number of the parent (root: inode count + 1, as mksquashfs). */
  parentInode: number;
  xattrIndex: number;
  /** Directory index (extended only). */
  index: DirIndexEntry[];
}

export interface FileInode extends InodeCommon {
  type: typeof InodeType.BASIC_FILE | typeof InodeType.EXT_FILE;
  /** Absolute position of the first data block. */
  blocksStart: number;
  fileSize: number;
  /** Bytes saved by sparse (all-zero) blocks; extended only. */
  sparse: number;
  nlink: number;
  /** Fragment table index of the tail, or NO_FRAGMENT. */
  fragIndex: number;
  /** Offset of the tail in the uncompressed fragment block. */
  fragOffset: number;
  xattrIndex: number;
  /** One size word per stored block (bit 24 = uncompressed, 0 = sparse). */
  blockSizes: number[];
}

export interface SymlinkInode extends InodeCommon {
  type: typeof InodeType.BASIC_SYMLINK | typeof InodeType.EXT_SYMLINK;
  nlink: number;
  /** Target path bytes, not NUL-terminated. */
  target: Uint8Array;
  xattrIndex: number;
}

export interface DeviceInode extends InodeCommon {
  type: 4 | 5 | 11 | 12;
  nlink: number;
  /** Linux new_encode_dev(major, minor). */
  rdev: number;
  xattrIndex: number;
}

export interface IpcInode extends InodeCommon {
  type: 6 | 7 | 13 | 14;
  nlink: number;
  xattrIndex: number;
}

export type Inode = DirInode | FileInode | SymlinkInode | DeviceInode | IpcInode;

/** Linux `new_encode_dev`: minor's low byte, major, minor's high 12 bits. */
export function encodeDevice(major: number, minor: number): number {
  checkRange("device major", major, 0xfff);
  checkRange("device minor", minor, 0xfffff);
  return (minor & 0xff) + major * 0x100 + Math.floor(minor / 0x100) * 0x100000;
}

export function decodeDevice(rdev: number): { major: number; minor: number } {
  return { major: (rdev >>> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00) };
}

export type InodeKind = "dir" | "file" | "symlink" | "block-device" | "char-device" | "fifo" | "socket";

/** The basic type unless a field needs the extended layout. */
export function pickInodeType(
  kind: InodeKind,
  need: {
    nlink: number;
    xattr: boolean;
    fileSize?: number;
    blocksStart?: number;
    sparse?: number;
    dirIndexCount?: number;
  },
): number {
  const shared = need.nlink > 1 || need.xattr;
  switch (kind) {
    case "dir":
      // Directory nlink is always ≥ 2 and fits the basic layout; the size field is u16 there.
      return need.xattr || (need.dirIndexCount ?? 0) > 0 || (need.fileSize ?? 0) > 0xffff
        ? InodeType.EXT_DIR
        : InodeType.BASIC_DIR;
    case "file":
      return shared ||
        (need.fileSize ?? 0) >= FOUR_GIB ||
        (need.blocksStart ?? 0) >= FOUR_GIB ||
        (need.sparse ?? 0) > 0
        ? InodeType.EXT_FILE
        : InodeType.BASIC_FILE;
    case "symlink":
      return shared ? InodeType.EXT_SYMLINK : InodeType.BASIC_SYMLINK;
    case "block-device":
      return shared ? InodeType.EXT_BLOCK_DEV : InodeType.BASIC_BLOCK_DEV;
    case "char-device":
      return shared ? InodeType.EXT_CHAR_DEV : InodeType.BASIC_CHAR_DEV;
    case "fifo":
      return shared ? InodeType.EXT_FIFO : InodeType.BASIC_FIFO;
    case "socket":
      return shared ? InodeType.EXT_SOCKET : InodeType.BASIC_SOCKET;
  }
}

/** Refuses a value the basic layout of `what` cannot carry. */
function requireBasic(ok: boolean, what: string): void {
  if (!ok) throw new SquashfsInternalError(`${what} needs the extended inode layout`);
}

function inodeSize(inode: Inode): number {
  switch (inode.type) {
    case 1:
      return BASIC_DIR_SIZE;
    case 8:
      return EXT_DIR_SIZE + inode.index.reduce((n, e) => n + DIR_INDEX_SIZE + e.name.length, 0);
    case 2:
      return BASIC_FILE_SIZE + 4 * inode.blockSizes.length;
    case 9:
      return EXT_FILE_SIZE + 4 * inode.blockSizes.length;
    case 3:
      return BASIC_SYMLINK_SIZE + inode.target.length;
    case 10:
      return BASIC_SYMLINK_SIZE + inode.target.length + 4;
    case 4:
    case 5:
      return BASIC_DEV_SIZE;
    case 11:
    case 12:
      return EXT_DEV_SIZE;
    case 6:
    case 7:
      return BASIC_IPC_SIZE;
    case 13:
    case 14:
      return EXT_IPC_SIZE;
  }
}

export function encodeInode(inode: Inode): Uint8Array {
  const out = new Uint8Array(inodeSize(inode));
  // inode_type
  putU16(out, 0, inode.type, "inode type");
  // permissions (mode without the type bits)
  putU16(out, 2, inode.permissions & 0o7777, "permissions");
  // uid_idx: index into the id table
  putU16(out, 4, inode.uidIndex, "uid index");
  // gid_idx: index into the id table
  putU16(out, 6, inode.gidIndex, "gid index");
  // mtime
  putU32(out, 8, inode.mtime, "mtime");
  // inode_number
  if (inode.inodeNumber < 1) throw new SquashfsInternalError("inode number 0 is reserved");
  putU32(out, 12, inode.inodeNumber, "inode number");
  const o = INODE_HEADER_SIZE;
  switch (inode.type) {
    case InodeType.BASIC_DIR:
      requireBasic(
        inode.xattrIndex === NO_XATTR && inode.index.length === 0,
        "directory with xattrs or index",
      );
      // block_index: listing's metadata block, relative to the directory table
      putU32(out, o, inode.blockIndex, "dir block index");
      // link_count
      putU32(out, o + 4, inode.nlink, "dir link count");
      // file_size: listing + 3, u16
      putU16(out, o + 8, inode.fileSize, "dir size");
      // block_offset
      putU16(out, o + 10, inode.blockOffset, "dir block offset");
      // parent_inode_number
      putU32(out, o + 12, inode.parentInode, "parent inode");
      break;
    case InodeType.EXT_DIR: {
      // link_count
      putU32(out, o, inode.nlink, "dir link count");
      // file_size: listing + 3
      putU32(out, o + 4, inode.fileSize, "dir size");
      // block_index
      putU32(out, o + 8, inode.blockIndex, "dir block index");
      // parent_inode_number
      putU32(out, o + 12, inode.parentInode, "parent inode");
      // index_count: directory index entries following the inode
      putU16(out, o + 16, inode.index.length, "dir index count");
      // block_offset
      putU16(out, o + 18, inode.blockOffset, "dir block offset");
      // xattr_idx
      putU32(out, o + 20, inode.xattrIndex, "xattr index");
      let p = EXT_DIR_SIZE;
      for (const e of inode.index) {
        const b = encodeDirIndex(e);
        out.set(b, p);
        p += b.length;
      }
      break;
    }
    case InodeType.BASIC_FILE:
      requireBasic(
        inode.xattrIndex === NO_XATTR &&
          inode.nlink === 1 &&
          inode.sparse === 0 &&
          inode.fileSize < FOUR_GIB &&
          inode.blocksStart < FOUR_GIB,
        "file",
      );
      // blocks_start: absolute position of the first data block
      putU32(out, o, inode.blocksStart, "blocks start");
      // fragment_block_index
      putU32(out, o + 4, inode.fragIndex, "fragment index");
      // block_offset: tail offset in the fragment block
      putU32(out, o + 8, inode.fragOffset, "fragment offset");
      // file_size
      putU32(out, o + 12, inode.fileSize, "file size");
      writeBlockSizes(out, BASIC_FILE_SIZE, inode.blockSizes);
      break;
    case InodeType.EXT_FILE:
      // blocks_start
      putU64(out, o, inode.blocksStart, "blocks start");
      // file_size
      putU64(out, o + 8, inode.fileSize, "file size");
      // sparse: bytes saved by sparse blocks
      putU64(out, o + 16, inode.sparse, "sparse bytes");
      // link_count
      putU32(out, o + 24, inode.nlink, "file link count");
      // fragment_block_index
      putU32(out, o + 28, inode.fragIndex, "fragment index");
      // block_offset
      putU32(out, o + 32, inode.fragOffset, "fragment offset");
      // xattr_idx
      putU32(out, o + 36, inode.xattrIndex, "xattr index");
      writeBlockSizes(out, EXT_FILE_SIZE, inode.blockSizes);
      break;
    case InodeType.BASIC_SYMLINK:
    case InodeType.EXT_SYMLINK:
      requireBasic(
        inode.type === InodeType.EXT_SYMLINK || (inode.xattrIndex === NO_XATTR && inode.nlink === 1),
        "symlink",
      );
      // link_count
      putU32(out, o, inode.nlink, "symlink link count");
      // target_size
      putU32(out, o + 4, inode.target.length, "symlink size");
      // target_path
      out.set(inode.target, o + 8);
      // xattr_idx (extended only), after the target
      if (inode.type === InodeType.EXT_SYMLINK)
        putU32(out, o + 8 + inode.target.length, inode.xattrIndex, "xattr index");
      break;
    case 4:
    case 5:
    case 11:
    case 12:
      requireBasic(inode.type > 7 || (inode.xattrIndex === NO_XATTR && inode.nlink === 1), "device");
      // link_count
      putU32(out, o, inode.nlink, "device link count");
      // device number
      putU32(out, o + 4, inode.rdev, "device number");
      // xattr_idx (extended only)
      if (inode.type > 7) putU32(out, o + 8, inode.xattrIndex, "xattr index");
      break;
    case 6:
    case 7:
    case 13:
    case 14:
      requireBasic(inode.type > 7 || (inode.xattrIndex === NO_XATTR && inode.nlink === 1), "fifo/socket");
      // link_count
      putU32(out, o, inode.nlink, "ipc link count");
      // xattr_idx (extended only)
      if (inode.type > 7) putU32(out, o + 4, inode.xattrIndex, "xattr index");
      break;
  }
  return out;
}

function writeBlockSizes(out: Uint8Array, at: number, sizes: readonly number[]): void {
  for (let i = 0; i < sizes.length; i++) putU32(out, at + 4 * i, sizes[i]!, "block size word");
}

/**
 * Decodes the inode at `offset` of `bytes` (an uncompressed inode table, or enough of it).
 * `blockSize` is needed to know how many block size words a file inode has.
 */
export function decodeInode(
  bytes: Uint8Array,
  offset: number,
  blockSize: number,
): { inode: Inode; size: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, bytes.byteLength - offset);
  const type = v.getUint16(0, true);
  const common: InodeCommon = {
    permissions: v.getUint16(2, true),
    uidIndex: v.getUint16(4, true),
    gidIndex: v.getUint16(6, true),
    mtime: v.getUint32(8, true),
    inodeNumber: v.getUint32(12, true),
  };
  const o = INODE_HEADER_SIZE;
  const view = (p: number, n: number): Uint8Array => bytes.slice(offset + p, offset + p + n);
  let inode: Inode;
  switch (type) {
    case 1:
      inode = {
        ...common,
        type,
        blockIndex: v.getUint32(o, true),
        nlink: v.getUint32(o + 4, true),
        fileSize: v.getUint16(o + 8, true),
        blockOffset: v.getUint16(o + 10, true),
        parentInode: v.getUint32(o + 12, true),
        xattrIndex: NO_XATTR,
        index: [],
      };
      break;
    case 8: {
      const count = v.getUint16(o + 16, true);
      const index: DirIndexEntry[] = [];
      let p = offset + EXT_DIR_SIZE;
      for (let i = 0; i < count; i++) {
        const e = decodeDirIndex(bytes, p);
        index.push(e);
        p += DIR_INDEX_SIZE + e.name.length;
      }
      inode = {
        ...common,
        type,
        nlink: v.getUint32(o, true),
        fileSize: v.getUint32(o + 4, true),
        blockIndex: v.getUint32(o + 8, true),
        parentInode: v.getUint32(o + 12, true),
        blockOffset: v.getUint16(o + 18, true),
        xattrIndex: v.getUint32(o + 20, true),
        index,
      };
      break;
    }
    case 2:
    case 9: {
      const ext = type === 9;
      const fileSize = ext ? getU64(v, o + 8) : v.getUint32(o + 12, true);
      const fragIndex = v.getUint32(ext ? o + 28 : o + 4, true);
      const count =
        fragIndex === NO_FRAGMENT ? Math.ceil(fileSize / blockSize) : Math.floor(fileSize / blockSize);
      const at = ext ? EXT_FILE_SIZE : BASIC_FILE_SIZE;
      const blockSizes: number[] = [];
      for (let i = 0; i < count; i++) blockSizes.push(v.getUint32(at + 4 * i, true));
      inode = {
        ...common,
        type,
        blocksStart: ext ? getU64(v, o) : v.getUint32(o, true),
        fileSize,
        sparse: ext ? getU64(v, o + 16) : 0,
        nlink: ext ? v.getUint32(o + 24, true) : 1,
        fragIndex,
        fragOffset: v.getUint32(ext ? o + 32 : o + 8, true),
        xattrIndex: ext ? v.getUint32(o + 36, true) : NO_XATTR,
        blockSizes,
      };
      break;
    }
    case 3:
    case 10: {
      const len = v.getUint32(o + 4, true);
      inode = {
        ...common,
        type,
        nlink: v.getUint32(o, true),
        target: view(o + 8, len),
        xattrIndex: type === 10 ? v.getUint32(o + 8 + len, true) : NO_XATTR,
      };
      break;
    }
    case 4:
    case 5:
    case 11:
    case 12:
      inode = {
        ...common,
        type,
        nlink: v.getUint32(o, true),
        rdev: v.getUint32(o + 4, true),
        xattrIndex: type > 7 ? v.getUint32(o + 8, true) : NO_XATTR,
      };
      break;
    case 6:
    case 7:
    case 13:
    case 14:
      inode = {
        ...common,
        type,
        nlink: v.getUint32(o, true),
        xattrIndex: type > 7 ? v.getUint32(o + 4, true) : NO_XATTR,
      };
      break;
    default:
      throw new SquashfsCorruptError(`unknown inode type ${type}`);
  }
  return { inode, size: inodeSize(inode) };
}
