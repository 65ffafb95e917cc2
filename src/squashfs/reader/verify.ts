/**
 * A full read of an image, as `gvmconv verify` and tests use it: every inode reached from the
 * root, every xattr set, every data block and fragment block inflated and size-checked (the
 * reader checks each block against the size the file expects). Stops at the first problem with
 * the reader's typed error.
 */
import { isDirectory, isFile, type SquashfsReader } from "./reader.js";
import { quotePath, SquashfsImageCorruptError } from "./errors.js";

export interface VerifySummary {
  /** Distinct inodes reached (hard links once). */
  inodes: number;
  files: number;
  directories: number;
  /** Paths reached, hard links counted once per path. */
  paths: number;
  /** Content bytes of the distinct files. */
  fileBytes: number;
  fragmentBlocks: number;
}

export async function verifySquashfs(
  reader: SquashfsReader,
  options: { signal?: AbortSignal } = {},
): Promise<VerifySummary> {
  const summary: VerifySummary = {
    inodes: 0,
    files: 0,
    directories: 0,
    paths: 0,
    fileBytes: 0,
    fragmentBlocks: 0,
  };
  const seen = new Set<number>();
  for await (const { path, inode } of reader.walk(options)) {
    summary.paths++;
    if (seen.has(inode.inodeNumber)) continue;
    seen.add(inode.inodeNumber);
    summary.inodes++;
    // Resolves ids and xattrs, which a walk alone does not touch.
    await reader.stat(inode);
    if (isDirectory(inode)) summary.directories++;
    if (isFile(inode)) {
      summary.files++;
      let n = 0;
      for await (const chunk of reader.readFile(inode)) n += chunk.length;
      if (n !== inode.fileSize)
        throw new SquashfsImageCorruptError(
          quotePath(path),
          `read ${n} bytes of a ${inode.fileSize}-byte file`,
        );
      summary.fileBytes += n;
    }
  }
  if (summary.inodes !== reader.superblock.inodeCount) {
    throw new SquashfsImageCorruptError(
      "superblock",
      `inode count is ${reader.superblock.inodeCount} but ${summary.inodes} inodes are reachable`,
    );
  }
  // Fragment blocks no file uses would go unread by the walk.
  for (let i = 0; i < reader.fragmentCount; i++) {
    options.signal?.throwIfAborted();
    await reader.fragmentBlock(i);
  }
  summary.fragmentBlocks = reader.fragmentCount;
  return summary;
}
