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
import type { CompressionName, GzipBackend, WriterOptions } from "../options.js";
import { DEFAULT_BLOCK_SIZE, DEFAULT_LEVEL } from "../options.js";
import type { Compressor, CompressorSpec } from "../compressor/compressor.js";
import { createCompressor, resolveGzipBackend } from "../compressor/index.js";
import { SquashfsSymlinkTooLongError, SquashfsWriterStateError } from "../errors.js";
import { checkRange, concat, U32_MAX } from "../format/binary.js";
import { encodeFragmentEntry } from "../format/fragment-table.js";
import { encodeDevice, MAX_SYMLINK_TARGET } from "../format/inode.js";
import { encodeExportEntries } from "../format/lookup-table.js";
import { encodeMetadataHeader, packRef } from "../format/metadata.js";
import { encodeSuperblock, SUPERBLOCK_SIZE, SuperblockFlags } from "../format/superblock.js";
import { nameByteLength } from "../../byte-names.js";
import { DataWriter } from "./data-writer.js";
import { FsTree } from "./fs-tree.js";
import { writeLookupTable } from "./lookup-table-writer.js";
import type { BlockCacheUse } from "./block-cache.js";
import { OutputSink } from "./output-sink.js";
import { serializeTree } from "./serialize-tree.js";
import type { XattrTable } from "./xattr-table-writer.js";

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
  /** Which compressor wrote the blocks, at which level, with which encoder. */
  compressor: CompressorInfo;
  /**
   * With a block cache (options.blockCache): data and fragment blocks it served (hits) and those
   * compressed in this run and stored (misses, a refused entry among them).
   */
  blockCache?: BlockCacheUse;
}

/** The compressor a writer uses, as resolved on this machine. */
export interface CompressorInfo {
  name: CompressionName;
  level: number;
  /** The encoder, e.g. "libdeflate (libdeflate.so.0, encoder 1f2e…)"; see Compressor.backend. */
  backend: string;
  /** gzip: the encoder family ("libdeflate" or "zlib"). */
  gzipBackend?: GzipBackend;
  /**
   * gzip: no backend was asked for and libdeflate did not load, so Node's zlib writes the blocks
   * — other bytes than on a machine with libdeflate (the caller warns: W_SQUASHFS_LIBDEFLATE_MISSING).
   */
  gzipFallback: boolean;
}

interface ResolvedOptions {
  spec: CompressorSpec;
  workers: number | undefined;
  mkfsTime: number;
  implicitDirMtime: number;
  dedupe: boolean;
  exportTable: boolean;
  padding: number;
}

/**
 * Throw now what SquashfsWriter.create would throw about `options` (compressor name, level, block
 * size, a missing compressor library), so that a caller can refuse bad options before it
 * downloads or reads anything.
 */
export function checkWriterOptions(options: WriterOptions): CompressorInfo {
  const resolved = resolveOptions(options);
  return compressorInfo(resolved, createCompressor(resolved.spec), options);
}

function compressorInfo(resolved: ResolvedOptions, compressor: Compressor, o: WriterOptions): CompressorInfo {
  const gzip = compressor.name === "gzip";
  return {
    name: compressor.name,
    level: compressor.level,
    backend: compressor.backend,
    ...(gzip ? { gzipBackend: resolved.spec.gzipBackend } : {}),
    gzipFallback: gzip && o.gzipBackend === undefined && resolved.spec.gzipBackend === "zlib",
  };
}

