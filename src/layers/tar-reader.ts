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
 * follow node-tar's coverage; the header and pax codecs are src/tar's.
 */
import type { Readable } from "node:stream";
import { extract as tarExtract, type Header, type Extract } from "tar-stream";
import type { Entry, EntryAttrs } from "../squashfs/index.js";
import { GvmconvError } from "../errors.js";
import {
  normalizeTarPath,
  parsePaxRecords,
  paxInteger,
  paxNumber,
  paxText,
  TarFormatError,
} from "../tar/index.js";
import { silentReporter, type Reporter } from "../reporter.js";
import { openDecompressed } from "../decompress.js";

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
  /** Present for files: the member's data (see `TarContent`). */
  content?: TarContent;
}

/** Warning codes this reader emits. */
export const TAR_WARNINGS = {
  unknownType: "W_TAR_UNKNOWN_TYPE",
  invalidPath: "W_TAR_INVALID_PATH",
  /** The same code as the directory walker's: one oddity, one code, whichever source meets it. */
  mtimeRange: "W_LAYER_MTIME_RANGE",
  sparse: "W_TAR_SPARSE_UNSUPPORTED",
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
  const extract = tarExtract({ allowUnknownFormat: true } as never) as Extract;
  const rawPax = capturePaxBytes(extract);

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
  try {
    for await (const source of extract) {
      const header = source.header as HeaderWithOffset;
      const content = new Content(source);
      current = content;
      const record = toRecord(header, rawPax.take(header), content, reporter);
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
  pax: Map<string, Uint8Array>,
  content: Content,
  reporter: Reporter,
): TarRecord | undefined {
  const name = header.name;
  const path = normalizeTarPath(name);
  const base = { name, dataOffset: header.byteOffset ?? 0 };
  const type = header.type as string | null;

  if (type === "directory") {
    return { ...base, entry: { type: "directory", path, attrs: attrsOf(header, pax, path, reporter) } };
  }
  if (path === "") {
    reporter.warn({
      code: TAR_WARNINGS.invalidPath,
      message: `skipped ${type ?? "entry"} '${name}': its path is the root`,
      path: name,
    });
    return undefined;
  }
  switch (type) {
    case "file":
    case "contiguous-file": {
      if (paxText(pax, "GNU.sparse.major") !== undefined || paxText(pax, "GNU.sparse.map") !== undefined) {
        reporter.warn({
          code: TAR_WARNINGS.sparse,
          message: `skipped sparse file '${name}': GNU sparse members are not supported`,
          path,
        });
        return undefined;
      }
      const attrs = attrsOf(header, pax, path, reporter);
      return { ...base, content, entry: { type: "file", path, attrs, size: header.size, content } };
    }
    case "symlink":
      return {
        ...base,
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
      return { ...base, entry: { type: "hardlink", path, target } };
    }
    case "character-device":
    case "block-device":
      return {
        ...base,
        entry: {
          type: type === "character-device" ? "char-device" : "block-device",
          path,
          attrs: attrsOf(header, pax, path, reporter),
          major: header.devmajor ?? 0,
          minor: header.devminor ?? 0,
        },
      };
    case "fifo":
      return { ...base, entry: { type: "fifo", path, attrs: attrsOf(header, pax, path, reporter) } };
    default:
      reporter.warn({
        code: TAR_WARNINGS.unknownType,
        message: `skipped '${name}': unsupported tar entry type`,
        path,
      });
      return undefined;
  }
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
  if (xattrs.size > 0) attrs.xattrs = xattrs;
  return attrs;
}

const SCHILY_XATTR = "SCHILY.xattr.";
const LIBARCHIVE_XATTR = "LIBARCHIVE.xattr.";

/** `SCHILY.xattr.NAME=<raw bytes>` (GNU tar, star, Go); bsdtar also writes `LIBARCHIVE.xattr.<urlencoded NAME>=<base64>`. */
function xattrsOf(pax: Map<string, Uint8Array>): Map<string, Uint8Array> {
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

/**
 * Captures each pax header's raw bytes and pairs them with the entry they precede.
 *
 * tar-stream exposes pax headers only as decoded strings (`header.pax`). We wrap its per-instance
 * `_decodeLongHeader` (tar-stream 3.x) to see the bytes first. If that internal ever disappears,
 * we fall back to `header.pax` (xattr values then pass through UTF-8).
 */
function capturePaxBytes(extract: Extract): { take(header: Header): Map<string, Uint8Array> } {
  const internals = extract as unknown as ExtractInternals;
  const original = internals._decodeLongHeader;
  let global = new Map<string, Uint8Array>();
  let pending: Map<string, Uint8Array> | undefined;
  const byHeader = new WeakMap<object, Map<string, Uint8Array>>();
  const hooked = typeof original === "function";
  if (hooked) {
    internals._decodeLongHeader = function (this: ExtractInternals, buf: Uint8Array) {
      const type = this._header?.type;
      if (type === "pax-header") pending = parsePaxRecords(buf);
      else if (type === "pax-global-header") global = new Map([...global, ...parsePaxRecords(buf)]);
      return original.call(this, buf);
    };
    // Registered before the async iterator's own listener, so it runs first.
    extract.on("entry", (header: Header) => {
      byHeader.set(
        header,
        global.size === 0 ? (pending ?? new Map()) : new Map([...global, ...(pending ?? [])]),
      );
      pending = undefined;
    });
  }
  return {
    take(header) {
      if (hooked) return byHeader.get(header) ?? new Map();
      const fromStrings = new Map<string, Uint8Array>();
      for (const [key, value] of Object.entries((header.pax ?? {}) as Record<string, string>)) {
        fromStrings.set(key, Buffer.from(value, "utf8"));
      }
      return fromStrings;
    },
  };
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
