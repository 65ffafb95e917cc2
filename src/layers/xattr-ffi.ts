/**
 * Extended attributes read with libc's `llistxattr` and `lgetxattr` (xattr(7)), called through
 * koffi (FFI) as the compressors call liblzma and libdeflate. Node has no xattr API; before this
 * the directory walk ran one `getfattr -R` over the whole tree before it started (on a million
 * small files 5 s of wall time with the tree cached, 23 s without; and Debian's `attr` package).
 * mksquashfs likewise asks per file during its walk. The l- variants read a symlink's own
 * attributes, never its target's.
 *
 * Linux only (glibc's `libc.so.6`, musl's `libc.musl-ARCH.so.1`): macOS has the same calls with
 * extra position/options arguments and other errno values, which nothing here can test, and the
 * attributes it holds (`com.apple.*`) are not ones SquashFS can store; elsewhere there is no such
 * call. Where the library does not load, `systemXattrs()` is null and the walk falls back to
 * getfattr.
 */
import { createRequire } from "node:module";
import { getSystemErrorName } from "node:util";
import { decodeName } from "../byte-names.js";

/** The xattr calls of the system's C library. */
export interface XattrCalls {
  /** Where it was loaded from (the name the loader accepted). */
  readonly library: string;
  /**
   * The attributes of `path` itself (a symlink's own, not its target's): each name's string form
   * (byte-names.ts) with its bytes, or with null for a name `wanted` declines (its value is not
   * read). Empty when it has none or its filesystem has no xattrs (ENOTSUP). An attribute removed
   * between the list and the read is left out. Throws an `XattrCallError` otherwise.
   */
  read(path: string | Buffer, wanted: (name: string) => boolean): Array<[string, Uint8Array | null]>;
}

/** A failed xattr call, shaped like Node's fs errors (`code`, `errno`, `syscall`, `path`). */
export class XattrCallError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, errno: number, message: string) {
    super(`${errnoName(errno)}: ${message}, ${syscall}`);
    this.name = "XattrCallError";
    this.code = errnoName(errno);
    this.errno = errno;
    this.syscall = syscall;
  }
}

/**
 * Linux's limits (include/uapi/linux/limits.h): XATTR_LIST_MAX for all of a file's names,
 * XATTR_SIZE_MAX for one value. The kernel itself refuses to return more (E2BIG), so a larger size
 * is a hostile or broken filesystem, and the buffers never grow past these.
 */
export const XATTR_LIST_MAX = 65536;
export const XATTR_SIZE_MAX = 65536;
/** Tries at a list or value that keeps changing size between the size query and the read. */
const MAX_ATTEMPTS = 4;

/** musl's libc, named after the machine (its `ld-musl-ARCH.so.1`), for the architectures koffi builds. */
const MUSL_ARCH: Partial<Record<NodeJS.Architecture, string>> = {
  x64: "x86_64",
  arm64: "aarch64",
};

function libraryNames(): string[] {
  if (process.platform !== "linux") return [];
  const musl = MUSL_ARCH[process.arch];
  return musl === undefined ? ["libc.so.6"] : ["libc.so.6", `libc.musl-${musl}.so.1`];
}

let cached: XattrCalls | null | undefined;
let failure = "";

/** libc's xattr calls, or null when koffi or the library cannot be loaded (see xattrFailure). */
export function systemXattrs(): XattrCalls | null {
  if (cached !== undefined) return cached;
  cached = null;
  const names = libraryNames();
  if (names.length === 0) failure = `no xattr calls are bound on ${process.platform}`;
  for (const name of names) {
    try {
      cached = bind(name);
      break;
    } catch (err) {
      // Not this libc, or koffi has no binary for this platform: try the next.
      failure = err instanceof Error ? err.message : String(err);
    }
  }
  return cached;
}

/** Why systemXattrs() returned null (the last loader error), for a message. */
export function xattrFailure(): string {
  return failure;
}

