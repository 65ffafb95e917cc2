import { TarFormatError, TarTooLargeError } from "./errors.js";

/**
 * Pax extended header records (POSIX.1-2001, `pax` "extended header"): `"<len> <key>=<value>\n"`,
 * where `<len>` counts the bytes of the whole record, its own digits and the newline included.
 */

/**
 * Parses the data of a pax `x` or `g` member into its records in order, keeping values as bytes:
 * xattr values are binary (security.capability), so decoding them as UTF-8 would be lossy. A
 * malformed record ends the parse; the records before it stand. Order and repeats matter to GNU
 * sparse format 0.0, which repeats `GNU.sparse.offset`/`GNU.sparse.numbytes`.
 */
export function parsePaxRecordList(buf: Uint8Array): Array<[string, Uint8Array]> {
  const records: Array<[string, Uint8Array]> = [];
  let pos = 0;
  while (pos < buf.length) {
    const space = buf.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number(Buffer.from(buf.subarray(pos, space)).toString("latin1"));
    if (!Number.isSafeInteger(len) || len <= space - pos || pos + len > buf.length) break;
    const record = buf.subarray(space + 1, pos + len - 1); // drop the trailing '\n'
    const eq = record.indexOf(0x3d);
    if (eq >= 0) {
      records.push([
        Buffer.from(record.subarray(0, eq)).toString("utf8"),
        Uint8Array.from(record.subarray(eq + 1)),
      ]);
    }
    pos += len;
  }
  return records;
}

/**
 * The records of a pax `x` or `g` member by keyword (the last of a repeated one wins). An empty
 * value deletes the keyword (POSIX): absent here.
 */
export function parsePaxRecords(buf: Uint8Array): Map<string, Uint8Array> {
  return paxRecordsByKey(parsePaxRecordList(buf));
}

/** Records in order → by keyword, as `parsePaxRecords`. */
export function paxRecordsByKey(list: Iterable<[string, Uint8Array]>): Map<string, Uint8Array> {
  const records = new Map<string, Uint8Array>();
  for (const [key, value] of list) {
    if (value.length === 0) records.delete(key);
    else records.set(key, value);
  }
  return records;
}

/** A record's value as UTF-8 text (pax `path`, `linkpath`, `uname` ... are UTF-8). */
export function paxText(records: Map<string, Uint8Array>, key: string): string | undefined {
  const value = records.get(key);
  return value === undefined ? undefined : Buffer.from(value).toString("utf8");
}

/** A decimal record (`mtime` may have a fraction: `1600000000.987654321`); undefined if not a number. */
export function paxNumber(records: Map<string, Uint8Array>, key: string): number | undefined {
  const text = paxText(records, key)?.trim();
  if (text === undefined || !/^-?\d+(\.\d*)?$/.test(text)) return undefined;
  return Number(text);
}

/** A whole-number record (`size`, `uid`, `gid`); undefined if not one or past 2^53-1. */
export function paxInteger(records: Map<string, Uint8Array>, key: string): number | undefined {
  const n = paxNumber(records, key);
  return n === undefined || !Number.isSafeInteger(n) ? undefined : n;
}

/**
 * The `size` record (POSIX: the member's data size, decimal, for sizes the header cannot hold):
 * undefined when absent; anything but decimal digits (`-5`, `12abc`, `1e3`) is a malformed header
 * (GNU tar refuses it too), and a value past 2^53-1 (`10^30`) a size no file has.
 */
export function paxSize(records: Map<string, Uint8Array>): number | undefined {
  const text = paxText(records, "size");
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text))
    throw new TarFormatError(`pax size record "${text.slice(0, 40)}" is not a decimal size`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new TarTooLargeError(
      `pax size record declares ${text.length > 40 ? `a ${text.length}-digit number of` : text} bytes, past 2^53-1`,
    );
  }
  return n;
}

/**
 * The member's data size, checked before a byte of it is read: the pax `size` record when there
 * is one (see `paxSize`), else `headerSize` as the tar parser decoded it (octal or base-256,
 * which can claim up to 2^95). A size the stream may not hold is fine to stream (the data runs
 * out and the tar is truncated); a size that is not a safe integer is refused, never rounded.
 */
export function memberSize(headerSize: number, records: Map<string, Uint8Array>): number {
  const pax = paxSize(records);
  if (pax !== undefined) {
    // The tar parser skips by its own reading of the record: a disagreement would desynchronize it.
    if (pax !== headerSize)
      throw new TarFormatError(`pax size record ${pax} is not what the parser read (${headerSize})`);
    return pax;
  }
  // tar-stream reads a base-256 -1 (0xff, then all ones) as -0 and would take it as an empty file.
  if (headerSize < 0 || Object.is(headerSize, -0)) {
    throw new TarFormatError(`a tar header declares a negative data size`);
  }
  if (!Number.isSafeInteger(headerSize)) {
    throw new TarTooLargeError(`a tar header declares ${headerSize} bytes of data, past 2^53-1`);
  }
  return headerSize;
}
