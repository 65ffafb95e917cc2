/**
 * The SquashFS 4.0 writer: runs the tables in the order the kernel checks (format.adoc,
 * "Overview"; Linux super.c):
 *   superblock placeholder → compressor options → data and fragment blocks (streamed as entries
 *   arrive) → inode table → directory table → fragment table → export table → id table → xattr
 *   table → superblock patched → padding.
 * File data goes out as entries arrive; everything else is metadata, kept in memory until the
 * tree is complete (inodes need the final tree: hard links, nlink, parents).
 */
import type { Entry, EntryAttrs } from "../entry.js";
import type { WriterOptions } from "../options.js";
import { DEFAULT_BLOCK_SIZE, DEFAULT_GZIP_LEVEL, DEFAULT_XZ_LEVEL } from "../options.js";
import type { Compressor, CompressorSpec } from "../compressor/compressor.js";
import { createCompressor } from "../compressor/index.js";
import type { FileLayout } from "../format/data-layout.js";
import { DataWriter } from "./data-writer.js";
import { OutputSink } from "./output-sink.js";
import { encodeSuperblock, SUPERBLOCK_SIZE, SuperblockFlags } from "../format/superblock.js";
import { encodeMetadataHeader, packRef, type MetadataRef } from "../format/metadata.js";
import { MetadataWriter } from "./metadata-writer.js";
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
import { compareNames } from "../format/directory.js";
import { writeDirectory, type DirChild } from "./directory-writer.js";
import { encodeFragmentEntry } from "../format/fragment-table.js";
import { IdTable } from "./id-table-writer.js";
import { XattrTable } from "./xattr-table-writer.js";
import { encodeExportEntry } from "../format/lookup-table.js";
import { writeLookupTable } from "./lookup-table-writer.js";
import { FsTree, type DirNode, type InodeNode } from "./fs-tree.js";
import { checkRange, concat, U32_MAX, utf8 } from "../format/binary.js";
import { SquashfsInternalError, SquashfsSymlinkTooLongError, SquashfsWriterStateError } from "../errors.js";

/** What a finished image contains. */
export interface WriteResult {
  /** Superblock `bytes_used`: the image without padding. */
  bytesUsed: number;
  /** File size: bytesUsed padded to `options.padding`. */
  imageSize: number;
  inodeCount: number;
  /** Regular file inodes (hard links counted once). */
  files: number;
  /** Directories, the root included. */
  dirs: number;
  /** Fragment blocks. */
  fragments: number;
  /** Files whose content was already stored and is shared instead. */
  deduplicatedFiles: number;
  /** Distinct uid/gid values. */
  ids: number;
  /** Distinct xattr sets. */
  xattrSets: number;
}

/** The kernel reads symlink targets of at most PAGE_SIZE bytes (squashfs inode.c). */
const MAX_SYMLINK_BYTES = 4096;

interface ResolvedOptions {
  spec: CompressorSpec;
  workers: number | undefined;
  mkfsTime: number;
  implicitDirMtime: number;
  dedupe: boolean;
  exportTable: boolean;
  padding: number;
}

function sourceDateEpoch(): number {
  const raw = process.env.SOURCE_DATE_EPOCH;
  if (raw === undefined || !/^\d+$/.test(raw)) return 0;
  const n = Number(raw);
  return n <= U32_MAX ? n : 0;
}

function resolveOptions(o: WriterOptions): ResolvedOptions {
  const name = o.compression ?? "gzip";
  const mkfsTime = checkRange("mkfs time", o.mkfsTime ?? sourceDateEpoch(), U32_MAX);
  const padding = o.padding ?? 4096;
  checkRange("padding", padding, 1 << 30);
  return {
    spec: {
      name,
      level: o.level ?? (name === "xz" ? DEFAULT_XZ_LEVEL : DEFAULT_GZIP_LEVEL),
      blockSize: o.blockSize ?? DEFAULT_BLOCK_SIZE,
      skipIncompressible: o.skipIncompressible ?? true,
    },
    workers: o.workers,
    mkfsTime,
    implicitDirMtime: checkRange("implicit dir mtime", o.implicitDirMtime ?? mkfsTime, U32_MAX),
    dedupe: o.dedupe ?? true,
    exportTable: o.exportTable ?? true,
    padding: Math.max(padding, 1),
  };
}

function checkAttrs(attrs: EntryAttrs): void {
  checkRange("mode", attrs.mode, 0xffff);
  checkRange("uid", attrs.uid, U32_MAX);
  checkRange("gid", attrs.gid, U32_MAX);
  checkRange("mtime", attrs.mtime, U32_MAX);
}

