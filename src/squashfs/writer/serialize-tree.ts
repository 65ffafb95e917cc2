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
 * entry): children are sorted per directory as it is reached, inode refs are packed numbers.
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
import { packRef, type MetadataRef } from "../format/metadata.js";
import { writeDirectory, type DirChild } from "./directory-writer.js";
import type { DirNode, FsTree, InodeNode } from "./fs-tree.js";
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
  /** File inodes whose content another file inode already stores (same layout object). */
  deduplicatedFiles: number;
}

/** What the writer knows about sharing, so that only shared objects need a table entry. */
export interface SharingHints {
  /**
   * Layouts the data writer handed out more than once (DataWriter.duplicatedLayouts); only these
   * can make a file inode a duplicate. Without it every layout is tracked.
   */
  duplicatedLayouts?: ReadonlySet<FileLayout>;
}

/** A directory's children as written: name (string form, byte-names.ts), node, in listing (strcmp) order. */
type Child = [name: string, node: InodeNode];

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
  /** Every directory's inode number (its children need it as their parent inode). */
  dirNumbers: Map<DirNode, number>;
  /** The non-directories reached by more than one path (FsTree.linkTargets), with their number and nlink. */
  shared: Map<InodeNode, SharedInode>;
  inodeCount: number;
}

/** The basic directory inode type, what a listing entry records for a directory. */
const DIR_TYPE = 1;

/** A name with a UTF-16 surrogate: its UTF-8 bytes may not sort the way its code units do. */
const SURROGATE = /[\ud800-\udfff]/;

/**
 * `dir`'s children in listing order: by the bytes of their names (strcmp). Names without
 * surrogates sort by code unit exactly as their UTF-8 bytes do (UTF-8 keeps code point order) and
 * never share a byte form, so only a directory holding a surrogate is sorted on encoded bytes.
 * Computed per directory when needed and dropped after: an encoded name per entry, for the whole
 * tree, cost ~90 bytes each.
 */
function sortedChildren(dir: DirNode): Child[] {
  const kids: Child[] = [];
  let surrogates = false;
  for (const [name, node] of dir.children) {
    if (node.kind === "hardlink") throw new SquashfsInternalError("unresolved hard link");
    if (!surrogates && SURROGATE.test(name)) surrogates = true;
    kids.push([name, node]);
  }
  if (!surrogates) {
    kids.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return kids;
  }
  const keyed = kids.map((k) => ({ bytes: encodeName(k[0]), kid: k }));
  keyed.sort((a, b) => compareNames(a.bytes, b.bytes));
  for (let i = 1; i < keyed.length; i++) {
    // Two strings with one byte form (only a hand-made string can differ from the decoded form
    // of its bytes, see byte-names.ts) would be two entries of one name.
    if (compareNames(keyed[i - 1]!.bytes, keyed[i]!.bytes) === 0)
      throw new SquashfsInternalError(`two entries named ${JSON.stringify(decodeName(keyed[i]!.bytes))}`);
  }
  return keyed.map((k) => k.kid);
}

/**
 * Writes the inodes and listings of the tree (whose hard links `FsTree.resolve()` has already
 * replaced by their targets' nodes), compressing the metadata blocks with `compressor`.
 */
export function serializeTree(
  tree: FsTree,
  compressor: Compressor,
  hints: SharingHints = {},
): SerializedTree {
  const root = tree.root;
  const numbering = numberInodes(root, tree.linkTargets);
  const serializer = new TreeSerializer(compressor, numbering, hints);
  // The root's parent is inode_count + 1, as mksquashfs writes it.
  serializer.writeTree(root, numbering.inodeCount + 1);
  return serializer.finish();
}

/**
 * Pass 1: numbers every inode, counts the links to each shared non-directory (paths that hold it;
 * any other has one). A directory is numbered after everything under it: a post-order walk with an
 * explicit stack, so a tree thousands of levels deep costs heap, not call stack. Only directory
 * and shared numbers are kept: pass 2 walks in the same order and numbers the rest again.
 */
function numberInodes(root: DirNode, linkTargets: ReadonlySet<InodeNode>): Numbering {
  const dirNumbers = new Map<DirNode, number>();
  const shared = new Map<InodeNode, SharedInode>();
  let next = 1;
  const frames: { dir: DirNode; kids: Child[]; next: number }[] = [];
  const enter = (dir: DirNode): void => {
    frames.push({ dir, kids: sortedChildren(dir), next: 0 });
  };
  enter(root);
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]!;
    const { kids } = frame;
    while (frame.next < kids.length && kids[frame.next]![1].kind !== "dir") frame.next++;
    if (frame.next < kids.length) {
      enter(kids[frame.next++]![1] as DirNode);
      continue;
    }
    for (const [, node] of kids) {
      if (node.kind === "dir") continue;
      if (!linkTargets.has(node)) {
        next++;
        continue;
      }
      const known = shared.get(node);
      if (known !== undefined) known.nlink++;
      else shared.set(node, { number: next++, nlink: 1, ref: undefined, type: 0 });
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
  dir: DirNode;
  parent: DirFrame | undefined;
  name: string;
  parentInode: number;
  /** Its children in listing order, while it is being written. */
  kids: Child[];
  /** The next child to look at for subdirectories. */
  next: number;
  /** Where each written subdirectory's inode is, until this directory's listing is written. */
  subdirRefs: Map<DirNode, MetadataRef>;
}