function resolveOptions(o: WriterOptions): ResolvedOptions {
  const name = o.compression ?? "gzip";
  const mkfsTime = checkRange("mkfs time", o.mkfsTime ?? 0, U32_MAX);
  const padding = o.padding ?? 4096;
  checkRange("padding", padding, 1 << 30);
  const spec: CompressorSpec = {
    name,
    level: o.level ?? DEFAULT_LEVEL[name],
    blockSize: o.blockSize ?? DEFAULT_BLOCK_SIZE,
    skipIncompressible: o.skipIncompressible ?? true,
    xzBackend: o.xzBackend ?? "liblzma",
    ...(o.blockCache !== undefined ? { blockCache: o.blockCache } : {}),
  };
  // Decided once, here, so that every worker thread runs the same encoder.
  if (name === "gzip") spec.gzipBackend = resolveGzipBackend({ ...spec, gzipBackend: o.gzipBackend });
  return {
    spec,
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
  readonly #info: CompressorInfo;
  readonly #sink: OutputSink;
  readonly #data: DataWriter;
  readonly #tree: FsTree;
  /** add() calls run one after another even if the caller does not await. */
  #chain: Promise<void> = Promise.resolve();
  #state: "open" | "finishing" | "done" | "failed" = "open";

  private constructor(
    options: ResolvedOptions,
    compressor: Compressor,
    sink: OutputSink,
    info: CompressorInfo,
  ) {
    this.#options = options;
    this.#compressor = compressor;
    this.#info = info;
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
      return new SquashfsWriter(resolved, compressor, sink, compressorInfo(resolved, compressor, options));
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
        let layout: number;
        try {
          layout = await this.#data.writeFile(entry.size, entry.content);
        } catch (err) {
          // The data path may be mid-file: nothing consistent can follow.
          this.#state = "failed";
          throw err;
        }
        tree.setFile(entry.path, entry.attrs, layout);
        return;
      }
      case "symlink": {
        checkAttrs(entry.attrs);
        const bytes = nameByteLength(entry.target);
        if (bytes > MAX_SYMLINK_TARGET) throw new SquashfsSymlinkTooLongError(entry.path, bytes);
        tree.setSymlink(entry.path, entry.attrs, entry.target);
        return;
      }
      case "hardlink":
        tree.setHardlink(entry.path, entry.target);
        return;
      case "char-device":
      case "block-device":
        checkAttrs(entry.attrs);
        tree.setDevice(entry.path, entry.type, entry.attrs, encodeDevice(entry.major, entry.minor));
        return;
      case "fifo":
      case "socket":
        checkAttrs(entry.attrs);
        tree.setIpc(entry.path, entry.type, entry.attrs);
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

  /**
   * The tables after the data, in the order the kernel checks (file comment), then the superblock.
   * Everything but the data is built in memory here: inodes need the final tree.
   */
  async #finish(): Promise<WriteResult> {
    const fragments = await this.#data.finish();
    await this.#data.close();
    this.#tree.resolve();
    const data = this.#data;
    const tree = serializeTree(this.#tree, this.#compressor, {
      layout: (id) => data.layout(id),
      duplicatedLayouts: data.duplicatedLayouts,
    });
    const inodeTableStart = await this.#append(tree.inodeTable);
    const directoryTableStart = await this.#append(tree.directoryTable);
    // mksquashfs writes the (empty) fragment pointer list even with no fragments; the kernel
    // skips the table when the count is 0, so the position only has to be in order.
    const fragmentTableStart = await this.#lookupTable(fragments.map(encodeFragmentEntry));
    const exportTableStart = this.#options.exportTable
      ? await this.#lookupTable(encodeExportEntries(tree.packedInodeRefs))
      : null;
    const idTableStart = await this.#lookupTable(tree.ids.records());
    const xattrIdTableStart = tree.xattrs.count > 0 ? await this.#xattrTable(tree.xattrs) : null;
    const bytesUsed = this.#sink.position;
    const superblock = encodeSuperblock({
      inodeCount: tree.inodeCount,
      modificationTime: this.#options.mkfsTime,
      blockSize: this.#options.spec.blockSize,
      fragmentCount: fragments.length,
      compressionId: this.#compressor.id,
      flags: this.#flags(exportTableStart !== null, xattrIdTableStart !== null),
      idCount: tree.ids.ids.length,
      rootInodeRef: packRef(tree.rootRef),
      bytesUsed,
      idTableStart,
      xattrIdTableStart,
      inodeTableStart,
      directoryTableStart,
      fragmentTableStart,
      exportTableStart,
    });
    const imageSize = await this.#pad(bytesUsed);
    await this.#sink.writeAt(superblock, 0);
    await this.#sink.close();
    return {
      bytesUsed,
      imageSize,
      inodeCount: tree.inodeCount,
      files: tree.files,
      dirs: tree.dirs,
      fragments: fragments.length,
      deduplicatedFiles: tree.deduplicatedFiles,
      ids: tree.ids.ids.length,
      xattrSets: tree.xattrs.count,
      compressor: this.#info,
      ...(data.blockCache === undefined ? {} : { blockCache: data.blockCache }),
    };
  }

  /** Appends `bytes`; returns the position they start at. */
  async #append(bytes: Uint8Array): Promise<number> {
    const start = this.#sink.position;
    await this.#sink.write(bytes);
    return start;
  }

  /** A lookup table's blocks land where the sink is, then its pointer list; returns the list's position. */
  async #lookupTable(records: readonly Uint8Array[] | Uint8Array): Promise<number> {
    const t = writeLookupTable(this.#compressor, records, this.#sink.position);
    await this.#sink.write(t.bytes);
    return t.pointerListStart;
  }

  /** The xattr table's three parts; returns the position of its header (what the superblock stores). */
  async #xattrTable(xattrs: XattrTable): Promise<number> {
    const x = xattrs.write(this.#compressor, this.#sink.position);
    await this.#sink.write(x.bytes);
    return x.headerStart;
  }

  #flags(exportTable: boolean, xattrTable: boolean): number {
    let flags = 0;
    if (this.#options.dedupe) flags |= SuperblockFlags.DUPLICATES;
    if (exportTable) flags |= SuperblockFlags.EXPORTABLE;
    if (!xattrTable) flags |= SuperblockFlags.NO_XATTRS;
    if (this.#compressor.options !== null) flags |= SuperblockFlags.COMPRESSOR_OPTIONS;
    return flags;
  }

  /** Zero-pads the image to a multiple of `options.padding`; returns the padded size. */
  async #pad(bytesUsed: number): Promise<number> {
    const padding = this.#options.padding;
    const pad = (padding - (bytesUsed % padding)) % padding;
    if (pad > 0) await this.#sink.write(new Uint8Array(pad));
    return bytesUsed + pad;
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
