/**
 * Serializing the finished tree into the inode and directory tables (after squashfs-tools-ng's
 * serialize_fstree.c, which tar2sqfs calls once the fstree is complete). Two passes over the tree:
 *   1. numbering: inode numbers in the order the inodes will be written (a directory after its
 *      contents, so the root is last, as mksquashfs does), link counts, sorted listings;
 *   2. writing, bottom-up: a listing needs its children's inode refs, and a directory inode needs
 *      its listing's ref. Hard links share one node, so the inode is written once, at its first
 *      path in that order.
 * The id and xattr tables are filled as a side effect (in first-use order) and handed back for the
 * writer to lay out after the fragment and export tables.
 */
import type { Compressor } from "../compressor/compressor.js";
import { SquashfsInternalError } from "../errors.js";
import { decodeName, encodeName } from "../../byte-names.js";
import type { FileLayout } from "../format/data-layout.js";
import { compareNames } from "../format/directory.js";
import {
  basicType,
  encodeDevice,
  encodeInode,
  NO_FRAGMENT,
  NO_XATTR,
  pickInodeType,
  type Inode,
  type InodeKind,
} from "../format/inode.js";
import type { MetadataRef } from "../format/metadata.js";
import { writeDirectory, type DirChild } from "./directory-writer.js";
import type { DirNode, InodeNode } from "./fs-tree.js";
import { IdTable } from "./id-table-writer.js";
import { MetadataWriter } from "./metadata-writer.js";
import { XattrTable } from "./xattr-table-writer.js";

/** The tables a tree turns into, and what the superblock and the write result need to know. */
export interface SerializedTree {
  /** The inode table: framed metadata blocks, positions relative to its start. */
  inodeTable: Uint8Array;
  /** The directory table, likewise. */
  directoryTable: Uint8Array;
  /** Where the root directory's inode is (superblock `root_inode_ref`). */
  rootRef: MetadataRef;
  inodeCount: number;
  /** The inode reference of inode number n at index n - 1: the export table's records. */
  inodeRefs: MetadataRef[];
  /** Every uid/gid the inodes refer to, indexed as they refer to them. */
  ids: IdTable;
  /** Every distinct xattr set the inodes refer to. */
  xattrs: XattrTable;
  /** Regular file inodes (hard links counted once). */
  files: number;
  /** Directories, the root included. */
  dirs: number;
  /** File inodes whose content another file inode already stores (same layout object). */
  deduplicatedFiles: number;
}

/** A directory's children as written: the name's bytes (byte-names.ts), node, in listing (strcmp) order. */
type Child = [name: Uint8Array, node: InodeNode];

/** Pass 1's result. */
interface Numbering {
  numbers: Map<InodeNode, number>;
  nlinks: Map<InodeNode, number>;
  children: Map<DirNode, Child[]>;
  inodeCount: number;
}

/**
 * Writes the inodes and listings of the tree under `root` (whose hard links `FsTree.resolve()`
 * has already replaced by their targets' nodes), compressing the metadata blocks with `compressor`.
 */
export function serializeTree(root: DirNode, compressor: Compressor): SerializedTree {
  const numbering = numberInodes(root);
  const serializer = new TreeSerializer(compressor, numbering);
  // The root's parent is inode_count + 1, as mksquashfs writes it.
  serializer.writeTree(root, numbering.inodeCount + 1);
  return serializer.finish(root);
}

/**
 * Pass 1: numbers every inode, counts the links to each non-directory (paths that hold it) and
 * gives each directory nlink = 2 + its subdirectories (what mksquashfs writes; `find` relies on it).
 * A directory is numbered after everything under it: a post-order walk with an explicit stack, so
 * a tree thousands of levels deep costs heap, not call stack.
 */
