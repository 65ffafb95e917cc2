/**
 * Collecting the extended attribute table while inodes are built (format.adoc, "Extended Attribute
 * Table"; the records are in format/xattr-table.ts). Three parts, in this order on disk:
 *   1. key/value pairs in metadata blocks, one run per distinct attribute set;
 *   2. a lookup table of 16-byte xattr ids (ref to the run, pair count, run size);
 *   3. an uncompressed header (kv start, id count, unused) and the id table's pointer list.
 * The superblock points at part 3. Identical sets share one id. Values are always stored inline:
 * out-of-line values are an optional space saving, and inline keeps the reader's path simple.
 */
import type { Compressor } from "../compressor/compressor.js";
import { SquashfsXattrNamespaceError } from "../errors.js";
import { concat, utf8 } from "../format/binary.js";
import { compareNames } from "../format/directory.js";
import { encodeLookupPointers } from "../format/lookup-table.js";
import {
  encodeXattrId,
  encodeXattrKey,
  encodeXattrTableHeader,
  encodeXattrValue,
  splitXattrName,
} from "../format/xattr-table.js";
import { MetadataWriter } from "./metadata-writer.js";

/** Collects distinct attribute sets; written at the end of the image. */
export class XattrTable {
  /** Encoded pairs of each distinct set, by xattr id. */
  readonly #sets: { pairs: Uint8Array; count: number }[] = [];
  readonly #byKey = new Map<string, number>();

  get count(): number {
    return this.#sets.length;
  }

  /** The xattr id of `xattrs` (a new one for a set not seen before); null for an empty map. */
  add(path: string | (() => string), xattrs: ReadonlyMap<string, Uint8Array> | undefined): number | null {
    if (xattrs === undefined || xattrs.size === 0) return null;
    const keyed = [...xattrs].map(([full, value]) => {
      const key = splitXattrName(full);
      if (key === null) throw new SquashfsXattrNamespaceError(typeof path === "string" ? path : path(), full);
      return { full: utf8.encode(full), key, value };
    });
    // A stable order makes equal sets encode equally.
    keyed.sort((a, b) => compareNames(a.full, b.full));
    const pairs = concat(keyed.flatMap((k) => [encodeXattrKey(k.key), encodeXattrValue(k.value)]));
    const dedupeKey = Buffer.from(pairs).toString("latin1");
    const known = this.#byKey.get(dedupeKey);
    if (known !== undefined) return known;
    const id = this.#sets.length;
    this.#sets.push({ pairs, count: keyed.length });
    this.#byKey.set(dedupeKey, id);
    return id;
  }

  /** Writes all three parts starting at absolute position `at`; returns bytes and header position. */
  write(compressor: Compressor, at: number): { bytes: Uint8Array; headerStart: number } {
    const kv = new MetadataWriter(compressor);
    const ids: Uint8Array[] = [];
    for (const set of this.#sets) {
      const ref = kv.ref();
      kv.append(set.pairs);
      ids.push(encodeXattrId({ ref, count: set.count, size: set.pairs.length }));
    }
    const kvBytes = kv.finish().bytes;
    const idTableAt = at + kvBytes.length;
    const mw = new MetadataWriter(compressor);
    for (const r of ids) mw.append(r);
    const { bytes: idBlocks, blockStarts } = mw.finish();
    const headerStart = idTableAt + idBlocks.length;
    const header = encodeXattrTableHeader({ kvStart: at, count: this.#sets.length });
    const pointers = encodeLookupPointers(blockStarts.map((s) => idTableAt + s));
    return { bytes: concat([kvBytes, idBlocks, header, pointers]), headerStart };
  }
}
