/**
 * The directory table (format.adoc, "Directory Table"; Linux dir.c, namei.c). A listing is runs
 * of entries, each run behind a header naming the inode metadata block and a base inode number.
 *
 * A run ends when it holds 256 entries, when the next entry's inode sits in another inode block,
 * when its inode number is not within a signed 16-bit delta of the base, or when the listing has
 * crossed into another directory metadata block. That last rule gives every directory block its
 * own header, which the directory index (extended inode) points at: the kernel's lookup takes the
 * last index entry whose name ≤ the wanted name (strcmp), jumps to that header and scans on from
 * there, so each index entry must carry the first name of its run, the run's byte offset in the
 * listing, and the directory-table start of the metadata block holding the header.
 */
import type { MetadataWriter } from "./metadata-writer.js";
import { METADATA_BLOCK_SIZE, type MetadataRef } from "../format/metadata.js";
import { SquashfsInternalError } from "../errors.js";
import {
  compareNames,
  DIR_ENTRY_SIZE,
  DIR_HEADER_SIZE,
  DIR_MAX_RUN,
  encodeDirEntry,
  encodeDirHeader,
  type DirIndexEntry,
} from "../format/directory.js";

/** One child of a directory, as the listing needs it. */
export interface DirChild {
  name: Uint8Array;
  /** Where the child's inode is, in the inode table. */
  inodeRef: MetadataRef;
  inodeNumber: number;
  /** Basic inode type of the child. */
  type: number;
}

export interface WrittenDirectory {
  /** Listing start in the directory table (meaningless but valid for an empty directory). */
  ref: MetadataRef;
  /** Inode `file_size`: listing bytes + 3. */
  fileSize: number;
  index: DirIndexEntry[];
}

/** Writes one directory's listing; `children` in any order (sorted here). */
export function writeDirectory(table: MetadataWriter, children: readonly DirChild[]): WrittenDirectory {
  const sorted = [...children].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 1; i < sorted.length; i++) {
    if (compareNames(sorted[i - 1]!.name, sorted[i]!.name) === 0)
      throw new SquashfsInternalError("duplicate directory entry");
  }
  const ref = table.ref();
  const listingStart = table.uncompressedSize;
  const index: DirIndexEntry[] = [];
  let lastIndexedBlock = table.blockIndex;
  let i = 0;
  while (i < sorted.length) {
    const first = sorted[i]!;
    const headerPos = table.uncompressedSize;
    const headerBlock = Math.floor(headerPos / METADATA_BLOCK_SIZE);
    // Grow the run while the rules allow; positions are those the entries will have.
    let end = i + 1;
    let pos = headerPos + DIR_HEADER_SIZE + DIR_ENTRY_SIZE + first.name.length;
    while (end < sorted.length && end - i < DIR_MAX_RUN) {
      const next = sorted[end]!;
      const delta = next.inodeNumber - first.inodeNumber;
      if (next.inodeRef.block !== first.inodeRef.block || delta < -0x8000 || delta > 0x7fff) break;
      if (Math.floor(pos / METADATA_BLOCK_SIZE) !== headerBlock) break;
      pos += DIR_ENTRY_SIZE + next.name.length;
      end++;
    }
    if (headerBlock !== lastIndexedBlock) {
      index.push({ index: headerPos - listingStart, start: table.blockStart(headerBlock), name: first.name });
      lastIndexedBlock = headerBlock;
    }
    table.append(
      encodeDirHeader({ count: end - i, start: first.inodeRef.block, inodeNumber: first.inodeNumber }),
    );
    for (let j = i; j < end; j++) {
      const c = sorted[j]!;
      table.append(
        encodeDirEntry({
          offset: c.inodeRef.offset,
          inodeDelta: c.inodeNumber - first.inodeNumber,
          type: c.type,
          name: c.name,
        }),
      );
    }
    i = end;
  }
  return { ref, fileSize: table.uncompressedSize - listingStart + 3, index };
}
