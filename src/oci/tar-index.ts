/**
 * An index of the regular files in an (uncompressed) tar file: name → byte range, so archive
 * sources read blobs in place with `createReadStream({ start, end })` instead of extracting.
 * Reads only the 512-byte headers (POSIX ustar, PAX `x` path/size, GNU `L` long names), through
 * the shared codec in src/tar, seeking over the data: tar-stream cannot seek, and these archives
 * run to gigabytes. Symbolic and hard links to files are resolved (old `docker save` dedups
 * layers with symlinks). Names follow the one archive-path rule (`normalizeTarPath`).
 */
import { open } from "node:fs/promises";
import { posix } from "node:path";
import {
  BLOCK_SIZE as BLOCK,
  decodeGnuLongName,
  headerName,
  headerNumber,
  headerString,
  headerType,
  isZeroBlock,
  normalizeTarPath,
  parsePaxRecords,
  paxSize as paxSizeRecord,
  paxText,
  TarFormatError,
} from "../tar/index.js";
import { GvmconvError } from "../errors.js";
import { LocalSourceError } from "./errors.js";

/** Largest pax or GNU long-name member read while indexing (names and sizes need far less). */
const MAX_EXTENDED_HEADER = 1024 * 1024;

export interface TarEntry {
  /** Offset of the file data in the tar. */
  offset: number;
  size: number;
}

export class TarIndex {
  readonly path: string;
  readonly #files = new Map<string, TarEntry>();
  readonly #links = new Map<string, string>();

  private constructor(path: string) {
    this.path = path;
  }

  static async build(path: string): Promise<TarIndex> {
    const index = new TarIndex(path);
    const fh = await open(path, "r");
    try {
      const { size: fileSize } = await fh.stat();
      const header = Buffer.alloc(BLOCK);
      let pos = 0;
      let longName: string | undefined;
      let paxPath: string | undefined;
      let paxSize: number | undefined;
      while (pos + BLOCK <= fileSize) {
        const { bytesRead } = await fh.read(header, 0, BLOCK, pos);
        if (bytesRead < BLOCK) break;
        if (isZeroBlock(header)) break; // end-of-archive marker
        const type = headerType(header);
        const name = headerName(header);
        const size = paxSize ?? readSize(header, path, pos);
        const dataStart = pos + BLOCK;
        const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
        if (type === "L" || type === "x" || type === "g" || type === "K") {
          if (size > MAX_EXTENDED_HEADER)
            throw new LocalSourceError(path, "tar extended header larger than 1 MiB");
          const data = Buffer.alloc(size);
          await fh.read(data, 0, size, dataStart);
          if (type === "L") longName = decodeGnuLongName(data);
          if (type === "x") {
            const pax = parsePaxRecords(data);
            paxPath = paxText(pax, "path") ?? paxPath;
            paxSize = paxRecordSize(pax, path, pos) ?? paxSize;
          }
          pos = next;
          continue;
        }
        const fullName = normalizeTarPath(paxPath ?? longName ?? name);
        if (type === "0" || type === "\0" || type === "7") {
          if (dataStart + size > fileSize)
            throw new LocalSourceError(path, `tar is truncated inside ${fullName}`);
          index.#files.set(fullName, { offset: dataStart, size });
        } else if (type === "1" || type === "2") {
          const linkName = headerString(header, "linkname");
          // Hard link targets are archive paths; symlink targets are relative to the link's
          // directory unless absolute, and then relative to the archive root like any name.
          const target =
            type === "1" || linkName.startsWith("/")
              ? normalizeTarPath(linkName)
              : normalizeTarPath(posix.join(posix.dirname(fullName), linkName));
          index.#links.set(fullName, target);
        }
        longName = undefined;
        paxPath = undefined;
        paxSize = undefined;
        pos = type === "1" || type === "2" || type === "5" ? dataStart : next;
      }
    } finally {
      await fh.close();
    }
    return index;
  }

  /** The entry for `name`, following links (at most 16). */
  get(name: string): TarEntry | undefined {
    let n = normalizeTarPath(name);
    for (let i = 0; i < 16; i++) {
      const f = this.#files.get(n);
      if (f !== undefined) return f;
      const l = this.#links.get(n);
      if (l === undefined) return undefined;
      n = l;
    }
    return undefined;
  }

  names(): string[] {
    return [...this.#files.keys(), ...this.#links.keys()];
  }
}

/** A pax header's `size` record, if any; a malformed one means the archive cannot be indexed. */
function paxRecordSize(pax: Map<string, Uint8Array>, path: string, pos: number): number | undefined {
  try {
    return paxSizeRecord(pax);
  } catch (err) {
    if (!(err instanceof GvmconvError)) throw err;
    throw new LocalSourceError(path, `not a readable tar (${err.message} in the header at byte ${pos})`, {
      cause: err,
    });
  }
}

/** The header's size field; a bad one (not a number, negative, past 2^53-1) means this is not a tar. */
function readSize(header: Buffer, path: string, pos: number): number {
  let size;
  try {
    size = headerNumber(header, "size");
  } catch (err) {
    if (!(err instanceof TarFormatError)) throw err;
    throw new LocalSourceError(path, `not a tar file (${err.message} in the header at byte ${pos})`, {
      cause: err,
    });
  }
  if (size < 0)
    throw new LocalSourceError(path, `not a tar file (negative size in the header at byte ${pos})`);
  return size;
}
