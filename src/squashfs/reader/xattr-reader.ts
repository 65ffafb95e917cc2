/**
 * Reading extended attributes (format.adoc, "Extended Attribute Table"), the mirror of
 * writer/xattr-table-writer.ts: the inode's xattr index → a 16-byte xattr id (ref, count, size)
 * in a lookup table → `count` key/value pairs in the key/value metadata blocks. A value whose key type has
 * bit 0x100 is stored out of line: the inline value is a u64 reference (into the same key/value
 * blocks) to the real value, which mksquashfs uses to share large values (e.g. ACLs).
 */
import { concat } from "../format/binary.js";
import type { MetadataCursor, MetadataReader } from "./metadata-reader.js";
import type { LookupTableReader } from "./lookup-reader.js";
import { unpackRef, type MetadataRef } from "../format/metadata.js";
import {
  decodeXattrId,
  decodeXattrKey,
  decodeXattrValue,
  XATTR_KEY_SIZE,
  XATTR_PREFIXES,
  XATTR_VALUE_OUT_OF_LINE,
  XATTR_VALUE_SIZE,
} from "../format/xattr-table.js";
import { SquashfsImageCorruptError } from "./errors.js";

/** Linux XATTR_SIZE_MAX: no value can be larger. */
const MAX_VALUE_BYTES = 65536;
/** Linux XATTR_NAME_MAX (without the prefix it is shorter still). */
const MAX_NAME_BYTES = 255;
/** Smallest pair: key header, 1-byte name, value header. */
const MIN_PAIR_BYTES = XATTR_KEY_SIZE + 1 + XATTR_VALUE_SIZE;
const WHAT = "xattr table";

export class XattrReader {
  readonly #meta: MetadataReader;
  readonly #ids: LookupTableReader;
  /** Absolute start of the key/value blocks. */
  readonly #kvStart: number;
  /** Where the key/value blocks end: the first block of the id lookup table. */
  readonly #kvEnd: number;

  constructor(meta: MetadataReader, ids: LookupTableReader, kvStart: number) {
    this.#meta = meta;
    this.#ids = ids;
    this.#kvStart = kvStart;
    this.#kvEnd = ids.firstBlock;
  }

  get count(): number {
    return this.#ids.count;
  }

  /** The attributes of xattr id `index`, full names ("user.x") to values, in stored order. */
  async read(index: number): Promise<Map<string, Uint8Array>> {
    let id;
    try {
      id = decodeXattrId(await this.#ids.record(index));
    } catch (cause) {
      if (cause instanceof SquashfsImageCorruptError) throw cause;
      throw new SquashfsImageCorruptError(WHAT, `xattr id ${index} does not decode`, { cause });
    }
    if (id.count * MIN_PAIR_BYTES > id.size)
      throw new SquashfsImageCorruptError(
        WHAT,
        `xattr id ${index}: ${id.count} pairs cannot fit ${id.size} bytes`,
      );
    const cursor = this.#cursor(id.ref);
    const out = new Map<string, Uint8Array>();
    const text = new TextDecoder("utf-8");
    for (let i = 0; i < id.count; i++) {
      const head = await cursor.read(XATTR_KEY_SIZE);
      const nameSize = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint16(2, true);
      if (nameSize < 1 || nameSize > MAX_NAME_BYTES)
        throw new SquashfsImageCorruptError(WHAT, `xattr name of ${nameSize} bytes`);
      const key = decodeXattrKey(concat([head, await cursor.read(nameSize)]), 0);
      const prefix = XATTR_PREFIXES.find(([, t]) => t === (key.type & ~XATTR_VALUE_OUT_OF_LINE));
      if (prefix === undefined)
        throw new SquashfsImageCorruptError(WHAT, `xattr key type 0x${key.type.toString(16)}`);
      let value = await this.#value(cursor);
      if ((key.type & XATTR_VALUE_OUT_OF_LINE) !== 0) {
        if (value.length !== 8)
          throw new SquashfsImageCorruptError(WHAT, `out-of-line xattr reference of ${value.length} bytes`);
        const packed = new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0, true);
        if (packed > BigInt(Number.MAX_SAFE_INTEGER))
          throw new SquashfsImageCorruptError(WHAT, "out-of-line xattr reference out of range");
        value = await this.#value(this.#cursor(unpackRef(Number(packed))));
      }
      out.set(prefix[0] + text.decode(key.name), value);
    }
    return out;
  }

  #cursor(ref: MetadataRef): MetadataCursor {
    return this.#meta.cursor(this.#kvStart, this.#kvEnd, ref, WHAT);
  }

  async #value(cursor: MetadataCursor): Promise<Uint8Array> {
    const head = await cursor.read(XATTR_VALUE_SIZE);
    const size = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(0, true);
    if (size > MAX_VALUE_BYTES) throw new SquashfsImageCorruptError(WHAT, `xattr value of ${size} bytes`);
    return decodeXattrValue(concat([head, await cursor.read(size)]), 0);
  }
}
