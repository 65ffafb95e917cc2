/**
 * Reading one inode from the inode table. An inode's length depends on its contents (block list,
 * symlink target, directory index) and it may straddle metadata blocks, so the variable part's
 * size is worked out and checked field by field first; only then does format/inode.ts's decodeInode see
 * exactly the bytes of one inode.
 */
import { concat } from "../format/binary.js";
import { DIR_INDEX_SIZE, MAX_NAME_BYTES } from "../format/directory.js";
import {
  BASIC_DEV_SIZE,
  BASIC_DIR_SIZE,
  BASIC_FILE_SIZE,
  BASIC_IPC_SIZE,
  BASIC_SYMLINK_SIZE,
  decodeInode,
  EXT_DEV_SIZE,
  EXT_DIR_SIZE,
  EXT_FILE_SIZE,
  EXT_IPC_SIZE,
  INODE_HEADER_SIZE,
  MAX_SYMLINK_TARGET,
  NO_FRAGMENT,
  type Inode,
} from "../format/inode.js";
import type { MetadataCursor } from "./metadata-reader.js";
import { SquashfsImageCorruptError } from "./errors.js";

/** Fixed sizes by inode type (1 … 14). */
const FIXED_SIZE: Readonly<Record<number, number>> = {
  1: BASIC_DIR_SIZE,
  2: BASIC_FILE_SIZE,
  3: BASIC_SYMLINK_SIZE,
  4: BASIC_DEV_SIZE,
  5: BASIC_DEV_SIZE,
  6: BASIC_IPC_SIZE,
  7: BASIC_IPC_SIZE,
  8: EXT_DIR_SIZE,
  9: EXT_FILE_SIZE,
  10: BASIC_SYMLINK_SIZE,
  11: EXT_DEV_SIZE,
  12: EXT_DEV_SIZE,
  13: EXT_IPC_SIZE,
  14: EXT_IPC_SIZE,
};

/** Reads the inode under `cursor`, checking what the kernel would trip on. */
export async function readInodeAt(
  cursor: MetadataCursor,
  blockSize: number,
  inodeCount: number,
  what: string,
): Promise<Inode> {
  const header = await cursor.read(INODE_HEADER_SIZE);
  const hv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const type = hv.getUint16(0, true);
  const fixed = FIXED_SIZE[type];
  if (fixed === undefined) throw new SquashfsImageCorruptError(what, `unknown inode type ${type}`);
  const number = hv.getUint32(12, true);
  if (number < 1 || number > inodeCount)
    throw new SquashfsImageCorruptError(what, `inode number ${number} outside 1 … ${inodeCount}`);
  const body = await cursor.read(fixed - INODE_HEADER_SIZE);
  const parts = [header, body];
  // Offsets below are relative to the whole inode; `field` reads from `body`.
  const bv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const field32 = (at: number): number => bv.getUint32(at - INODE_HEADER_SIZE, true);
  switch (type) {
    case 2:
    case 9: {
      const ext = type === 9;
      const fileSize = ext ? Number(bv.getBigUint64(24 - INODE_HEADER_SIZE, true)) : field32(28);
      if (!Number.isSafeInteger(fileSize))
        throw new SquashfsImageCorruptError(what, `file size ${fileSize} too large`);
      const fragIndex = field32(ext ? 44 : 20);
      const blocks =
        fragIndex === NO_FRAGMENT ? Math.ceil(fileSize / blockSize) : Math.floor(fileSize / blockSize);
      // cursor.read bounds the list by what the inode table can hold.
      parts.push(await cursor.read(blocks * 4));
      break;
    }
    case 3:
    case 10: {
      const len = field32(20);
      if (len > MAX_SYMLINK_TARGET)
        throw new SquashfsImageCorruptError(
          what,
          `symlink target of ${len} bytes (at most ${MAX_SYMLINK_TARGET})`,
        );
      parts.push(await cursor.read(len + (type === 10 ? 4 : 0)));
      break;
    }
    case 8: {
      const count = bv.getUint16(32 - INODE_HEADER_SIZE, true);
      for (let i = 0; i < count; i++) {
        const entry = await cursor.read(DIR_INDEX_SIZE);
        const nameSize =
          new DataView(entry.buffer, entry.byteOffset, entry.byteLength).getUint32(8, true) + 1;
        if (nameSize > MAX_NAME_BYTES)
          throw new SquashfsImageCorruptError(what, `directory index name of ${nameSize} bytes`);
        parts.push(entry, await cursor.read(nameSize));
      }
      break;
    }
  }
  const bytes = concat(parts);
  try {
    const { inode, size } = decodeInode(bytes, 0, blockSize);
    if (size !== bytes.length) throw new Error(`decoded ${size} of ${bytes.length} bytes`);
    return inode;
  } catch (cause) {
    if (cause instanceof SquashfsImageCorruptError) throw cause;
    throw new SquashfsImageCorruptError(what, `inode ${number} does not decode`, { cause });
  }
}
