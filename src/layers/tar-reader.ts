/**
 * Reads a tar stream (plain, gzip or zstd: see src/decompress.ts) into writer `Entry`s, over
 * `tar-stream`.
 *
 * Two levels:
 * - `readTarRecords` yields one `TarRecord` per archive member: the entry with its path
 *   normalized but otherwise raw (whiteout names such as `.wh.foo` are ordinary names), plus
 *   what the layer merge needs to know about where it came from. A file's content is a stream
 *   over the archive itself, so it is readable only until the next record is requested; whatever
 *   the consumer left unread is drained then (tar-stream cannot skip ahead otherwise).
 * - `readTar` yields just the entries, for sources that are a single tar (the `squashfs` command).
 *
 * Tar variants (POSIX.1-2001 pax `x`/`g` records, GNU `L`/`K` long names, base-256 numbers)
 * follow node-tar's coverage; the header and pax codecs are src/tar's. GNU sparse files (old GNU
 * `S` members, PAX formats 0.0, 0.1 and 1.0) become files of their real size and name whose
 * content has zeros in the holes (src/tar/sparse.ts); the SquashFS writer stores those as
 * sparse blocks.
 */
import type { Readable } from "node:stream";
import type { Header, Extract } from "tar-stream";
import type { Entry, EntryAttrs } from "../squashfs/index.js";
import { GvmconvError } from "../errors.js";
import {
  BLOCK_SIZE,
  addSegments,
  checkSparseMap,
  collectPaxSparse00,
  decodeGnuSparseExtension,
  decodeGnuSparseHeader,
  expandSparse,
  headerChecksumOk,
  headerType,
  memberSize,
  normalizeTarPath,
  parsePaxRecordList,
  parsePaxRecords,
  paxRecordsByKey,
  parseSparseMapRecord,
  parseSparseSize,
  paxInteger,
  paxNumber,
  paxText,
  SparseExpansionBudget,
  SparseMapError,
  TarFormatError,
  type SparseFormat,
  type SparseMap,
  type SparseMember,
  type SparseSegment,
} from "../tar/index.js";
import { silentReporter, type Reporter } from "../reporter.js";
import { openDecompressed } from "../decompress.js";
import { decodeName, isPlainAscii } from "../byte-names.js";
import { lazyModule } from "../lazy-module.js";

/** tar-stream, loaded when a tar is first read (~25 ms a directory walk does not pay). */
const tarStream = lazyModule<typeof import("tar-stream")>("tar-stream");

export interface ReadTarOptions {
  /** Where coded warnings go (unknown entry types, unusable paths). */
  reporter?: Reporter;
}

/** Content of a file record: readable once, only before the next record is requested. */
export interface TarContent extends AsyncIterable<Uint8Array> {
  /** Read and discard whatever is left (done automatically when the next record is requested). */
  drain(): Promise<void>;
}

export interface TarRecord {
  /**
   * The entry: path normalized (see `normalizeTarPath`), whiteout names kept as they are.
   * For `type: "file"`, `content` is this record's `content`.
   */
  entry: Entry;
  /** The member's name as stored (after PAX `path` and GNU long names), before normalization. */
  name: string;
  /** Byte offset of the member's data in the uncompressed archive. */
  dataOffset: number;
  /** Present for files: the member's data (see `TarContent`); for a sparse file, its real content. */
  content?: TarContent;
  /** Present for GNU sparse files: how the archive stored it. */
  sparse?: SparseInfo;
}

/** A GNU sparse file's encoding and map. */
export interface SparseInfo {
  format: SparseFormat;
  /** The checked map; for format 1.0, whose map is in the data, only once reading has begun. */
  readonly map: SparseMap | undefined;
}

/** Warning codes this reader emits. */
export const TAR_WARNINGS = {
  unknownType: "W_TAR_UNKNOWN_TYPE",
  invalidPath: "W_TAR_INVALID_PATH",
  /** The same code as the directory walker's: one oddity, one code, whichever source meets it. */
  mtimeRange: "W_LAYER_MTIME_RANGE",
} as const;

/** Yields the entries of a tar stream (plain, gzip or zstd). File content must be read before the next entry. */
export async function* readTar(input: Readable, opts: ReadTarOptions = {}): AsyncGenerator<Entry> {
  for await (const record of readTarRecords(input, opts)) yield record.entry;
}

