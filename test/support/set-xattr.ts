/**
 * lsetxattr(2) through koffi, for tests that put xattrs on paths or under names `setfattr` cannot
 * be given (Node passes arguments as UTF-8, so a name that is not cannot reach it), and on a
 * symlink itself. Linux (glibc) only, as the reader it feeds.
 */
import { createRequire } from "node:module";
import { getSystemErrorName } from "node:util";

type Koffi = typeof import("koffi");

let lsetxattr: ((...args: unknown[]) => unknown) | undefined;
let koffi: Koffi | undefined;

/** Sets `name` to `value` on `path` itself (never a symlink's target); throws with the errno's name. */
export function setXattr(path: string | Buffer, name: string | Buffer, value: Uint8Array | string): void {
  koffi ??= createRequire(import.meta.url)("koffi") as Koffi;
  lsetxattr ??= koffi
    .load("libc.so.6")
    .func("int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)");
  const cString = (s: string | Buffer) => (typeof s === "string" ? s : Buffer.concat([s, Buffer.of(0)]));
  const bytes = typeof value === "string" ? Buffer.from(value) : Buffer.from(value);
  // A zero-length Buffer may have no backing memory; koffi then passes NULL, which is what
  // setfattr gives an empty value too.
  if ((lsetxattr(cString(path), cString(name), bytes, bytes.length, 0) as number) !== 0) {
    const errno = koffi.errno();
    const err = new Error(
      `lsetxattr ${String(name)}: ${getSystemErrorName(-errno)}`,
    ) as NodeJS.ErrnoException;
    err.code = getSystemErrorName(-errno);
    throw err;
  }
}

/**
 * A POSIX ACL as Linux stores it in `system.posix_acl_access` (include/uapi/linux/posix_acl_xattr.h):
 * version 2, then {tag u16, perm u16, id u32} entries in tag order. Owner rw, user `uid` r, group
 * r, mask r, others none: what `setfacl -m u:UID:r` makes of a 0640 file.
 */
export function aclGivingUserRead(uid: number): Buffer {
  const entries: Array<[tag: number, perm: number, id: number]> = [
    [0x01, 6, 0xffffffff], // ACL_USER_OBJ
    [0x02, 4, uid], // ACL_USER
    [0x04, 4, 0xffffffff], // ACL_GROUP_OBJ
    [0x10, 4, 0xffffffff], // ACL_MASK
    [0x20, 0, 0xffffffff], // ACL_OTHER
  ];
  const buf = Buffer.alloc(4 + 8 * entries.length);
  buf.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    buf.writeUInt16LE(tag, 4 + 8 * i);
    buf.writeUInt16LE(perm, 6 + 8 * i);
    buf.writeUInt32LE(id, 8 + 8 * i);
  });
  return buf;
}
