/**
 * The SquashFS 4.0 reader, the mirror of writer/writer.ts: superblock → compressor → lookup tables (id,
 * fragment, export, xattr ids) → inodes and directory listings on demand → file data on demand.
 * Reads are positional on one FileHandle, over a byte range of the file (a .gvmi holds its
 * SquashFS first), and nothing is loaded whole. The image is untrusted: every position and size is
 * checked before use and failures are typed (reader/errors.ts).
 */
import { open } from "node:fs/promises";
import { ByteSource } from "./byte-source.js";
import { createCompressor } from "../compressor/index.js";
import type { Compressor } from "../compressor/compressor.js";
import { type CompressionName, DEFAULT_LEVEL } from "../options.js";
import { DataReader } from "./data-reader.js";
import { listingSize, readListing, KIND_OF_TYPE, type DirectoryEntry } from "./directory-reader.js";
import { decodeIdEntry, ID_ENTRY_SIZE } from "../format/id-table.js";
import {
  basicType,
  decodeDevice,
  NO_XATTR,
  type DirInode,
  type FileInode,
  type Inode,
  type InodeKind,
} from "../format/inode.js";
import { readInodeAt } from "./inode-reader.js";
import { LookupTableReader } from "./lookup-reader.js";
import { decodeExportEntry, EXPORT_ENTRY_SIZE } from "../format/lookup-table.js";
import { MetadataReader } from "./metadata-reader.js";
import { METADATA_BLOCK_SIZE, unpackRef, type MetadataRef } from "../format/metadata.js";
import {
  COMPRESSION_NAMES,
  SquashfsBadSuperblockError,
  SquashfsImageCorruptError,
  SquashfsIsADirectoryError,
  SquashfsNotADirectoryError,
  SquashfsNotAFileError,
  SquashfsPathNotFoundError,
  quotePath,
  SquashfsTruncatedError,
  SquashfsUnsupportedCompressionError,
} from "./errors.js";
import { decodeSuperblock, SUPERBLOCK_SIZE, type Superblock } from "../format/superblock.js";
import { decodeXattrTableHeader, XATTR_ID_SIZE, XATTR_TABLE_HEADER_SIZE } from "../format/xattr-table.js";
import { XattrReader } from "./xattr-reader.js";
import { decodeName, encodeName } from "../../byte-names.js";

export type { DirectoryEntry } from "./directory-reader.js";

/** Where the image is: a whole file, or `length` bytes from `offset` (the SquashFS part of a .gvmi). */
export type SquashfsLocation = string | { path: string; offset?: number; length?: number };

export interface SquashfsReaderOptions {
  /** Inflated metadata blocks to keep (8 KiB each). Default 256. */
  cacheBlocks?: number;
}

/** `stat`-like facts of an inode, with ids resolved through the id table. */
export interface SquashfsStat {
  inodeNumber: number;
  kind: InodeKind;
  /** st_mode: type bits | permissions. */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  nlink: number;
  /** File: content bytes; directory: listing + 3 (as unsquashfs shows); symlink: target bytes; else 0. */
  size: number;
  xattrs: Map<string, Uint8Array>;
  /** Symlinks only: the target, decoded as UTF-8 (`targetBytes` has the stored bytes). */
  target?: string;
  targetBytes?: Uint8Array;
  /** Devices only. */
  rdev?: { major: number; minor: number };
}

/** One inode reached by `walk()`: its image path ("" for the root) and the inode. */
export interface WalkEntry {
  path: string;
  inode: Inode;
}

/** st_mode type bits by kind (Linux stat.h). */
export const MODE_TYPE: Readonly<Record<InodeKind, number>> = {
  dir: 0o040000,
  file: 0o100000,
  symlink: 0o120000,
  "block-device": 0o060000,
  "char-device": 0o020000,
  fifo: 0o010000,
  socket: 0o140000,
};