const MAX_MTIME = 2 ** 32 - 1;

/** Yields one record per archive member (see `TarRecord`). */
export async function* readTarRecords(input: Readable, opts: ReadTarOptions = {}): AsyncGenerator<TarRecord> {
  const reporter = opts.reporter ?? silentReporter;
  const decoded = await decompressing(input);
  // latin1 maps each byte of a header name (ustar `prefix/name`, GNU `L`/`K` data) to one
  // character, so `byteNames` can recover the bytes exactly; tar-stream's default, UTF-8, turns
  // every invalid byte into U+FFFD.
  const extract = tarStream().extract({
    allowUnknownFormat: true,
    filenameEncoding: "latin1",
  } as never) as Extract;
  const rawPax = capturePaxBytes(extract);
  const gnuSparse = captureGnuSparse(extract);

  // Feed the extractor by hand: tar-stream's streams are streamx, whose interplay with
  // node's pipeline() on errors is not something to rely on.
  const pump = (async () => {
    try {
      for await (const chunk of decoded) {
        if (!extract.write(chunk as Uint8Array)) {
          // 'close' too: a destroyed extractor never drains. Whichever fires, drop the other
          // listener, or one 'close' listener piles up per backpressure wait.
          await new Promise<void>((resolve) => {
            const done = (): void => {
              extract.off("drain", done);
              extract.off("close", done);
              resolve();
            };
            extract.once("drain", done);
            extract.once("close", done);
          });
        }
        if (extract.destroyed) return;
      }
      extract.end(undefined as never);
    } catch (err) {
      extract.destroy(err as Error);
    }
  })();

  let current: Content | undefined;
  const sparseBudget = new SparseExpansionBudget();
  try {
    for await (const source of extract) {
      const header = source.header as HeaderWithOffset;
      const content = new Content(source);
      current = content;
      const pax = rawPax.take(header);
      // Before the entry is handed on: a size that is not a safe integer is refused, not rounded.
      memberSize(header.size ?? 0, pax.records);
      const record = toRecord(header, pax, gnuSparse.take(header), content, reporter);
      if (record?.sparse !== undefined && record.entry.type === "file") {
        sparseBudget.add(record.name, record.entry.size, header.size ?? 0);
      }
      if (record) yield record;
      await content.drain();
      current = undefined;
    }
  } catch (err) {
    throw asTarError(err);
  } finally {
    if (current) current.abandon();
    if (!extract.destroyed) extract.destroy(null as unknown as Error);
    decoded.destroy();
    if (decoded !== input) input.destroy();
    await pump;
  }
}

function asTarError(err: unknown): GvmconvError {
  if (err instanceof GvmconvError) return err;
  return new TarFormatError(`cannot read tar: ${(err as Error).message}`, { cause: err });
}

interface HeaderWithOffset extends Header {
  byteOffset?: number;
  type: Header["type"];
}

