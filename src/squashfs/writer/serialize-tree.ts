/**
 * Serializing the finished tree into the inode and directory tables (after squashfs-tools-ng's
 * serialize_fstree.c, which tar2sqfs calls once the fstree is complete). Two passes over the tree:
 *   1. numbering: inode numbers in the order the inodes will be written (a directory after its
 *      contents, so the root is last, as mksquashfs does), kept only for directories (a child
 *      directory's inode names its parent's number) and for hard-link targets, with their links;
 *   2. writing, bottom-up, numbering the other inodes again in the same order (checked): a listing
 *      needs its children's inode refs, and a directory inode needs its listing's ref. Hard links
 *      share one node, so the inode is written once, at its first path in that order.
 * Nothing is kept per entry beyond the tree itself (issue 12: a tree of small files is memory per
 * entry): children are sorted per directory as it is reached (by their name bytes, fs-tree.ts),
 * inode refs are packed numbers.
 * The id and xattr tables are filled as a side effect (in first-use order) and handed back for the
 * writer to lay out after the fragment and export tables.
 */
import type { Compressor } from "../compressor/compressor.js";
import { SquashfsInternalError } from "../errors.js";
import { encodeName } from "../../byte-names.js";
import type { FileLayout } from "../format/data-layout.js";
import {
  basicType,
  encodeInode,
  NO_FRAGMENT,
  NO_XATTR,
  pickInodeType,
  type Inode,
  type InodeKind,
} from "../format/inode.js";
import { packRef, type MetadataRef } from "../format/metadata.js";
import { writeDirectory, type DirChild } from "./directory-writer.js";
import type { FsTree } from "./fs-tree.js";
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
  /**
   * The inode reference of inode number n at index n - 1, packed (`packRef`): the export table's
   * records. A typed array: one object per inode cost ~50 bytes each on trees of small files.
   */
  packedInodeRefs: Float64Array;
  /** Every uid/gid the inodes refer to, indexed as they refer to them. */
  ids: IdTable;
  /** Every distinct xattr set the inodes refer to. */
  xattrs: XattrTable;
  /** Regular file inodes (hard links counted once). */
  files: number;
  /** Directories, the root included. */
  dirs: number;
  /** File inodes whose content another file inode already stores (same layout id). */
  deduplicatedFiles: number;
}

/** Where the files' bytes went (the data writer's layouts), and what it knows about sharing. */
export interface TreeLayouts {
  /** The layout of a file node's layout id (FsTree.layout). */
  layout(id: number): FileLayout;
  /**
   * Layout ids the data writer handed out more than once (DataWriter.duplicatedLayouts); only
   * these can make a file inode a duplicate. Without it every layout is tracked.
   */
  duplicatedLayouts?: ReadonlySet<number>;
}

/** What a shared (hard-linked) non-directory needs once its first path has numbered it. */
interface SharedInode {
  number: number;
  nlink: number;
  /** Set once its inode is written. */
  ref: MetadataRef | undefined;
  type: number;
}

/** Pass 1's result: kept per directory and per shared inode only, never per entry. */
interface Numbering {
  /** Every directory's inode number (its children need it as their parent inode), by node. */
  dirNumbers: Map<number, number>;
  /** The non-directories reached by more than one path (FsTree.linkTargets), with their number and nlink. */
  shared: Map<number, SharedInode>;
  inodeCount: number;
}

/** The basic directory inode type, what a listing entry records for a directory. */
const DIR_TYPE = 1;

/**
 * Writes the inodes and listings of the tree (which `FsTree.resolve()` has resolved), compressing
 * the metadata blocks with `compressor`.
 */
export function serializeTree(tree: FsTree, compressor: Compressor, layouts: TreeLayouts): SerializedTree {
  const numbering = numberInodes(tree);
  const serializer = new TreeSerializer(tree, compressor, numbering, layouts);
  // The root's parent is inode_count + 1, as mksquashfs writes it.
  serializer.writeTree(numbering.inodeCount + 1);
  return serializer.finish();
}

/**
 * Pass 1: numbers every inode, counts the links to each shared non-directory (paths that hold it;
 * any other has one). A directory is numbered after everything under it: a post-order walk with an
 * explicit stack, so a tree thousands of levels deep costs heap, not call stack. Only directory
 * and shared numbers are kept: pass 2 walks in the same order and numbers the rest again.
 */
function numberInodes(tree: FsTree): Numbering {
  const dirNumbers = new Map<number, number>();
  const shared = new Map<number, SharedInode>();
  const linkTargets = tree.linkTargets;
  let next = 1;
  const frames: { dir: number; kids: number[]; next: number }[] = [];
  const enter = (dir: number): void => {
    frames.push({ dir, kids: tree.sortedChildren(dir), next: 0 });
  };
  enter(tree.root);
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]!;
    const { kids } = frame;
    while (frame.next < kids.length && tree.kind(kids[frame.next]!) !== "dir") frame.next++;
    if (frame.next < kids.length) {
      enter(kids[frame.next++]!);
      continue;
    }
    for (const kid of kids) {
      if (tree.kind(kid) === "dir") continue;
      const inode = tree.inodeOf(kid);
      if (!linkTargets.has(inode)) {
        next++;
        continue;
      }
      const known = shared.get(inode);
      if (known !== undefined) known.nlink++;
      else shared.set(inode, { number: next++, nlink: 1, ref: undefined, type: 0 });
    }
    dirNumbers.set(frame.dir, next++);
    frames.pop();
  }
  return { dirNumbers, shared, inodeCount: next - 1 };
}