/** The kind of an inode. */
export function inodeKind(inode: Inode): InodeKind {
  return KIND_OF_TYPE[basicType(inode.type)]!;
}

export function isDirectory(inode: Inode): inode is DirInode {
  return inode.type === 1 || inode.type === 8;
}

export function isFile(inode: Inode): inode is FileInode {
  return inode.type === 2 || inode.type === 9;
}

export class SquashfsReader {
  readonly superblock: Superblock;
  /** "gzip" or "xz". */
  readonly compression: string;
  /** Bytes of the byte range the image was opened on (≥ bytes_used; the rest is padding). */
  readonly rangeSize: number;
  readonly #source: ByteSource;
  readonly #meta: MetadataReader;
  readonly #data: DataReader;
  readonly #ids: number[];
  readonly #exports: LookupTableReader | null;
  readonly #xattrs: XattrReader | null;
  /** End of the directory table: where the first table after it starts. */
  readonly #dirEnd: number;
  #root: DirInode | undefined;

  private constructor(init: {
    superblock: Superblock;
    source: ByteSource;
    rangeSize: number;
    meta: MetadataReader;
    data: DataReader;
    ids: number[];
    exports: LookupTableReader | null;
    xattrs: XattrReader | null;
    dirEnd: number;
  }) {
    this.superblock = init.superblock;
    this.compression = COMPRESSION_NAMES[init.superblock.compressionId]!;
    this.rangeSize = init.rangeSize;
    this.#source = init.source;
    this.#meta = init.meta;
    this.#data = init.data;
    this.#ids = init.ids;
    this.#exports = init.exports;
    this.#xattrs = init.xattrs;
    this.#dirEnd = init.dirEnd;
  }

  /** Opens the image at `location` and checks its superblock and tables. Close it when done. */
  static async open(
    location: SquashfsLocation,
    options: SquashfsReaderOptions = {},
  ): Promise<SquashfsReader> {
    const { path, offset = 0, length } = typeof location === "string" ? { path: location } : location;
    const handle = await open(path, "r");
    try {
      const { size: fileSize } = await handle.stat();
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > fileSize)
        throw new SquashfsTruncatedError(offset, 0, fileSize);
      const rangeSize = length ?? fileSize - offset;
      if (!Number.isSafeInteger(rangeSize) || rangeSize < 0 || offset + rangeSize > fileSize)
        throw new SquashfsTruncatedError(offset, rangeSize, fileSize);
      return await SquashfsReader.#init(new ByteSource(handle, offset, rangeSize), options);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  static async #init(source: ByteSource, options: SquashfsReaderOptions): Promise<SquashfsReader> {
    if (source.size < SUPERBLOCK_SIZE)
      throw new SquashfsBadSuperblockError(`the image is ${source.size} bytes, smaller than a superblock`);
    const sb = checkSuperblock(await source.read(0, SUPERBLOCK_SIZE), source.size);
    const compressor = makeCompressor(sb);
    // Nothing past bytes_used belongs to the image; reads stop there.
    const image = source.narrow(sb.bytesUsed);
    const meta = new MetadataReader(image, compressor, options.cacheBlocks);
    const lowest = sb.directoryTableStart;
    const end = sb.bytesUsed;
    const ids = await LookupTableReader.open(image, meta, {
      what: "id table",
      listStart: sb.idTableStart,
      count: sb.idCount,
      recordSize: ID_ENTRY_SIZE,
      lowest,
      end,
    });
    const fragments =
      sb.fragmentTableStart === null || sb.fragmentCount === 0
        ? null
        : await LookupTableReader.open(image, meta, {
            what: "fragment table",
            listStart: sb.fragmentTableStart,
            count: sb.fragmentCount,
            recordSize: 16,
            lowest,
            end,
          });
    const exports =
      sb.exportTableStart === null
        ? null
        : await LookupTableReader.open(image, meta, {
            what: "export table",
            listStart: sb.exportTableStart,
            count: sb.inodeCount,
            recordSize: EXPORT_ENTRY_SIZE,
            lowest,
            end,
          });
    let xattrs: XattrReader | null = null;
    let kvStart = end;
    if (sb.xattrIdTableStart !== null) {
      if (sb.xattrIdTableStart + XATTR_TABLE_HEADER_SIZE > end)
        throw new SquashfsBadSuperblockError("xattr table header lies past bytes_used");
      const header = decodeXattrTableHeader(await image.read(sb.xattrIdTableStart, XATTR_TABLE_HEADER_SIZE));
      const idTable = await LookupTableReader.open(image, meta, {
        what: "xattr id table",
        listStart: sb.xattrIdTableStart + XATTR_TABLE_HEADER_SIZE,
        blocksEnd: sb.xattrIdTableStart,
        count: header.count,
        recordSize: XATTR_ID_SIZE,
        lowest: header.kvStart,
        end,
      });
      if (header.kvStart < lowest || header.kvStart > idTable.firstBlock) {
        throw new SquashfsImageCorruptError(
          "xattr table",
          `key/value start ${header.kvStart} outside ${lowest} … ${idTable.firstBlock}`,
        );
      }
      xattrs = new XattrReader(meta, idTable, header.kvStart);
      kvStart = header.kvStart;
    }
    // The directory table ends where the next table's first block starts.
    let dirEnd = kvStart;
    for (const t of [ids, fragments, exports]) if (t !== null) dirEnd = Math.min(dirEnd, t.firstBlock);
    const idList: number[] = [];
    for (let i = 0; i < sb.idCount; i++) idList.push(decodeIdEntry(await ids.record(i)));
    const data = new DataReader(image, compressor, sb.blockSize, sb.inodeTableStart, fragments);
    return new SquashfsReader({
      superblock: sb,
      source: image,
      rangeSize: source.size,
      meta,
      data,
      ids: idList,
      exports,
      xattrs,
      dirEnd,
    });
  }