function toRecord(
  header: HeaderWithOffset,
  capture: PaxCapture,
  gnu: GnuSparseHeader | undefined,
  content: Content,
  reporter: Reporter,
): TarRecord | undefined {
  const pax = capture.records;
  byteNames(header, pax);
  // Sparse records on a directory or link would be nonsense: only file members are expanded.
  const fileLike =
    header.type === null ? gnu !== undefined : header.type === "file" || header.type === "contiguous-file";
  const sparse = fileLike ? sparseMember(header, capture, gnu) : undefined;
  const name = sparse?.name ?? header.name;
  const path = normalizeTarPath(name);
  // Each record is a literal of its own, not a spread of shared fields followed by more: that
  // costs V8 ~2 µs per record (Node 20; the same literal without it, 0.05 µs), 0.2 s of the main
  // thread's CPU at 100k entries (see the note in serialize-tree.ts).
  const dataOffset = header.byteOffset ?? 0;
  const type = header.type as string | null;

  if (type === "directory") {
    return {
      name,
      dataOffset,
      entry: { type: "directory", path, attrs: attrsOf(header, pax, path, reporter) },
    };
  }
  if (path === "") {
    reporter.warn({
      code: TAR_WARNINGS.invalidPath,
      message: `skipped ${type ?? "entry"} '${name}': its path is the root`,
      path: name,
    });
    return undefined;
  }
  switch (sparse !== undefined ? "file" : type) {
    case "file":
    case "contiguous-file": {
      const attrs = attrsOf(header, pax, path, reporter);
      if (sparse !== undefined) {
        const real = new SparseContent(content, sparse.member);
        const entry: Entry = { type: "file", path, attrs, size: sparse.member.realSize, content: real };
        return { name, dataOffset, content: real, entry, sparse: real.info };
      }
      return { name, dataOffset, content, entry: { type: "file", path, attrs, size: header.size, content } };
    }
    case "symlink":
      return {
        name,
        dataOffset,
        entry: {
          type: "symlink",
          path,
          attrs: attrsOf(header, pax, path, reporter),
          target: header.linkname ?? "",
        },
      };
    case "link": {
      const target = normalizeTarPath(header.linkname ?? "");
      if (target === "") {
        reporter.warn({
          code: TAR_WARNINGS.invalidPath,
          message: `skipped hard link '${name}': its target '${header.linkname ?? ""}' is not a file path`,
          path,
        });
        return undefined;
      }
      // The header's own mode/owner are ignored: a hard link shares its target's inode.
      return { name, dataOffset, entry: { type: "hardlink", path, target } };
    }
    case "character-device":
    case "block-device":
      return {
        name,
        dataOffset,
        entry: {
          type: type === "character-device" ? "char-device" : "block-device",
          path,
          attrs: attrsOf(header, pax, path, reporter),
          major: header.devmajor ?? 0,
          minor: header.devminor ?? 0,
        },
      };
    case "fifo":
      return { name, dataOffset, entry: { type: "fifo", path, attrs: attrsOf(header, pax, path, reporter) } };
    default:
      reporter.warn({
        code: TAR_WARNINGS.unknownType,
        message: `skipped '${name}': unsupported tar entry type`,
        path,
      });
      return undefined;
  }
}

const PAX_SPARSE_OFFSET = "GNU.sparse.offset";

/**
 * Replaces the header's name and link name, as tar-stream decoded them (latin1 from the header
 * and GNU long names, UTF-8 from PAX records), by the string forms of their bytes
 * (src/byte-names.ts). PAX `path`/`linkpath` are UTF-8 by the standard, or any bytes under
 * `hdrcharset=BINARY`; both are taken as the bytes they are, so neither case loses a name.
 */
function byteNames(header: Header, pax: Map<string, Uint8Array>): void {
  const path = pax.get("path");
  header.name = path !== undefined && path.length > 0 ? decodeName(path) : latin1Name(header.name);
  const linkpath = pax.get("linkpath");
  if (linkpath !== undefined && linkpath.length > 0) header.linkname = decodeName(linkpath);
  else if (header.linkname != null) header.linkname = latin1Name(header.linkname);
}

/** The string form of a name tar-stream decoded as latin1: a printable ASCII name is its own. */
function latin1Name(name: string): string {
  return isPlainAscii(name) ? name : decodeName(Buffer.from(name, "latin1"));
}