/**
 * A directory being written, and how to name it: paths are needed only for error messages, so
 * they are built on demand from the chain of parents (a path per directory, kept while its
 * subtree is written, would cost the square of the depth).
 */
interface DirFrame {
  dir: number;
  parent: DirFrame | undefined;
  parentInode: number;
  /** Its children in listing order, while it is being written. */
  kids: number[];
  /** The next child to look at for subdirectories. */
  next: number;
  /** Where each written subdirectory's inode is, until this directory's listing is written. */
  subdirRefs: Map<number, MetadataRef>;
}

function framePath(tree: FsTree, frame: DirFrame | undefined, node?: number): string {
  const parts: string[] = node === undefined ? [] : [tree.name(node)];
  for (let f = frame; f?.parent !== undefined; f = f.parent) parts.push(tree.name(f.dir));
  return parts.reverse().join("/");
}

/** Pass 2: the inode and directory tables, filled bottom-up. */
class TreeSerializer {
  readonly #tree: FsTree;
  readonly #numbering: Numbering;
  readonly #layouts: TreeLayouts;
  readonly #inodeTable: MetadataWriter;
  readonly #dirTable: MetadataWriter;
  readonly #ids = new IdTable();
  readonly #xattrs = new XattrTable();
  readonly #packedRefs: Float64Array;
  /** Layouts that may be shared, once written (all of them without the data writer's hint). */
  readonly #layoutsSeen = new Set<number>();
  /** The next inode number to give out, in pass 1's order. */
  #next = 1;
  /** The last inode written: its ref and basic type (what a listing entry records). */
  #lastRef: MetadataRef = { block: 0, offset: 0 };
  #lastType = 0;
  #rootRef: MetadataRef | undefined;
  #files = 0;
  #dirs = 0;
  #deduplicatedFiles = 0;

  constructor(tree: FsTree, compressor: Compressor, numbering: Numbering, layouts: TreeLayouts) {
    this.#tree = tree;
    this.#numbering = numbering;
    this.#layouts = layouts;
    this.#inodeTable = new MetadataWriter(compressor);
    this.#dirTable = new MetadataWriter(compressor);
    this.#packedRefs = new Float64Array(numbering.inodeCount);
  }