  async close(): Promise<void> {
    await this.#source.close();
  }

  /** The distinct uid/gid values of the id table, by index. */
  get ids(): readonly number[] {
    return this.#ids;
  }

  get fragmentCount(): number {
    return this.#data.fragmentCount;
  }

  get xattrIdCount(): number {
    return this.#xattrs?.count ?? 0;
  }

  /** The inode at `ref` (relative to the inode table). */
  async readInode(ref: MetadataRef, what = "inode table"): Promise<Inode> {
    const sb = this.superblock;
    const cursor = this.#meta.cursor(sb.inodeTableStart, sb.directoryTableStart, ref, what);
    return readInodeAt(cursor, sb.blockSize, sb.inodeCount, what);
  }

  /** The root directory's inode. */
  async root(): Promise<DirInode> {
    if (this.#root === undefined) {
      const inode = await this.readInode(unpackRef(this.superblock.rootInodeRef), "root inode");
      if (!isDirectory(inode))
        throw new SquashfsImageCorruptError("root inode", `is a ${inodeKind(inode)}, not a directory`);
      this.#root = inode;
    }
    return this.#root;
  }

  /** Inode number `n` through the export table (null when the image has none). */
  async inodeByNumber(n: number): Promise<Inode | null> {
    if (this.#exports === null) return null;
    const rec = await this.#exports.record(n - 1);
    let packed: number;
    try {
      packed = decodeExportEntry(rec);
    } catch (cause) {
      throw new SquashfsImageCorruptError("export table", `entry ${n} out of range`, { cause });
    }
    const inode = await this.readInode(unpackRef(packed), "export table");
    if (inode.inodeNumber !== n)
      throw new SquashfsImageCorruptError("export table", `entry ${n} points at inode ${inode.inodeNumber}`);
    return inode;
  }

  /** The entries of directory `dir` in stored (strcmp) order, "." and ".." excluded. */
  async *entries(dir: DirInode, what = `directory inode ${dir.inodeNumber}`): AsyncGenerator<DirectoryEntry> {
    const size = listingSize(dir);
    if (size === 0) return;
    const cursor = this.#meta.cursor(
      this.superblock.directoryTableStart,
      this.#dirEnd,
      { block: dir.blockIndex, offset: dir.blockOffset },
      what,
    );
    yield* readListing(cursor, size, this.superblock.inodeCount, what);
  }