/** A sparse file's real name and how to expand it, from its headers; undefined if not sparse. */
function sparseMember(
  header: Header,
  capture: PaxCapture,
  gnu: GnuSparseHeader | undefined,
): { name: string; member: SparseMember } | undefined {
  const memberSize = header.size ?? 0;
  if (gnu !== undefined) {
    const member: SparseMember = {
      format: "gnu",
      realSize: gnu.realSize,
      memberSize,
      segments: gnu.segments,
    };
    checkSparseMap({ realSize: gnu.realSize, segments: gnu.segments }, memberSize);
    return { name: header.name, member };
  }
  const pax = capture.records;
  const major = paxText(pax, "GNU.sparse.major");
  const minor = paxText(pax, "GNU.sparse.minor");
  const map = paxText(pax, "GNU.sparse.map");
  const size00 = paxText(pax, "GNU.sparse.size") ?? paxText(pax, "GNU.sparse.numblocks");
  if (
    major === undefined &&
    minor === undefined &&
    map === undefined &&
    capture.sparse00 === undefined &&
    size00 === undefined
  ) {
    return undefined;
  }
  // GNU tar's 0.1 and 1.0 store the real name here (the header's is `GNUSparseFile.<pid>/<name>`).
  const sparseName = pax.get("GNU.sparse.name");
  const name = sparseName !== undefined ? decodeName(sparseName) : header.name;
  let member: SparseMember;
  if (major !== undefined || minor !== undefined) {
    if (major?.trim() !== "1" || minor?.trim() !== "0") {
      throw new SparseMapError(
        `GNU sparse format ${major ?? "?"}.${minor ?? "?"} is unknown (1.0 is the only one after 0.1)`,
      );
    }
    member = {
      format: "1.0",
      realSize: parseSparseSize(paxText(pax, "GNU.sparse.realsize"), "GNU.sparse.realsize"),
      memberSize,
    };
    // The map is in the data: checked as it is read. The real size can be checked now.
    checkSparseMap({ realSize: member.realSize, segments: [] }, 0);
    return { name, member };
  }
  const realSize = parseSparseSize(paxText(pax, "GNU.sparse.size"), "GNU.sparse.size");
  const segments = map !== undefined ? parseSparseMapRecord(map) : (capture.sparse00?.() ?? []);
  const numblocks = paxText(pax, "GNU.sparse.numblocks");
  if (numblocks !== undefined && parseSparseSize(numblocks, "GNU.sparse.numblocks") !== segments.length) {
    throw new SparseMapError(
      `GNU.sparse.numblocks is ${numblocks} but the map has ${segments.length} entries`,
    );
  }
  member = { format: map !== undefined ? "0.1" : "0.0", realSize, memberSize, segments };
  checkSparseMap({ realSize, segments }, memberSize);
  return { name, member };
}

function attrsOf(header: Header, pax: Map<string, Uint8Array>, path: string, reporter: Reporter): EntryAttrs {
  const uid = paxInteger(pax, "uid") ?? header.uid;
  const gid = paxInteger(pax, "gid") ?? header.gid;
  let mtime = paxNumber(pax, "mtime") ?? Math.floor(header.mtime.getTime() / 1000);
  mtime = Math.floor(mtime);
  if (!(mtime >= 0 && mtime <= MAX_MTIME)) {
    reporter.warn({
      code: TAR_WARNINGS.mtimeRange,
      message: `mtime ${mtime} of '${path}' is outside what SquashFS stores; clamped`,
      path,
    });
    mtime = Number.isFinite(mtime) ? Math.min(Math.max(mtime, 0), MAX_MTIME) : 0;
  }
  const attrs: EntryAttrs = { mode: header.mode & 0o7777, uid, gid, mtime };
  const xattrs = xattrsOf(pax);
  if (xattrs !== undefined && xattrs.size > 0) attrs.xattrs = xattrs;
  return attrs;
}

const SCHILY_XATTR = "SCHILY.xattr.";
const LIBARCHIVE_XATTR = "LIBARCHIVE.xattr.";

/** `SCHILY.xattr.NAME=<raw bytes>` (GNU tar, star, Go); bsdtar also writes `LIBARCHIVE.xattr.<urlencoded NAME>=<base64>`. */
function xattrsOf(pax: Map<string, Uint8Array>): Map<string, Uint8Array> | undefined {
  if (pax.size === 0) return undefined;
  const xattrs = new Map<string, Uint8Array>();
  for (const [key, value] of pax) {
    if (key.startsWith(SCHILY_XATTR)) xattrs.set(key.slice(SCHILY_XATTR.length), value);
  }
  for (const [key, value] of pax) {
    if (!key.startsWith(LIBARCHIVE_XATTR)) continue;
    const name = decodeURIComponent(key.slice(LIBARCHIVE_XATTR.length));
    if (!xattrs.has(name)) xattrs.set(name, Buffer.from(Buffer.from(value).toString("latin1"), "base64"));
  }
  return xattrs;
}

interface ExtractInternals {
  _decodeLongHeader?: (buf: Uint8Array) => unknown;
  _header?: { type?: string | null } | null;
}

/** A member's pax records by keyword, and PAX sparse 0.0's segments, which repeat keywords. */
interface PaxCapture {
  records: Map<string, Uint8Array>;
  /** `GNU.sparse.offset`/`GNU.sparse.numbytes` in order; undefined when the header has none. */
  sparse00: (() => SparseSegment[] | undefined) | undefined;
}