export class SquashfsWriter {
  readonly #options: ResolvedOptions;
  readonly #compressor: Compressor;
  readonly #sink: OutputSink;
  readonly #data: DataWriter;
  readonly #tree: FsTree;
  /** add() calls run one after another even if the caller does not await. */
  #chain: Promise<void> = Promise.resolve();
  #state: "open" | "finishing" | "done" | "failed" = "open";

  private constructor(options: ResolvedOptions, compressor: Compressor, sink: OutputSink) {
    this.#options = options;
    this.#compressor = compressor;
    this.#sink = sink;
    this.#data = new DataWriter({
      sink,
      spec: options.spec,
      workers: options.workers,
      dedupe: options.dedupe,
    });
    const mtime = options.implicitDirMtime;
    this.#tree = new FsTree(() => ({ mode: 0o755, uid: 0, gid: 0, mtime }));
  }

  /** Opens (truncates) `outputPath` and writes the superblock placeholder and compressor options. */
  static async create(outputPath: string, options: WriterOptions = {}): Promise<SquashfsWriter> {
    const resolved = resolveOptions(options);
    const compressor = createCompressor(resolved.spec);
    const sink = await OutputSink.open(outputPath);
    try {
      // Placeholder; patched by finish() once every table position is known.
      await sink.write(new Uint8Array(SUPERBLOCK_SIZE));
      // Compressor options: one metadata block, always stored uncompressed (format.adoc).
      if (compressor.options !== null)
        await sink.write(concat([encodeMetadataHeader(compressor.options.length, true), compressor.options]));
      return new SquashfsWriter(resolved, compressor, sink);
    } catch (err) {
      await sink.abort();
      throw err;
    }
  }

  /** Adds one entry; file content is consumed (and compressed) before this resolves. */
  add(entry: Entry): Promise<void> {
    if (this.#state !== "open")
      return Promise.reject(new SquashfsWriterStateError(`add() on a ${this.#state} writer`));
    const run = this.#chain.then(() => this.#add(entry));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #add(entry: Entry): Promise<void> {
    if (this.#state !== "open") throw new SquashfsWriterStateError(`add() on a ${this.#state} writer`);
    const tree = this.#tree;
    switch (entry.type) {
      case "directory":
        checkAttrs(entry.attrs);
        tree.setDirectory(entry.path, entry.attrs);
        return;
      case "file": {
        checkAttrs(entry.attrs);
        tree.checkPath(entry.path);
        let layout: FileLayout;
        try {
          layout = await this.#data.writeFile(entry.size, entry.content);
        } catch (err) {
          // The data path may be mid-file: nothing consistent can follow.
          this.#state = "failed";
          throw err;
        }
        tree.setNode(entry.path, { kind: "file", attrs: entry.attrs, layout });
        return;
      }
      case "symlink": {
        checkAttrs(entry.attrs);
        const bytes = utf8.encode(entry.target).length;
        if (bytes > MAX_SYMLINK_BYTES) throw new SquashfsSymlinkTooLongError(entry.path, bytes);
        tree.setNode(entry.path, { kind: "symlink", attrs: entry.attrs, target: entry.target });
        return;
      }
      case "hardlink":
        tree.setNode(entry.path, { kind: "hardlink", target: entry.target, path: entry.path });
        return;
      case "char-device":
      case "block-device":
        checkAttrs(entry.attrs);
        encodeDevice(entry.major, entry.minor);
        tree.setNode(entry.path, {
          kind: entry.type,
          attrs: entry.attrs,
          major: entry.major,
          minor: entry.minor,
        });
        return;
      case "fifo":
      case "socket":
        checkAttrs(entry.attrs);
        tree.setNode(entry.path, { kind: entry.type, attrs: entry.attrs });
        return;
    }
  }

  /** Writes the metadata and the superblock, pads and closes. On failure the output is deleted. */
  async finish(): Promise<WriteResult> {
    if (this.#state !== "open") throw new SquashfsWriterStateError(`finish() on a ${this.#state} writer`);
    await this.#chain;
    if (this.#state !== "open") throw new SquashfsWriterStateError(`finish() on a ${this.#state} writer`);
    this.#state = "finishing";
    try {
      const result = await this.#finish();
      this.#state = "done";
      return result;
    } catch (err) {
      this.#state = "failed";
      await this.abort();
      throw err;
    }
  }

  /** Stops the workers, closes and deletes the partial output. Never throws. */
  async abort(): Promise<void> {
    if (this.#state === "done") return;
    this.#state = "failed";
    await this.#chain.catch(() => undefined);
    await this.#data.close().catch(() => undefined);
    await this.#sink.abort();
  }

  async #finish(): Promise<WriteResult> {
    const fragments = await this.#data.finish();
    await this.#data.close();
    const tree = this.#tree;
    tree.resolve();

    // Pass 1: inode numbers in the order inodes will be written (a directory after its
    // contents, so the root is last, as mksquashfs does), link counts, subdirectory counts.
    const numbers = new Map<InodeNode, number>();
    const nlinks = new Map<InodeNode, number>();
    const sortedChildren = new Map<DirNode, [Uint8Array, InodeNode][]>();
    let next = 1;
    const number = (dir: DirNode): void => {
      const kids: [Uint8Array, InodeNode][] = [];
      for (const [name, node] of dir.children) {
        if (node.kind === "hardlink") throw new SquashfsInternalError("unresolved hard link");
        kids.push([utf8.encode(name), node]);
      }
      kids.sort((a, b) => compareNames(a[0], b[0]));
      sortedChildren.set(dir, kids);
      let subdirs = 0;
      for (const [, node] of kids) {
        if (node.kind === "dir") {
          subdirs++;
          number(node);
        }
      }
      for (const [, node] of kids) {
        if (node.kind === "dir") continue;
        nlinks.set(node, (nlinks.get(node) ?? 0) + 1);
        if (!numbers.has(node)) numbers.set(node, next++);
      }
      nlinks.set(dir, 2 + subdirs);
      numbers.set(dir, next++);
    };
    number(tree.root);
    const inodeCount = next - 1;

    // Pass 2: inodes and listings, bottom-up (a listing needs its children's inode refs, a
    // directory inode needs its listing's ref).
    const inodeTable = new MetadataWriter(this.#compressor);
    const dirTable = new MetadataWriter(this.#compressor);
    const ids = new IdTable();
    const xattrs = new XattrTable();
    const refs = new Map<InodeNode, { ref: MetadataRef; type: number }>();
    const exportRefs: MetadataRef[] = new Array<MetadataRef>(inodeCount);
    const layoutsSeen = new Set<FileLayout>();
    const counts = { files: 0, dirs: 0, deduplicatedFiles: 0 };

    const emit = (node: InodeNode, inode: Inode): void => {
      const ref = inodeTable.ref();
      inodeTable.append(encodeInode(inode));
      refs.set(node, { ref, type: basicType(inode.type) });
      exportRefs[inode.inodeNumber - 1] = ref;
    };
    const common = (node: InodeNode, path: string) => {
      const a = node.attrs;
      return {
        permissions: a.mode & 0o7777,
        uidIndex: ids.indexOf(a.uid),
        gidIndex: ids.indexOf(a.gid),
        mtime: a.mtime,
        inodeNumber: numbers.get(node)!,
        xattrIndex: xattrs.add(path, a.xattrs) ?? NO_XATTR,
      };
    };
    // NOTE: inode objects are built field by field, not as `{ ...common, ... }`: a spread followed
    // by more fields left V8 with dictionary-mode objects, and the finish of a 21,000-file image
    // allocated 75 MB in this function alone, the process's peak RSS.
    const writeLeaf = (node: Exclude<InodeNode, DirNode>, path: string): void => {
      const c = common(node, path);
      const nlink = nlinks.get(node)!;
      const xattr = c.xattrIndex !== NO_XATTR;
      const { permissions, uidIndex, gidIndex, mtime, inodeNumber, xattrIndex } = c;
      switch (node.kind) {
        case "file": {
          const l = node.layout;
          counts.files++;
          if (l.fileSize > 0 && layoutsSeen.has(l)) counts.deduplicatedFiles++;
          layoutsSeen.add(l);
          const type = pickInodeType("file", {
            nlink,
            xattr,
            fileSize: l.fileSize,
            blocksStart: l.blocksStart,
            sparse: l.sparseBytes,
          }) as 2 | 9;
          emit(node, {
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
          emit(node, {
            type,
            permissions,
            uidIndex,
            gidIndex,
            mtime,
            inodeNumber,
            xattrIndex,
            nlink,
            target: utf8.encode(node.target),
          });
          return;
        }
        case "char-device":
        case "block-device": {
          const type = pickInodeType(node.kind, { nlink, xattr }) as 4 | 5 | 11 | 12;
          const rdev = encodeDevice(node.major, node.minor);
          emit(node, { type, permissions, uidIndex, gidIndex, mtime, inodeNumber, xattrIndex, nlink, rdev });
          return;
        }
        case "fifo":
        case "socket": {
          const type = pickInodeType(node.kind as InodeKind, { nlink, xattr }) as 6 | 7 | 13 | 14;
          emit(node, { type, permissions, uidIndex, gidIndex, mtime, inodeNumber, xattrIndex, nlink });
          return;
        }
      }
    };
    const writeDir = (dir: DirNode, path: string, parentInode: number): void => {
      const kids = sortedChildren.get(dir)!;
      const myNumber = numbers.get(dir)!;
      const childPath = (name: Uint8Array): string =>
        (path === "" ? "" : path + "/") + Buffer.from(name).toString("utf8");
      for (const [name, node] of kids) if (node.kind === "dir") writeDir(node, childPath(name), myNumber);
      for (const [name, node] of kids)
        if (node.kind !== "dir" && !refs.has(node)) writeLeaf(node, childPath(name));
      const listing: DirChild[] = kids.map(([name, node]) => {
        const r = refs.get(node)!;
        return { name, inodeRef: r.ref, inodeNumber: numbers.get(node)!, type: r.type };
      });
      const written = writeDirectory(dirTable, listing);
      const { permissions, uidIndex, gidIndex, mtime, inodeNumber, xattrIndex } = common(dir, path);
      counts.dirs++;
      const type = pickInodeType("dir", {
        nlink: nlinks.get(dir)!,
        xattr: xattrIndex !== NO_XATTR,
        fileSize: written.fileSize,
        dirIndexCount: written.index.length,
      }) as 1 | 8;
      emit(dir, {
        type,
        permissions,
        uidIndex,
        gidIndex,
        mtime,
        inodeNumber,
        xattrIndex,
        blockIndex: written.ref.block,
        nlink: nlinks.get(dir)!,
        fileSize: written.fileSize,
        blockOffset: written.ref.offset,
        parentInode,
        index: written.index,
      });
    };
    // The root's parent is inode_count + 1, as mksquashfs writes it.
    writeDir(tree.root, "", inodeCount + 1);
    const rootRef = refs.get(tree.root)!.ref;

    const sink = this.#sink;
    const inodeBytes = inodeTable.finish().bytes;
    const dirBytes = dirTable.finish().bytes;
    const inodeTableStart = sink.position;
    await sink.write(inodeBytes);
    const directoryTableStart = sink.position;
    await sink.write(dirBytes);

    // Lookup tables: each one's blocks land where the sink is, then its pointer list.
    const table = async (records: Uint8Array[]): Promise<number> => {
      const t = writeLookupTable(this.#compressor, records, sink.position);
      await sink.write(t.bytes);
      return t.pointerListStart;
    };
    // mksquashfs writes the (empty) fragment pointer list even with no fragments; the kernel
    // skips the table when the count is 0, so the position only has to be in order.
    const fragmentTableStart = await table(fragments.map(encodeFragmentEntry));
    const exportTableStart = this.#options.exportTable
      ? await table(exportRefs.map(encodeExportEntry))
      : null;
    const idTableStart = await table(ids.records());
    let xattrIdTableStart: number | null = null;
    if (xattrs.count > 0) {
      const x = xattrs.write(this.#compressor, sink.position);
      await sink.write(x.bytes);
      xattrIdTableStart = x.headerStart;
    }
    const bytesUsed = sink.position;

    let flags = 0;
    if (this.#options.dedupe) flags |= SuperblockFlags.DUPLICATES;
    if (exportTableStart !== null) flags |= SuperblockFlags.EXPORTABLE;
    if (xattrIdTableStart === null) flags |= SuperblockFlags.NO_XATTRS;
    if (this.#compressor.options !== null) flags |= SuperblockFlags.COMPRESSOR_OPTIONS;

    const superblock = encodeSuperblock({
      inodeCount,
      modificationTime: this.#options.mkfsTime,
      blockSize: this.#options.spec.blockSize,
      fragmentCount: fragments.length,
      compressionId: this.#compressor.id,
      flags,
      idCount: ids.ids.length,
      rootInodeRef: packRef(rootRef),
      bytesUsed,
      idTableStart,
      xattrIdTableStart,
      inodeTableStart,
      directoryTableStart,
      fragmentTableStart,
      exportTableStart,
    });
    const pad = (this.#options.padding - (bytesUsed % this.#options.padding)) % this.#options.padding;
    if (pad > 0) await sink.write(new Uint8Array(pad));
    await sink.writeAt(superblock, 0);
    await sink.close();
    return {
      bytesUsed,
      imageSize: bytesUsed + pad,
      inodeCount,
      files: counts.files,
      dirs: counts.dirs,
      fragments: fragments.length,
      deduplicatedFiles: counts.deduplicatedFiles,
      ids: ids.ids.length,
      xattrSets: xattrs.count,
    };
  }
}

/** Writes `entries` as a SquashFS image at `outputPath`; deletes the partial output on failure. */
export async function writeSquashfs(
  entries: AsyncIterable<Entry> | Iterable<Entry>,
  outputPath: string,
  options: WriterOptions = {},
): Promise<WriteResult> {
  const writer = await SquashfsWriter.create(outputPath, options);
  try {
    for await (const entry of entries) await writer.add(entry);
    return await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