  /** The entries of a directory given by inode or image path. */
  async readdir(dir: Inode | string): Promise<DirectoryEntry[]> {
    const inode = typeof dir === "string" ? await this.lookup(dir) : dir;
    if (!isDirectory(inode))
      throw new SquashfsNotADirectoryError(
        typeof dir === "string" ? dir : `inode ${inode.inodeNumber}`,
        inodeKind(inode),
      );
    const out: DirectoryEntry[] = [];
    for await (const e of this.entries(inode)) out.push(e);
    return out;
  }

  /** The inode a directory entry names, checked against what the entry says about it. */
  async entryInode(entry: DirectoryEntry, what = `entry ${quotePath(entry.name)}`): Promise<Inode> {
    const inode = await this.readInode(entry.inodeRef, what);
    if (inode.inodeNumber !== entry.inodeNumber || inodeKind(inode) !== entry.kind) {
      throw new SquashfsImageCorruptError(
        what,
        `entry says inode ${entry.inodeNumber} (${entry.kind}), inode table has ${inode.inodeNumber} (${inodeKind(inode)})`,
      );
    }
    return inode;
  }

  /**
   * The inode at image path `path` ("a/b/c"; leading, trailing and repeated "/" and "." ignored,
   * ".." goes up). Symlinks are never followed: one in the middle of the path is an error.
   */
  async lookup(path: string): Promise<Inode> {
    const stack: Inode[] = [await this.root()];
    // Directory inodes on the way (a Set: the path may be thousands of levels deep).
    const onPath = new Set<number>([stack[0]!.inodeNumber]);
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    // Prefixes of the path, for messages only: joined when needed, never per level.
    const upTo = (n: number): string => parts.slice(0, n).join("/");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const dir = stack[stack.length - 1]!;
      if (!isDirectory(dir)) throw new SquashfsNotADirectoryError(upTo(i), inodeKind(dir));
      if (part === "..") {
        if (stack.length > 1) onPath.delete(stack.pop()!.inodeNumber);
        continue;
      }
      const want = encodeName(part);
      let found: DirectoryEntry | undefined;
      const where = i < 64 ? `directory ${quotePath("/" + upTo(i))}` : `directory inode ${dir.inodeNumber}`;
      for await (const e of this.entries(dir, where)) {
        const c = compareBytes(e.nameBytes, want);
        if (c === 0) found = e;
        // Listings are sorted: past the name means it is not there.
        if (c >= 0) break;
      }
      if (found === undefined) throw new SquashfsPathNotFoundError(upTo(i + 1));
      const next = await this.entryInode(found, i < 64 ? quotePath(upTo(i + 1)) : `entry ${quotePath(part)}`);
      // Going down to a directory already on the way here is a loop (SquashFS has no directory
      // hard links), as walk() reports it.
      if (isDirectory(next)) {
        if (onPath.has(next.inodeNumber))
          throw new SquashfsImageCorruptError(
            quotePath(upTo(i + 1)),
            `directory inode ${next.inodeNumber} is reached twice (a loop)`,
          );
        onPath.add(next.inodeNumber);
      }
      stack.push(next);
    }
    return stack[stack.length - 1]!;
  }

  /** The content of a regular file (by inode or path) as chunks of at most one block. */
  async *readFile(file: Inode | string): AsyncGenerator<Uint8Array> {
    const inode = typeof file === "string" ? await this.lookup(file) : file;
    const name = typeof file === "string" ? file : `inode ${inode.inodeNumber}`;
    if (isDirectory(inode)) throw new SquashfsIsADirectoryError(name);
    if (!isFile(inode)) throw new SquashfsNotAFileError(name, inodeKind(inode));
    yield* this.#data.read(inode);
  }

  /** Fragment block `index`, inflated (verify reads each one). */
  fragmentBlock(index: number): Promise<Uint8Array> {
    return this.#data.fragmentBlock(index);
  }

  /** The extended attributes of `inode`, full names to values. */
  async xattrs(inode: Inode): Promise<Map<string, Uint8Array>> {
    if (inode.type <= 7 || inode.xattrIndex === NO_XATTR) return new Map();
    if (this.#xattrs === null)
      throw new SquashfsImageCorruptError(
        `inode ${inode.inodeNumber}`,
        "has xattrs but the image has no xattr table",
      );
    if (inode.xattrIndex >= this.#xattrs.count) {
      throw new SquashfsImageCorruptError(
        `inode ${inode.inodeNumber}`,
        `xattr index ${inode.xattrIndex} outside 0 … ${this.#xattrs.count - 1}`,
      );
    }
    return this.#xattrs.read(inode.xattrIndex);
  }

  /** `stat`-like facts of `inode` (by inode or path). */
  async stat(target: Inode | string): Promise<SquashfsStat> {
    const inode = typeof target === "string" ? await this.lookup(target) : target;
    const kind = inodeKind(inode);
    const id = (index: number, what: string): number => {
      const v = this.#ids[index];
      if (v === undefined)
        throw new SquashfsImageCorruptError(
          `inode ${inode.inodeNumber}`,
          `${what} index ${index} outside the id table (${this.#ids.length} ids)`,
        );
      return v;
    };
    const out: SquashfsStat = {
      inodeNumber: inode.inodeNumber,
      kind,
      mode: MODE_TYPE[kind] | (inode.permissions & 0o7777),
      uid: id(inode.uidIndex, "uid"),
      gid: id(inode.gidIndex, "gid"),
      mtime: inode.mtime,
      nlink: inode.nlink,
      size: 0,
      xattrs: await this.xattrs(inode),
    };
    if (isDirectory(inode) || isFile(inode)) out.size = inode.fileSize;
    if (inode.type === 3 || inode.type === 10) {
      out.targetBytes = inode.target;
      out.target = decodeName(inode.target);
      out.size = inode.target.length;
    }
    if (inode.type === 4 || inode.type === 5 || inode.type === 11 || inode.type === 12)
      out.rdev = decodeDevice(inode.rdev);
    return out;
  }

  /**
   * Every inode reachable from the root, depth first in listing order (the root first, path "").
   * Hard links appear once per path. A directory reached twice is a loop: an error, not a hang;
   * so the depth is at most the inode count, and each listing is read only up to its declared
   * size. `signal` stops the walk between entries (Ctrl-C on a huge image).
   */
  async *walk(options: { signal?: AbortSignal } = {}): AsyncGenerator<WalkEntry> {
    const { signal } = options;
    signal?.throwIfAborted();
    const root = await this.root();
    const seenDirs = new Set<number>([root.inodeNumber]);
    yield { path: "", inode: root };
    const stack: { path: string; entries: DirectoryEntry[]; next: number }[] = [];
    stack.push({ path: "", entries: await this.readdir(root), next: 0 });
    while (stack.length > 0) {
      signal?.throwIfAborted();
      const top = stack[stack.length - 1]!;
      const entry = top.entries[top.next++];
      if (entry === undefined) {
        stack.pop();
        continue;
      }
      const path = top.path === "" ? entry.name : `${top.path}/${entry.name}`;
      // The path is a rope of its parent's and the name; quoting it whole for every entry would
      // copy it, the square of the depth in all.
      const inode = await this.entryInode(
        entry,
        stack.length < 64 ? quotePath(path) : `entry ${quotePath(entry.name)} ${stack.length} levels deep`,
      );
      yield { path, inode };
      if (isDirectory(inode)) {
        if (seenDirs.has(inode.inodeNumber))
          throw new SquashfsImageCorruptError(
            quotePath(path),
            `directory inode ${inode.inodeNumber} is reached twice (a loop)`,
          );
        seenDirs.add(inode.inodeNumber);
        stack.push({ path, entries: await this.readdir(inode), next: 0 });
      }
    }
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * decodeSuperblock plus what it leaves out: block_log in range (a shift by ≥ 32 wraps in JS),
 * the block size itself, table order and bounds, known compressor.
 */
function checkSuperblock(bytes: Uint8Array, rangeSize: number): Superblock {
  let sb: Superblock;
  try {
    sb = decodeSuperblock(bytes);
  } catch (cause) {
    throw new SquashfsBadSuperblockError(cause instanceof Error ? cause.message : String(cause));
  }
  const blockLog = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(22, true);
  if (blockLog < 12 || blockLog > 20 || sb.blockSize !== 2 ** blockLog) {
    throw new SquashfsBadSuperblockError(
      `block size ${sb.blockSize} / block log ${blockLog}: not a power of two from 4 KiB to 1 MiB`,
    );
  }
  if (READABLE[sb.compressionId] === undefined)
    throw new SquashfsUnsupportedCompressionError(sb.compressionId);
  if (sb.bytesUsed > rangeSize) throw new SquashfsTruncatedError(0, sb.bytesUsed, rangeSize);
  if (sb.inodeCount < 1) throw new SquashfsBadSuperblockError("inode count is 0");
  if (sb.idCount < 1) throw new SquashfsBadSuperblockError("id count is 0");
  // Order as every SquashFS 4.0 writer lays it out: data, inodes, directories, then the tables.
  if (!(sb.inodeTableStart >= SUPERBLOCK_SIZE && sb.inodeTableStart < sb.directoryTableStart)) {
    throw new SquashfsBadSuperblockError(
      `inode table at ${sb.inodeTableStart} is not between the superblock and the directory table (${sb.directoryTableStart})`,
    );
  }
  for (const [name, at] of [
    ["id table", sb.idTableStart],
    ["fragment table", sb.fragmentTableStart],
    ["export table", sb.exportTableStart],
    ["xattr table", sb.xattrIdTableStart],
  ] as const) {
    if (at !== null && (at < sb.directoryTableStart || at >= sb.bytesUsed)) {
      throw new SquashfsBadSuperblockError(
        `${name} at ${at} is not between the directory table (${sb.directoryTableStart}) and bytes_used (${sb.bytesUsed})`,
      );
    }
  }
  if (sb.fragmentCount > 0 && sb.fragmentTableStart === null)
    throw new SquashfsBadSuperblockError(`${sb.fragmentCount} fragments but no fragment table`);
  const root = unpackRef(sb.rootInodeRef);
  if (root.offset >= METADATA_BLOCK_SIZE || sb.inodeTableStart + root.block >= sb.directoryTableStart) {
    throw new SquashfsBadSuperblockError(
      `root inode reference ${root.block}:${root.offset} lies outside the inode table`,
    );
  }
  return sb;
}

/**
 * Superblock compression id → the compressor that decodes it. Decoding needs none of the
 * compressor options (lzo's algorithm and level, lz4's HC flag, gzip's level only affect encoding;
 * xz blocks carry their own dictionary size), so they are not read.
 */
const READABLE: Readonly<Record<number, CompressionName>> = { 1: "gzip", 3: "lzo", 4: "xz", 5: "lz4" };

function makeCompressor(sb: Superblock): Compressor {
  const name = READABLE[sb.compressionId]!;
  // Only decompress() is used; the level is irrelevant to it but must be valid.
  return createCompressor({ name, level: DEFAULT_LEVEL[name], blockSize: sb.blockSize });
}