/**
 * Captures each pax header's raw bytes and pairs them with the entry they precede.
 *
 * tar-stream exposes pax headers only as decoded strings (`header.pax`). We wrap its per-instance
 * `_decodeLongHeader` (tar-stream 3.x) to see the bytes first. If that internal ever disappears,
 * we fall back to `header.pax` (xattr values then pass through UTF-8, and PAX sparse 0.0, whose
 * repeated records the strings lose, is refused).
 */
function capturePaxBytes(extract: Extract): { take(header: Header): PaxCapture } {
  const internals = extract as unknown as ExtractInternals;
  const original = internals._decodeLongHeader;
  let global = new Map<string, Uint8Array>();
  let pending: Array<[string, Uint8Array]> | undefined;
  const byHeader = new WeakMap<object, PaxCapture>();
  const hooked = typeof original === "function";
  if (hooked) {
    internals._decodeLongHeader = function (this: ExtractInternals, buf: Uint8Array) {
      const type = this._header?.type;
      if (type === "pax-header") pending = parsePaxRecordList(buf);
      else if (type === "pax-global-header") global = new Map([...global, ...parsePaxRecords(buf)]);
      return original.call(this, buf);
    };
    // Registered before the async iterator's own listener, so it runs first.
    extract.on("entry", (header: Header) => {
      const list = pending ?? [];
      const own = paxRecordsByKey(list);
      byHeader.set(header, {
        records: global.size === 0 ? own : new Map([...global, ...own]),
        sparse00: own.has(PAX_SPARSE_OFFSET) ? () => collectPaxSparse00(list) : undefined,
      });
      pending = undefined;
    });
  }
  return {
    take(header) {
      if (hooked) return byHeader.get(header) ?? { records: new Map(), sparse00: undefined };
      const records = new Map<string, Uint8Array>();
      for (const [key, value] of Object.entries((header.pax ?? {}) as Record<string, string>)) {
        records.set(key, Buffer.from(value, "utf8"));
      }
      const sparse00 = records.has(PAX_SPARSE_OFFSET)
        ? (): never => {
            throw new SparseMapError(
              "PAX sparse 0.0 records cannot be read in order by this tar-stream version",
            );
          }
        : undefined;
      return { records, sparse00 };
    },
  };
}

interface ConsumeHeaderInternals {
  _consumeHeader?: () => boolean;
  _continueWrite?: (err: Error | null) => void;
  _locked?: boolean;
  _buffer?: { shift(size: number): Uint8Array | null; buffered: number };
  _final?: (cb: (err: Error | null) => void) => void;
}

/** What an old GNU `S` header and its extension blocks say. */
interface GnuSparseHeader {
  realSize: number;
  segments: SparseSegment[];
}

const TYPE_GNU_SPARSE = "S";

/**
 * Reads old GNU sparse (`S`) members' maps, which tar-stream does not know: it takes the type as
 * unknown (type null), would hand out the extension blocks as the start of the data, and would
 * then read the data's last blocks as headers.
 *
 * We wrap tar-stream 3.x's per-instance `_consumeHeader`, which runs with a whole header block
 * buffered: an `S` header is taken off the buffer with its extension blocks, one block per call
 * (so a long chain is never buffered whole), and then given to the original as if it were the
 * next block; the entry it emits is paired with the map here. Its data offset is then the first
 * data byte, after the extension blocks.
 */