  finish(): SerializedTree {
    if (this.#next !== this.#numbering.inodeCount + 1 || this.#rootRef === undefined)
      throw new SquashfsInternalError("the two passes over the tree numbered different inodes");
    return {
      inodeTable: this.#inodeTable.finish().bytes,
      directoryTable: this.#dirTable.finish().bytes,
      rootRef: this.#rootRef,
      inodeCount: this.#numbering.inodeCount,
      packedInodeRefs: this.#packedRefs,
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
  writeTree(rootParentInode: number): void {
    const tree = this.#tree;
    const { dirNumbers } = this.#numbering;
    const frames: DirFrame[] = [
      {
        dir: tree.root,
        parent: undefined,
        parentInode: rootParentInode,
        kids: tree.sortedChildren(tree.root),
        next: 0,
        subdirRefs: new Map(),
      },
    ];
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const kids = frame.kids;
      while (frame.next < kids.length && tree.kind(kids[frame.next]!) !== "dir") frame.next++;
      if (frame.next < kids.length) {
        const node = kids[frame.next++]!;
        frames.push({
          dir: node,
          parent: frame,
          parentInode: dirNumbers.get(frame.dir)!,
          kids: tree.sortedChildren(node),
          next: 0,
          subdirRefs: new Map(),
        });
        continue;
      }
      this.#finishDir(frame);
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) parent.subdirRefs.set(frame.dir, this.#lastRef);
      else this.#rootRef = this.#lastRef;
    }
  }

  /** Writes the leaves of a directory whose subdirectories are written, then its listing and inode. */
  #finishDir(frame: DirFrame): void {
    const tree = this.#tree;
    const { dirNumbers, shared } = this.#numbering;
    const { dir, kids } = frame;
    const listing: DirChild[] = [];
    let subdirs = 0;
    for (const kid of kids) {
      let inodeRef: MetadataRef;
      let inodeNumber: number;
      let type: number;
      if (tree.kind(kid) === "dir") {
        subdirs++;
        inodeRef = frame.subdirRefs.get(kid)!;
        inodeNumber = dirNumbers.get(kid)!;
        type = DIR_TYPE;
      } else {
        const inode = tree.inodeOf(kid);
        const s = shared.get(inode);
        if (s === undefined || s.ref === undefined) {
          const number = this.#next++;
          if (s !== undefined && s.number !== number)
            throw new SquashfsInternalError("the two passes over the tree numbered different inodes");
          this.#writeLeaf(inode, number, s?.nlink ?? 1, () => framePath(tree, frame, kid));
          if (s !== undefined) {
            s.ref = this.#lastRef;
            s.type = this.#lastType;
          }
          inodeRef = this.#lastRef;
          type = this.#lastType;
          inodeNumber = number;
        } else {
          inodeRef = s.ref;
          type = s.type;
          inodeNumber = s.number;
        }
      }
      listing.push({ name: tree.nameBytes(kid), inodeRef, inodeNumber, type });
    }
    frame.subdirRefs.clear();
    const written = writeDirectory(this.#dirTable, listing);
    const inodeNumber = this.#next++;
    if (dirNumbers.get(dir) !== inodeNumber)
      throw new SquashfsInternalError("the two passes over the tree numbered different inodes");
    const { permissions, uidIndex, gidIndex, mtime, xattrIndex } = this.#common(dir, () =>
      framePath(tree, frame),
    );
    this.#dirs++;
    // nlink = 2 + its subdirectories (what mksquashfs writes; `find` relies on it).
    const nlink = 2 + subdirs;
    const type = pickInodeType("dir", {
      nlink,
      xattr: xattrIndex !== NO_XATTR,
      fileSize: written.fileSize,
      dirIndexCount: written.index.length,
    }) as 1 | 8;
    this.#emit({
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
  #writeLeaf(node: number, inodeNumber: number, nlink: number, path: () => string): void {
    const tree = this.#tree;
    const c = this.#common(node, path);
    const xattr = c.xattrIndex !== NO_XATTR;
    const { permissions, uidIndex, gidIndex, mtime, xattrIndex } = c;
    const kind = tree.kind(node);
    switch (kind) {
      case "file": {
        const id = tree.layout(node);
        const l = this.#layouts.layout(id);
        this.#files++;
        // The data writer hands a duplicate the layout id of the file it duplicates; it says
        // which ids it handed out twice, so only those need remembering here.
        const dup = this.#layouts.duplicatedLayouts;
        if (dup === undefined || dup.has(id)) {
          if (l.fileSize > 0 && this.#layoutsSeen.has(id)) this.#deduplicatedFiles++;
          this.#layoutsSeen.add(id);
        }
        const type = pickInodeType("file", {
          nlink,
          xattr,
          fileSize: l.fileSize,
          blocksStart: l.blocksStart,
          sparse: l.sparseBytes,
        }) as 2 | 9;
        this.#emit({
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
          fragIndex: l.fragmentIndex < 0 ? NO_FRAGMENT : l.fragmentIndex,
          fragOffset: l.fragmentOffset,
          blockSizes: l.blockSizes,
        });
        return;
      }
      case "symlink": {
        const type = pickInodeType("symlink", { nlink, xattr }) as 3 | 10;
        this.#emit({
          type,
          permissions,
          uidIndex,
          gidIndex,
          mtime,
          inodeNumber,
          xattrIndex,
          nlink,
          target: encodeName(tree.symlinkTarget(node)),
        });
        return;
      }
      case "char-device":
      case "block-device": {
        const type = pickInodeType(kind, { nlink, xattr }) as 4 | 5 | 11 | 12;
        this.#emit({
          type,
          permissions,
          uidIndex,
          gidIndex,
          mtime,
          inodeNumber,
          xattrIndex,
          nlink,
          rdev: tree.rdev(node),
        });
        return;
      }
      case "fifo":
      case "socket": {
        const type = pickInodeType(kind as InodeKind, { nlink, xattr }) as 6 | 7 | 13 | 14;
        this.#emit({ type, permissions, uidIndex, gidIndex, mtime, inodeNumber, xattrIndex, nlink });
        return;
      }
      default:
        throw new SquashfsInternalError(`a ${kind} node where an inode was expected`);
    }
  }

  /** The fields every inode has; registers its uid, gid and xattr set (first use fixes the index). */
  #common(node: number, path: () => string) {
    const a = this.#tree.attrs(node);
    return {
      permissions: a.mode & 0o7777,
      uidIndex: this.#ids.indexOf(a.uid),
      gidIndex: this.#ids.indexOf(a.gid),
      mtime: a.mtime,
      xattrIndex: this.#xattrs.add(path, a.xattrs) ?? NO_XATTR,
    };
  }

  /** Appends an inode; it becomes the last written (`#lastRef`, `#lastType`). */
  #emit(inode: Inode): void {
    const ref = this.#inodeTable.ref();
    this.#inodeTable.append(encodeInode(inode));
    this.#lastRef = ref;
    this.#lastType = basicType(inode.type);
    this.#packedRefs[inode.inodeNumber - 1] = packRef(ref);
  }
}
