/**
 * The id table (format.adoc, "ID Table"): the distinct uid/gid values, which inodes refer to by
 * u16 index. The superblock's id count is a u16, so at most 65535 values fit (65536 would wrap
 * to 0, which the kernel refuses).
 */
import { setU32, viewOf } from "./binary.js";

export const ID_ENTRY_SIZE = 4;
export const MAX_IDS = 0xffff;

export function encodeIdEntry(id: number): Uint8Array {
  const out = new Uint8Array(ID_ENTRY_SIZE);
  // u32 uid or gid
  setU32(viewOf(out), 0, id, "uid/gid");
  return out;
}

export function decodeIdEntry(bytes: Uint8Array, offset = 0): number {
  return new DataView(bytes.buffer, bytes.byteOffset + offset, ID_ENTRY_SIZE).getUint32(0, true);
}