function captureGnuSparse(extract: Extract): { take(header: Header): GnuSparseHeader | undefined } {
  const internals = extract as unknown as ConsumeHeaderInternals;
  const original = internals._consumeHeader;
  const buffer = internals._buffer;
  const byHeader = new WeakMap<object, GnuSparseHeader>();
  // Without the internals an `S` member stays what tar-stream makes of it: an unknown type.
  if (typeof original !== "function" || typeof buffer?.shift !== "function") return { take: () => undefined };
  const shift = buffer.shift;
  /** An `S` header whose extension blocks are being read. */
  let collecting: { block: Uint8Array; map: GnuSparseHeader } | undefined;
  let ready: GnuSparseHeader | undefined;

  /** Hands `block` to the original as the next header block. */
  const consume = function (this: ConsumeHeaderInternals, block: Uint8Array): boolean {
    buffer.shift = () => {
      buffer.shift = shift;
      return block;
    };
    try {
      return original.call(this);
    } finally {
      buffer.shift = shift;
    }
  };

  internals._consumeHeader = function (this: ConsumeHeaderInternals): boolean {
    if (this._locked === true) return false;
    const block = shift.call(buffer, BLOCK_SIZE);
    if (block === null) return false; // not reached: tar-stream calls this with a block buffered
    try {
      if (collecting !== undefined) {
        const ext = decodeGnuSparseExtension(block);
        addSegments(collecting.map.segments, ext.segments);
        if (ext.isExtended) return true; // tar-stream asks for more input when less than a block is left
        ready = collecting.map;
        const header = collecting.block;
        collecting = undefined;
        return consume.call(this, header);
      }
      if (headerType(block) === TYPE_GNU_SPARSE && headerChecksumOk(block)) {
        const head = decodeGnuSparseHeader(block);
        const map = { realSize: head.realSize, segments: head.segments };
        if (head.isExtended) {
          collecting = { block: Uint8Array.from(block), map };
          return true;
        }
        ready = map;
      }
    } catch (err) {
      this._continueWrite?.(err as Error);
      return false;
    }
    return consume.call(this, block);
  };
  // An archive that ends inside the extension blocks is truncated: tar-stream, which has seen
  // nothing unfinished, would end cleanly without the member.
  const final = internals._final;
  if (typeof final === "function") {
    internals._final = function (this: ConsumeHeaderInternals, cb: (err: Error | null) => void): void {
      if (collecting === undefined) return final.call(this, cb);
      cb(new TarFormatError("the archive ends inside an old GNU sparse header's extension blocks"));
    };
  }
  // Registered before the async iterator's own listener, so it runs first.
  extract.on("entry", (header: Header) => {
    if (ready !== undefined) byHeader.set(header, ready);
    ready = undefined;
  });
  return { take: (header) => byHeader.get(header) };
}

/** `input`'s uncompressed bytes (sniffed once: a layer stream already decompressed is taken as is). */
async function decompressing(input: Readable): Promise<Readable> {
  const { compressed, stream } = await openDecompressed(input);
  // pipe() does not carry errors: an input that fails fails the decoded stream, and so the read.
  if (stream !== compressed) compressed.on("error", (err) => stream.destroy(err));
  return stream;
}

/**
 * One member's data. Iterating it reads the archive in place; breaking out of the loop early
 * leaves the rest for `drain()` instead of destroying the whole archive (which is what
 * returning from tar-stream's own iterator would do).
 */
class Content implements TarContent {
  readonly #source: Readable;
  #iterator: AsyncIterator<Uint8Array> | undefined;
  #claimed = false;
  #finished = false;

  constructor(source: unknown) {
    this.#source = source as Readable;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#claimed) throw new Error("tar entry content can be read only once");
    this.#claimed = true;
    return {
      next: () => this.#next(),
      return: async () => ({ done: true, value: undefined }),
    };
  }

  async #next(): Promise<IteratorResult<Uint8Array>> {
    if (this.#finished) return { done: true, value: undefined };
    this.#iterator ??= (this.#source as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    try {
      const next = await this.#iterator.next();
      if (next.done) this.#finished = true;
      return next;
    } catch (err) {
      this.#finished = true;
      throw asTarError(err);
    }
  }

  async drain(): Promise<void> {
    this.#claimed = true;
    while (!(await this.#next()).done);
  }

  /** The archive is being torn down: stop reading. */
  abandon(): void {
    this.#finished = true;
  }
}

/**
 * A sparse file's real content over its member's data (`expandSparse`): readable once; `drain()`
 * discards the member's data whether or not reading began.
 */
class SparseContent implements TarContent {
  readonly #stored: Content;
  readonly #member: SparseMember;
  #map: SparseMap | undefined;
  #claimed = false;
  readonly info: SparseInfo;

  constructor(stored: Content, member: SparseMember) {
    this.#stored = stored;
    this.#member = member;
    if (member.segments !== undefined) this.#map = { realSize: member.realSize, segments: member.segments };
    const map = (): SparseMap | undefined => this.#map;
    this.info = {
      format: member.format,
      get map() {
        return map();
      },
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#claimed) throw new Error("tar entry content can be read only once");
    this.#claimed = true;
    return expandSparse(this.#member, this.#stored, (map) => (this.#map = map));
  }

  drain(): Promise<void> {
    this.#claimed = true;
    return this.#stored.drain();
  }
}