function numberInodes(root: DirNode): Numbering {
  const numbers = new Map<InodeNode, number>();
  const nlinks = new Map<InodeNode, number>();
  const children = new Map<DirNode, Child[]>();
  let next = 1;
  const frames: { dir: DirNode; kids: Child[]; next: number; subdirs: number }[] = [];
  const enter = (dir: DirNode): void => {
    const kids: Child[] = [];
    for (const [name, node] of dir.children) {
      if (node.kind === "hardlink") throw new SquashfsInternalError("unresolved hard link");
      kids.push([encodeName(name), node]);
    }
    kids.sort((a, b) => compareNames(a[0], b[0]));
    for (let i = 1; i < kids.length; i++) {
      // Two strings with one byte form (only a hand-made string can differ from the decoded form
      // of its bytes, see byte-names.ts) would be two entries of one name.
      if (compareNames(kids[i - 1]![0], kids[i]![0]) === 0)
        throw new SquashfsInternalError(`two entries named ${JSON.stringify(decodeName(kids[i]![0]))}`);
    }
    children.set(dir, kids);
    frames.push({ dir, kids, next: 0, subdirs: 0 });
  };
  enter(root);
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]!;
    const { kids } = frame;
    while (frame.next < kids.length && kids[frame.next]![1].kind !== "dir") frame.next++;
    if (frame.next < kids.length) {
      frame.subdirs++;
      enter(kids[frame.next++]![1] as DirNode);
      continue;
    }
    for (const [, node] of kids) {
      if (node.kind === "dir") continue;
      nlinks.set(node, (nlinks.get(node) ?? 0) + 1);
      if (!numbers.has(node)) numbers.set(node, next++);
    }
    nlinks.set(frame.dir, 2 + frame.subdirs);
    numbers.set(frame.dir, next++);
    frames.pop();
  }
  return { numbers, nlinks, children, inodeCount: next - 1 };
}

/**
 * A directory being written, and how to name it: paths are needed only for error messages, so
 * they are built on demand from the chain of parents (a path per directory, kept while its
 * subtree is written, would cost the square of the depth).
 */
interface DirFrame {
  dir: DirNode;
  parent: DirFrame | undefined;
  name: string;
  parentInode: number;
  /** The next child to look at for subdirectories. */
  next: number;
}

function framePath(frame: DirFrame | undefined, name?: string): string {
  const parts: string[] = name === undefined ? [] : [name];
  for (let f = frame; f?.parent !== undefined; f = f.parent) parts.push(f.name);
  return parts.reverse().join("/");
}

/** Pass 2: the inode and directory tables, filled bottom-up. */
class TreeSerializer {
  readonly #numbering: Numbering;
  readonly #inodeTable: MetadataWriter;
  readonly #dirTable: MetadataWriter;
  readonly #ids = new IdTable();
  readonly #xattrs = new XattrTable();
  /** Where each written inode is, and its basic type (what a listing entry records). */
  readonly #refs = new Map<InodeNode, { ref: MetadataRef; type: number }>();
  readonly #inodeRefs: MetadataRef[];
  readonly #layoutsSeen = new Set<FileLayout>();
  #files = 0;
  #dirs = 0;
  #deduplicatedFiles = 0;

  constructor(compressor: Compressor, numbering: Numbering) {
    this.#numbering = numbering;
    this.#inodeTable = new MetadataWriter(compressor);
    this.#dirTable = new MetadataWriter(compressor);
    this.#inodeRefs = new Array<MetadataRef>(numbering.inodeCount);
  }

  finish(root: DirNode): SerializedTree {
    return {
      inodeTable: this.#inodeTable.finish().bytes,
      directoryTable: this.#dirTable.finish().bytes,
      rootRef: this.#refs.get(root)!.ref,
      inodeCount: this.#numbering.inodeCount,
      inodeRefs: this.#inodeRefs,
      ids: this.#ids,
      xattrs: this.#xattrs,
      files: this.#files,
      dirs: this.#dirs,
      deduplicatedFiles: this.#deduplicatedFiles,
    };
  }

