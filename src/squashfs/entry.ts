/**
 * What the SquashFS writer accepts: filesystem entries in the order a tar stream yields them.
 *
 * This is the contract between the sources (tar reader, directory walker, layer merge) and the
 * writer. Paths are relative to the image root, '/'-separated, already normalized (no '.', '..',
 * empty or leading '/' components); the root itself is "". Entries may arrive in any order:
 * a missing parent directory is created implicitly (mode 0755, uid/gid 0, the image mtime) and
 * takes the attributes of its own entry if one comes later. A second entry at a path that holds a
 * non-directory replaces it; a directory entry at an existing directory only updates attributes.
 */

/** Attributes every inode carries. */
export interface EntryAttrs {
  /** Permission bits including setuid (04000), setgid (02000) and sticky (01000); type bits ignored. */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, seconds since the Unix epoch (SquashFS stores u32: 0 … 2^32-1). */
  mtime: number;
  /** Extended attributes, full names (`user.x`, `trusted.x`, `security.capability`) to raw values. */
  xattrs?: ReadonlyMap<string, Uint8Array>;
}

/**
 * File content: bytes in hand, or a stream yielding exactly `size` bytes in chunks of any size.
 * A source may reuse its buffers: bytes in hand are valid until the source's next entry is asked
 * for, a chunk until the next chunk is (the directory walk reads into one buffer). A consumer
 * that keeps bytes longer copies them.
 */
export type FileContent = Uint8Array | AsyncIterable<Uint8Array>;

export type Entry =
  | { type: "directory"; path: string; attrs: EntryAttrs }
  | { type: "file"; path: string; attrs: EntryAttrs; size: number; content: FileContent }
  | { type: "symlink"; path: string; attrs: EntryAttrs; target: string }
  /** A hard link to the non-directory at `target` (an image path); resolved when the image is finished. */
  | { type: "hardlink"; path: string; target: string }
  | { type: "char-device" | "block-device"; path: string; attrs: EntryAttrs; major: number; minor: number }
  | { type: "fifo" | "socket"; path: string; attrs: EntryAttrs };

export type EntryType = Entry["type"];