function framePath(frame: DirFrame | undefined, name?: string): string {
  const parts: string[] = name === undefined ? [] : [name];
  for (let f = frame; f?.parent !== undefined; f = f.parent) parts.push(f.name);
  return parts.reverse().join("/");
}

/** Pass 2: the inode and directory tables, filled bottom-up. */
class TreeSerializer {
  readonly #numbering: Numbering;
  readonly #duplicatedLayouts: ReadonlySet<FileLayout> | undefined;
  readonly #inodeTable: MetadataWriter;
  readonly #dirTable: MetadataWriter;
  readonly #ids = new IdTable();
  readonly #xattrs = new XattrTable();
  readonly #packedRefs: Float64Array;
  /** Layouts that may be shared, once written (all of them without the data writer's hint). */
  readonly #layoutsSeen = new Set<FileLayout>();
  /** The next inode number to give out, in pass 1's order. */
  #next = 1;
  /** The last inode written: its ref and basic type (what a listing entry records). */
  #lastRef: MetadataRef = { block: 0, offset: 0 };
  #lastType = 0;
  #rootRef: MetadataRef | undefined;
  #files = 0;
  #dirs = 0;
  #deduplicatedFiles = 0;

  constructor(compressor: Compressor, numbering: Numbering, hints: SharingHints) {
    this.#numbering = numbering;
    this.#duplicatedLayouts = hints.duplicatedLayouts;
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
  writeTree(root: DirNode, rootParentInode: number): void {
    const { dirNumbers } = this.#numbering;
    const frames: DirFrame[] = [
      {
        dir: root,
        parent: undefined,
        name: "",
        parentInode: rootParentInode,
        kids: sortedChildren(root),
        next: 0,
        subdirRefs: new Map(),
      },
    ];
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const kids = frame.kids;
      while (frame.next < kids.length && kids[frame.next]![1].kind !== "dir") frame.next++;
      if (frame.next < kids.length) {
        const [name, node] = kids[frame.next++]!;
        frames.push({
          dir: node as DirNode,
          parent: frame,
          name,
          parentInode: dirNumbers.get(frame.dir)!,
          kids: sortedChildren(node as DirNode),
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
    const { dirNumbers, shared } = this.#numbering;
    const { dir, kids } = frame;
    const listing: DirChild[] = [];
    let subdirs = 0;
    for (const [name, node] of kids) {
      let inodeRef: MetadataRef;
      let inodeNumber: number;
      let type: number;
      if (node.kind === "dir") {
        subdirs++;
        inodeRef = frame.subdirRefs.get(node)!;
        inodeNumber = dirNumbers.get(node)!;
        type = DIR_TYPE;
      } else {
        const s = shared.get(node);
        if (s === undefined || s.ref === undefined) {
          const number = this.#next++;
          if (s !== undefined && s.number !== number)
            throw new SquashfsInternalError("the two passes over the tree numbered different inodes");
          this.#writeLeaf(node, number, s?.nlink ?? 1, () => framePath(frame, name));
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
      listing.push({ name: encodeName(name), inodeRef, inodeNumber, type });
    }
    frame.subdirRefs.clear();
    const written = writeDirectory(this.#dirTable, listing);
    const inodeNumber = this.#next++;
    if (dirNumbers.get(dir) !== inodeNumber)
      throw new SquashfsInternalError("the two passes over the tree numbered different inodes");
    const { permissions, uidIndex, gidIndex, mtime, xattrIndex } = this.#common(dir, () => framePath(frame));
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
  #writeLeaf(
    node: Exclude<InodeNode, DirNode>,
    inodeNumber: number,
    nlink: number,
    path: () => string,
  ): void {
    const c = this.#common(node, path);
    const xattr = c.xattrIndex !== NO_XATTR;
    const { permissions, uidIndex, gidIndex, mtime, xattrIndex } = c;
    switch (node.kind) {
      case "file": {
        const l = node.layout;
        this.#files++;
        // The data writer hands a duplicate the very layout object of the file it duplicates;
        // it says which layouts it handed out twice, so only those need remembering here.
        if (this.#duplicatedLayouts === undefined || this.#duplicatedLayouts.has(l)) {
          if (l.fileSize > 0 && this.#layoutsSeen.has(l)) this.#deduplicatedFiles++;
          this.#layoutsSeen.add(l);
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
          target: encodeName(node.target),
        });
        return;
      }
      case "char-device":
      case "block-device": {
        const type = pickInodeType(node.kind, { nlink, xattr }) as 4 | 5 | 11 | 12;
        const rdev = encodeDevice(node.major, node.minor);
        this.#emit({
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
        this.#emit({ type, permissions, uidIndex, gidIndex, mtime, inodeNumber, xattrIndex, nlink });
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