  /**
   * Writes each directory's subdirectories, then its other children's inodes, its listing and its
   * inode: bottom-up, with an explicit stack (see numberInodes).
   */
  writeTree(root: DirNode, rootParentInode: number): void {
    const { children, numbers } = this.#numbering;
    const frames: DirFrame[] = [
      { dir: root, parent: undefined, name: "", parentInode: rootParentInode, next: 0 },
    ];
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const kids = children.get(frame.dir)!;
      while (frame.next < kids.length && kids[frame.next]![1].kind !== "dir") frame.next++;
      if (frame.next < kids.length) {
        const [name, node] = kids[frame.next++]!;
        frames.push({
          dir: node as DirNode,
          parent: frame,
          name: decodeName(name),
          parentInode: numbers.get(frame.dir)!,
          next: 0,
        });
        continue;
      }
      this.#finishDir(frame, kids);
      frames.pop();
    }
  }

  /** Writes the leaves of a directory whose subdirectories are written, then its listing and inode. */
  #finishDir(frame: DirFrame, kids: Child[]): void {
    const { numbers, nlinks } = this.#numbering;
    const dir = frame.dir;
    for (const [name, node] of kids) {
      if (node.kind !== "dir" && !this.#refs.has(node))
        this.#writeLeaf(node, () => framePath(frame, decodeName(name)));
    }
    const listing: DirChild[] = kids.map(([name, node]) => {
      const r = this.#refs.get(node)!;
      return { name, inodeRef: r.ref, inodeNumber: numbers.get(node)!, type: r.type };
    });
    const written = writeDirectory(this.#dirTable, listing);
    const { permissions, uidIndex, gidIndex, mtime, inodeNumber, xattrIndex } = this.#common(dir, () =>
      framePath(frame),
    );
    this.#dirs++;
    const nlink = nlinks.get(dir)!;
    const type = pickInodeType("dir", {
      nlink,
      xattr: xattrIndex !== NO_XATTR,
      fileSize: written.fileSize,
      dirIndexCount: written.index.length,
    }) as 1 | 8;
    this.#emit(dir, {
      type,
      permissions,
      uidIndex,
      gidIndex,
      mtime,
      inodeNumber,
      xattrIndex,
      blockIndex: written.ref.block,
      nlink,
      fileSize: written.fileSize,
      blockOffset: written.ref.offset,
      parentInode: frame.parentInode,
      index: written.index,
    });
  }

  // NOTE: inode objects are built field by field, not as `{ ...common, ... }`: a spread followed
  // by more fields left V8 with dictionary-mode objects, and the finish of a 21,000-file image
  // allocated 75 MB in this function alone, the process's peak RSS.
  #writeLeaf(node: Exclude<InodeNode, DirNode>, path: () => string): void {
    const c = this.#common(node, path);
    const nlink = this.#numbering.nlinks.get(node)!;
    const xattr = c.xattrIndex !== NO_XATTR;
    const { permissions, uidIndex, gidIndex, mtime, inodeNumber, xattrIndex } = c;
    switch (node.kind) {
      case "file": {
        const l = node.layout;
        this.#files++;
        // The data writer hands a duplicate the very layout object of the file it duplicates.
        if (l.fileSize > 0 && this.#layoutsSeen.has(l)) this.#deduplicatedFiles++;
        this.#layoutsSeen.add(l);
        const type = pickInodeType("file", {
          nlink,
          xattr,
          fileSize: l.fileSize,
          blocksStart: l.blocksStart,
          sparse: l.sparseBytes,
        }) as 2 | 9;
        this.#emit(node, {
          type,
          permissions,
          uidIndex,
          gidIndex,
          mtime,
          inodeNumber,
          xattrIndex,
          blocksStart: l.blocksStart,
          fileSize: l.fileSize,
          sparse: l.sparseBytes,
          nlink,
          fragIndex: l.fragment?.index ?? NO_FRAGMENT,
          fragOffset: l.fragment?.offset ?? 0,
          blockSizes: l.blockSizes,
        });
        return;
      }
      case "symlink": {
        const type = pickInodeType("symlink", { nlink, xattr }) as 3 | 10;
        this.#emit(node, {
          type,
          permissions,
          uidIndex,
          gidIndex,
          mtime,
          inodeNumber,
          xattrIndex,
          nlink,
          target: encodeName(node.target),
        });
        return;
      }
      case "char-device":
      case "block-device": {
        const type = pickInodeType(node.kind, { nlink, xattr }) as 4 | 5 | 11 | 12;
        const rdev = encodeDevice(node.major, node.minor);
        this.#emit(node, {
          type,
          permissions,
          uidIndex,
          gidIndex,
          mtime,
          inodeNumber,
          xattrIndex,
          nlink,
          rdev,
        });
        return;
      }
      case "fifo":
      case "socket": {
        const type = pickInodeType(node.kind as InodeKind, { nlink, xattr }) as 6 | 7 | 13 | 14;
        this.#emit(node, { type, permissions, uidIndex, gidIndex, mtime, inodeNumber, xattrIndex, nlink });
        return;
      }
    }
  }

  /** The fields every inode has; registers its uid, gid and xattr set (first use fixes the index). */
  #common(node: InodeNode, path: () => string) {
    const a = node.attrs;
    return {
      permissions: a.mode & 0o7777,
      uidIndex: this.#ids.indexOf(a.uid),
      gidIndex: this.#ids.indexOf(a.gid),
      mtime: a.mtime,
      inodeNumber: this.#numbering.numbers.get(node)!,
      xattrIndex: this.#xattrs.add(path, a.xattrs) ?? NO_XATTR,
    };
  }

  #emit(node: InodeNode, inode: Inode): void {
    const ref = this.#inodeTable.ref();
    this.#inodeTable.append(encodeInode(inode));
    this.#refs.set(node, { ref, type: basicType(inode.type) });
    this.#inodeRefs[inode.inodeNumber - 1] = ref;
  }
}