type Koffi = typeof import("koffi");
interface KoffiFn {
  (...args: unknown[]): unknown;
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

function bind(name: string): XattrCalls {
  // Loaded on first use: koffi is a native addon, and a walk without xattrs never needs it.
  const ffi = createRequire(import.meta.url)("koffi") as Koffi;
  const lib = ffi.load(name);
  // ssize_t is intptr_t on every Linux ABI; koffi has no ssize_t.
  const llistxattr = lib.func("intptr_t llistxattr(const char *path, void *list, size_t size)") as KoffiFn;
  const lgetxattr = lib.func(
    "intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)",
  ) as KoffiFn;
  const strerror = lib.func("const char *strerror(int errnum)") as KoffiFn;
  const E = ffi.os.errno;
  const ERANGE = E["ERANGE"]!;
  const E2BIG = E["E2BIG"]!;
  const ENODATA = E["ENODATA"]!;
  const unsupported = new Set([E["ENOTSUP"], E["EOPNOTSUPP"]].filter((e) => e !== undefined));

  const fail = (syscall: string, errno: number): never => {
    throw new XattrCallError(syscall, errno, String(strerror(errno)));
  };

  /**
   * What `call` writes, sized first with a call of size 0 (which also keeps the kernel from
   * allocating a buffer for the files that have nothing, nearly all of them), then read into a
   * buffer of exactly that size. ERANGE: it grew in between; size it again, a bounded number of
   * times. Returns the byte count in `scratch()`, or -errno for the caller's own cases.
   */
  const sized = (
    syscall: string,
    max: number,
    call: (buf: Buffer | null, size: number) => number,
    scratch: (size: number) => Buffer,
  ): number => {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const need = call(null, 0);
      if (need < 0) return -ffi.errno();
      if (need === 0) return 0;
      if (need > max) fail(syscall, E2BIG);
      const got = call(scratch(need), need);
      if (got >= 0) return got;
      const errno = ffi.errno();
      if (errno !== ERANGE) return -errno;
    }
    return fail(syscall, ERANGE);
  };

  // Reused from file to file, grown up to the limits above; values are copied out.
  let listBuf: Buffer = Buffer.alloc(256);
  let valueBuf: Buffer = Buffer.alloc(256);
  const grown = (buf: Buffer, size: number): Buffer =>
    buf.length >= size ? buf : Buffer.alloc(Math.min(Math.max(size, 2 * buf.length), XATTR_SIZE_MAX));

  return {
    library: name,
    read(path, wanted) {
      // koffi passes a string as NUL-terminated UTF-8; a path that is not UTF-8 is given as its
      // bytes (byte-names.ts hostPath), which need the NUL added.
      const p = typeof path === "string" ? path : Buffer.concat([path, NUL]);
      const listed = sized(
        "llistxattr",
        XATTR_LIST_MAX,
        (buf, size) => llistxattr(p, buf, size) as number,
        (size) => (listBuf = grown(listBuf, size)),
      );
      if (listed < 0) {
        if (unsupported.has(-listed)) return [];
        fail("llistxattr", -listed);
      }
      const list = listBuf;
      const out: Array<[string, Uint8Array | null]> = [];
      let start = 0;
      while (start < listed) {
        let end = list.indexOf(0, start);
        if (end < 0 || end >= listed) end = listed; // no NUL after the last name: not Linux's
        if (end > start) {
          const nameBytes = list.subarray(start, end);
          const decoded = decodeName(nameBytes);
          if (!wanted(decoded)) out.push([decoded, null]);
          else {
            // The name with its NUL (or a copy given one), as lgetxattr's C string.
            const cName = end < listed ? list.subarray(start, end + 1) : Buffer.concat([nameBytes, NUL]);
            const n = sized(
              "lgetxattr",
              XATTR_SIZE_MAX,
              (buf, size) => lgetxattr(p, cName, buf, size) as number,
              (size) => (valueBuf = grown(valueBuf, size)),
            );
            if (n >= 0) out.push([decoded, Buffer.from(valueBuf.subarray(0, n))]);
            else if (-n !== ENODATA) fail("lgetxattr", -n);
          }
        }
        start = end + 1;
      }
      return out;
    },
  };
}

const NUL = Buffer.of(0);
