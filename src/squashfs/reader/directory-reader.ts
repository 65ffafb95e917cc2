/**
 * Reading a directory listing (format.adoc, "Directory Table"), the mirror of writer/directory-writer.ts:
 * runs of entries, each behind a header giving the inode metadata block and base inode number.
 * The listing is `file_size - 3` bytes (the kernel counts "." and ".." as 3) and is parsed as a
 * stream, so a huge size field costs nothing until the bytes are really there.
 */
import {
  compareNames,
  decodeDirEntry,
  decodeDirHeader,
  DIR_ENTRY_SIZE,
  DIR_HEADER_SIZE,
  DIR_MAX_RUN,
  MAX_NAME_BYTES,
  type DirEntry,
} from "../format/directory.js";
import { concat } from "../format/binary.js";
import type { DirInode, InodeKind } from "../format/inode.js";
import type { MetadataCursor } from "./metadata-reader.js";
import type { MetadataRef } from "../format/metadata.js";
import { SquashfsImageCorruptError } from "./errors.js";
import { decodeName, escapeName } from "../../byte-names.js";

/** Directory entry types are basic inode types (1 … 7). */
export const KIND_OF_TYPE: Readonly<Record<number, InodeKind>> = {
  1: "dir",
  2: "file",
  3: "symlink",
  4: "block-device",
  5: "char-device",
  6: "fifo",
  7: "socket",
};

/** One child as the listing describes it (before its inode is read). */
export interface DirectoryEntry {
  /** The name's string form (byte-names.ts: UTF-8, other bytes kept as escapes); `nameBytes` has the stored bytes. */
  name: string;
  nameBytes: Uint8Array;
  inodeNumber: number;
  kind: InodeKind;
  /** Where its inode is, relative to the inode table. */
  inodeRef: MetadataRef;
}

/** The size of `dir`'s listing in bytes: 0 for an empty directory. */
export function listingSize(dir: DirInode): number {
  return dir.fileSize <= 3 ? 0 : dir.fileSize - 3;
}

/**
 * Yields the entries of a listing of `size` bytes under `cursor`, checking run headers, name
 * sizes, entry types, inode numbers and the strictly increasing name order the kernel's lookup
 * relies on.
 */
export async function* readListing(
  cursor: MetadataCursor,
  size: number,
  inodeCount: number,
  what: string,
): AsyncGenerator<DirectoryEntry> {
  let remaining = size;
  let previous: Uint8Array | null = null;
  while (remaining > 0) {
    if (remaining < DIR_HEADER_SIZE)
      throw new SquashfsImageCorruptError(what, `${remaining} stray bytes at the end of the listing`);
    const header = decodeDirHeader(await cursor.read(DIR_HEADER_SIZE), 0);
    remaining -= DIR_HEADER_SIZE;
    if (header.count > DIR_MAX_RUN)
      throw new SquashfsImageCorruptError(what, `run of ${header.count} entries (at most ${DIR_MAX_RUN})`);
    for (let i = 0; i < header.count; i++) {
      if (remaining < DIR_ENTRY_SIZE)
        throw new SquashfsImageCorruptError(what, "listing ends inside an entry");
      const fixed = await cursor.read(DIR_ENTRY_SIZE);
      const nameSize = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength).getUint16(6, true) + 1;
      if (nameSize > MAX_NAME_BYTES)
        throw new SquashfsImageCorruptError(what, `entry name of ${nameSize} bytes`);
      if (remaining < DIR_ENTRY_SIZE + nameSize)
        throw new SquashfsImageCorruptError(what, "listing ends inside an entry name");
      const entry: DirEntry = decodeDirEntry(concat([fixed, await cursor.read(nameSize)]), 0);
      remaining -= DIR_ENTRY_SIZE + nameSize;
      const kind = KIND_OF_TYPE[entry.type];
      if (kind === undefined) throw new SquashfsImageCorruptError(what, `entry type ${entry.type}`);
      const inodeNumber = header.inodeNumber + entry.inodeDelta;
      if (inodeNumber < 1 || inodeNumber > inodeCount)
        throw new SquashfsImageCorruptError(
          what,
          `entry inode number ${inodeNumber} outside 1 … ${inodeCount}`,
        );
      checkName(entry.name, what);
      if (previous !== null && compareNames(previous, entry.name) >= 0) {
        throw new SquashfsImageCorruptError(what, "entries are not in strictly increasing name order");
      }
      previous = entry.name;
      yield {
        name: decodeName(entry.name),
        nameBytes: entry.name,
        inodeNumber,
        kind,
        inodeRef: { block: header.start, offset: entry.offset },
      };
    }
  }
}

/** A name must be one path component: no '/', no NUL, not "." or "..". */
function checkName(name: Uint8Array, what: string): void {
  const dot = 0x2e;
  if (
    name.includes(0x2f) ||
    name.includes(0) ||
    (name[0] === dot && (name.length === 1 || (name.length === 2 && name[1] === dot)))
  ) {
    throw new SquashfsImageCorruptError(what, `invalid entry name "${escapeName(decodeName(name))}"`);
  }
}
