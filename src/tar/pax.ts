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
