/**
 * Walks a directory on disk into writer `Entry`s: ownership, modes, mtimes and xattrs as they are
 * on disk (lstat; symlinks are never followed), and hard links (same dev+ino) as `hardlink` entries
 * pointing at the first path seen. Names are visited in sorted order, so the same tree always
 * yields the same sequence.
 *
 * Small files are read whole when their entry is produced; larger ones are opened only when the
 * writer reads them, and read in pieces. Either way the bytes are in a buffer the walk reuses:
 * valid until the next chunk or entry is asked for (FileContent's contract).
 */
import {
  closeSync,
  constants,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type BigIntStats,
} from "node:fs";
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import type { Entry, EntryAttrs } from "../squashfs/index.js";
import { GvmconvError } from "../errors.js";
import { silentReporter, type Reporter } from "../reporter.js";
import { decodeName, hostPath, isPlainAscii } from "../byte-names.js";
import { systemXattrs } from "./xattr-ffi.js";

export interface ReadDirectoryOptions {
  reporter?: Reporter;
  /** Read xattrs. Default true. */
  xattrs?: boolean;
  /**
   * How: `libc` (the default) asks libc's llistxattr/lgetxattr per entry during the walk, and
   * falls back to `getfattr` where they cannot be loaded; `getfattr` runs one `getfattr -R` (from
   * Debian's `attr`) over the tree before the walk, as before libc was asked (kept for tests).
   */
  xattrReader?: "libc" | "getfattr";
}

export const DIRECTORY_WARNINGS = {
  noXattrTool: "W_LAYER_XATTR_TOOL_MISSING",
  xattrNamespace: "W_LAYER_XATTR_NAMESPACE",
  mtimeRange: "W_LAYER_MTIME_RANGE",
} as const;

export class SourceReadError extends GvmconvError {
  readonly path: string;
  constructor(path: string, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super("E_INPUT_READ", message, {
      hint: options.hint ?? "check that the input is readable",
      cause: options.cause,
    });
    this.path = path;
  }
}

/** SquashFS can store only these xattr namespaces (format.adoc, xattr key prefixes 0, 1, 2). */
const STORABLE_XATTR_PREFIXES = ["user.", "trusted.", "security."];
const storable = (name: string): boolean => STORABLE_XATTR_PREFIXES.some((p) => name.startsWith(p));

/**
 * An entry's xattrs: each name with its value, or with null for a name whose value was not read
 * (one SquashFS cannot store); undefined or empty when it has none. Given the entry's host path
 * as fs calls take it (`sys`) and as a string form (`abs`).
 */
type XattrLookup = (sys: string | Buffer, abs: string) => Iterable<[string, Uint8Array | null]> | undefined;

const MAX_MTIME = 2 ** 32 - 1;

/**
 * Yields the tree under `root` (root itself first, as path ""). A small file's `content` is a
 * view of a buffer reused for the next one: it is valid until the next entry is pulled (the
 * writer copies it into its blocks before it asks for more).
 */
export async function* readDirectory(root: string, opts: ReadDirectoryOptions = {}): AsyncGenerator<Entry> {
  const reporter = opts.reporter ?? silentReporter;
  const absRoot = resolve(root);
  const rootStat = lstatOrThrow(absRoot, absRoot);
  if (!rootStat.isDirectory()) {
    throw new SourceReadError(root, `${root} is not a directory`);
  }
  const xattrs = opts.xattrs === false ? noXattrs : await xattrLookup(absRoot, reporter, opts.xattrReader);
  const walker = new Walker(absRoot, xattrs, reporter);
  yield { type: "directory", path: "", attrs: walker.attrs("", rootStat) };
  yield* walker.walk();
}

/**
 * Files up to this size are read whole, at once; larger ones in pieces of this size. One small
 * buffer rather than one the size of the file: a read into a 1 MiB buffer, larger than the CPU's
 * L2 cache, ran at 1.6 GB/s from the page cache on this project's machines, into a reused
 * 128 KiB one at 6–7 GB/s, and the writer then copies and hashes bytes still in cache.
 */
const SMALL_FILE = 128 * 1024;

/**
 * The walk itself uses synchronous file system calls. A root filesystem is thousands of small,
 * usually cached files, and each promise-based open/stat/read/close is a round trip through
 * libuv's thread pool that costs more CPU than the read itself — CPU the compression workers
 * need (measured on a Debian rootfs: the async walk with read-ahead spent ~1 s of main-thread
 * time and allocated every small file anew; mksquashfs likewise reads in one thread, in order).
 */
/** A directory held open so that paths below it can be given relative to it (see `#anchorFor`). */
interface Anchor {
  fd: number;
  /** Its image path. */
  dir: string;
}

interface Frame {
  dir: string;
  names: string[];
  next: number;
  /** The anchor in effect for this directory's entries; `ownsAnchor` when it was opened for it. */
  anchor: Anchor | undefined;
  ownsAnchor: boolean;
}

let procFdsAvailable: boolean | undefined;
/** Whether /proc/self/fd reaches open directories (Linux with /proc mounted). */
function procFds(): boolean {
  procFdsAvailable ??= existsSync("/proc/self/fd");
  return procFdsAvailable;
}

class Walker {
  /** The open directory paths are relative to once they grow long; undefined: the root's path. */
  #anchor: Anchor | undefined;
  /** "dev:ino" → first image path, for files with more than one link. */
  readonly #links = new Map<string, string>();
  #warnedNamespaces = new Set<string>();
  /** Small files are read into this buffer, grown as needed and reused from file to file. */
  #scratch = Buffer.allocUnsafeSlow(64 * 1024);
  /** Larger files' pieces are read into this one. */
  readonly #chunk = Buffer.allocUnsafeSlow(SMALL_FILE);

  constructor(
    readonly root: string,
    readonly xattrs: XattrLookup,
    readonly reporter: Reporter,
  ) {}

  /**
   * Depth-first, names sorted, a directory before its contents. One generator with an explicit
   * stack: a recursive `yield*` passed every entry up through one generator per level.
   */
  *walk(): Generator<Entry> {
    const stack: Frame[] = [
      { dir: "", names: this.#list(""), next: 0, anchor: undefined, ownsAnchor: false },
    ];
    try {
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        if (top.next === top.names.length) {
          stack.pop();
          if (top.ownsAnchor) closeSync(top.anchor!.fd);
          this.#anchor = stack[stack.length - 1]?.anchor;
          continue;
        }
        const name = top.names[top.next++]!;
        const path = top.dir === "" ? name : `${top.dir}/${name}`;
        const sys = this.#sys(path);
        const st = lstatOrThrow(sys, this.#abs(path));
        if (st.isDirectory()) {
          yield { type: "directory", path, attrs: this.attrs(path, st, sys) };
          const anchor = this.#anchorFor(path);
          const frame: Frame = { dir: path, names: [], next: 0, anchor, ownsAnchor: anchor !== this.#anchor };
          stack.push(frame);
          this.#anchor = anchor;
          frame.names = this.#list(path);
        } else {
          yield this.#leaf(path, st);
        }
      }
    } finally {
      for (const frame of stack) if (frame.ownsAnchor) closeSync(frame.anchor!.fd);
    }
  }

  /**
   * The anchor under which directory `path`'s entries are reached: the current one, or, when the
   * path below it grows long, a new one at `path` itself. Linux refuses a path of PATH_MAX (4096)
   * bytes or more, but a tree may be deeper than that (tar and mksquashfs walk it relative to
   * open directories): `/proc/self/fd/N/rest` reaches `rest` relative to the directory open as
   * fd N, whose path the kernel never spells out.
   */
  #anchorFor(path: string): Anchor | undefined {
    const rel = this.#anchor === undefined ? path : path.slice(this.#anchor.dir.length + 1);
    // 1024 UTF-16 units are at most 3072 bytes: room for one more name of 255 and the prefix.
    if (rel.length <= 1024 || !procFds()) return this.#anchor;
    let fd: number;
    try {
      fd = openSync(this.#sys(path), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (err) {
      const abs = this.#abs(path);
      throw new SourceReadError(abs, `cannot open ${abs}: ${(err as Error).message}`, { cause: err });
    }
    return { fd, dir: path };
  }

  /** The names in directory `dir` (an image path), sorted by their bytes, as string forms
   * (byte-names.ts): read as bytes, so a name that is not UTF-8 is kept as it is on disk.
   */
  #list(dir: string): string[] {
    const absDir = this.#abs(dir);
    try {
      // Most directories hold only ASCII names: read as strings (half the cost of a Buffer per
      // name), whose code-unit order is then their byte order. Any other name, or one that did
      // not decode (U+FFFD), and the directory is read again as bytes.
      const text = readdirSync(this.#sys(dir), { encoding: "utf8" });
      if (text.every(isPlainAscii)) return text.sort();
      return readdirSync(this.#sys(dir), { encoding: "buffer" }).sort(Buffer.compare).map(decodeName);
    } catch (err) {
      throw new SourceReadError(absDir, `cannot list ${absDir}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * The host path of image path `path`, as a string form (byte-names.ts), for messages and the
   * xattr map. Names from readdir hold no '/' and are never '.' or '..', so plain concatenation
   * is exact; path.join normalized every path again (13 MB of garbage strings for a Debian rootfs).
   */
  #abs(path: string): string {
    if (path === "") return this.root;
    return this.root === "/" ? `/${path}` : `${this.root}/${path}`;
  }

  /** What fs calls take for image path `path` under the current anchor: a string, or bytes. */
  #sys(path: string): string | Buffer {
    const anchor = this.#anchor;
    if (anchor === undefined || (path !== anchor.dir && !path.startsWith(anchor.dir + "/")))
      return hostPath(this.#abs(path));
    const rel = path === anchor.dir ? "" : path.slice(anchor.dir.length + 1);
    return hostPath(`/proc/self/fd/${anchor.fd}/${rel}`);
  }

  #leaf(path: string, st: BigIntStats): Entry {
    const abs = this.#abs(path);
    const sys = this.#sys(path);
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.#links.get(key);
      if (first !== undefined) return { type: "hardlink", path, target: first };
      this.#links.set(key, path);
    }
    const attrs = this.attrs(path, st, sys);
    if (st.isFile()) {
      const size = Number(st.size);
      if (size <= SMALL_FILE)
        return { type: "file", path, attrs, size, content: this.#readSmallFile(sys, abs, size) };
      return { type: "file", path, attrs, size, content: fileContent(sys, abs, size, this.#chunk) };
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = decodeName(readlinkSync(sys, { encoding: "buffer" }));
      } catch (err) {
        throw new SourceReadError(abs, `cannot read link ${abs}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      return { type: "symlink", path, attrs, target };
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = splitRdev(st.rdev);
      const type = st.isCharacterDevice() ? "char-device" : "block-device";
      return { type, path, attrs, major, minor };
    }
    if (st.isFIFO()) return { type: "fifo", path, attrs };
    return { type: "socket", path, attrs };
  }

  /** A small file's bytes, read whole; a size change since lstat is an error, as for streams. */
  #readSmallFile(sys: string | Buffer, path: string, size: number): Uint8Array {
    if (this.#scratch.length < size + 1)
      this.#scratch = Buffer.allocUnsafeSlow(Math.max(size + 1, 2 * this.#scratch.length));
    const buf = this.#scratch;
    let n = 0;
    try {
      const fd = openSync(sys, "r");
      try {
        // Each read asks for one byte more than is left, so a file that grew is noticed. A read
        // of a regular file that returns less than asked has reached the end (POSIX; Linux's
        // page cache reads fill the request), so reaching the expected size ends the loop with
        // no extra read to find the end: one system call a file fewer, ~1.5 µs each on these
        // machines. A read that stops short of it is followed by another, until one returns 0.
        // At least one read, so that a file lstat called empty but holding bytes is noticed too.
        let r: number;
        do {
          r = readSync(fd, buf, n, size + 1 - n, null);
          n += r;
        } while (r !== 0 && n < size);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      throw readFailed(path, err);
    }
    if (n !== size) throw sizeChanged(path, size, `${n}${n > size ? "+" : ""}`);
    return buf.subarray(0, size);
  }

  /** The entry's attributes; `sys` is its path as fs calls take it (`#sys`). */
  attrs(path: string, st: BigIntStats, sys: string | Buffer = this.#sys(path)): EntryAttrs {
    let mtime = Number(st.mtimeMs / 1000n);
    if (mtime < 0 || mtime > MAX_MTIME) {
      this.reporter.warn({
        code: DIRECTORY_WARNINGS.mtimeRange,
        message: `mtime of '${path}' is outside what SquashFS stores; clamped`,
        path,
      });
      mtime = Math.min(Math.max(mtime, 0), MAX_MTIME);
    }
    const attrs: EntryAttrs = {
      mode: Number(st.mode) & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime,
    };
    const found = this.xattrs(sys, this.#abs(path));
    if (found) {
      const kept = new Map<string, Uint8Array>();
      for (const [name, value] of found) {
        if (value !== null && storable(name)) kept.set(name, value);
        else this.#warnNamespace(name, path);
      }
      if (kept.size > 0) attrs.xattrs = kept;
    }
    return attrs;
  }

  #warnNamespace(name: string, path: string): void {
    const ns = name.slice(0, name.indexOf(".") + 1) || name;
    if (this.#warnedNamespaces.has(ns)) return;
    this.#warnedNamespaces.add(ns);
    this.reporter.warn({
      code: DIRECTORY_WARNINGS.xattrNamespace,
      message: `xattrs in namespace '${ns}' cannot be stored in SquashFS and are dropped (first: ${name} on '${path}')`,
      path,
    });
  }
}

function lstatOrThrow(sys: string | Buffer, path: string): BigIntStats {
  try {
    return lstatSync(sys, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SourceReadError(path, `cannot stat ${path}: ${(err as Error).message}`, {
      cause: err,
      hint: code === "ENOENT" ? "check the path" : "check that the input is readable",
    });
  }
}

/** Linux `dev_t` encoding (glibc `gnu_dev_major`/`gnu_dev_minor`). */
export function splitRdev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

/** A file that could not be opened or read. */
function readFailed(path: string, err: unknown): SourceReadError {
  return new SourceReadError(path, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
}

/** A file whose size is not the one lstat gave (`seen`: what was read, `+` when it grew past it). */
function sizeChanged(path: string, size: number, seen: string): SourceReadError {
  return new SourceReadError(path, `${path} changed size while being read (${size} → ${seen} bytes)`, {
    hint: "do not modify the input directory while converting it",
  });
}

/**
 * The file's bytes, opened only when iterated, read synchronously into `chunk` a piece at a time:
 * each piece is valid until the next is asked for. Yields exactly `size` bytes: a file that
 * changed size since it was stat'ed is an error rather than a silently inconsistent image.
 */
function fileContent(
  sys: string | Buffer,
  path: string,
  size: number,
  chunk: Buffer,
): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      let fd: number;
      try {
        fd = openSync(sys, "r");
      } catch (err) {
        throw readFailed(path, err);
      }
      try {
        let seen = 0;
        for (;;) {
          let n: number;
          try {
            n = readSync(fd, chunk, 0, chunk.length, null);
          } catch (err) {
            throw readFailed(path, err);
          }
          if (n === 0) break;
          seen += n;
          if (seen > size) throw sizeChanged(path, size, `${seen}+`);
          yield chunk.subarray(0, n);
        }
        if (seen !== size) throw sizeChanged(path, size, String(seen));
      } finally {
        closeSync(fd);
      }
    },
  };
}

const noXattrs: XattrLookup = () => undefined;

/**
 * How the walk reads xattrs: libc's calls per entry when they load (xattr-ffi.ts), else the
 * getfattr dump of the whole tree, else none (with a warning).
 */
async function xattrLookup(
  root: string,
  reporter: Reporter,
  reader: ReadDirectoryOptions["xattrReader"],
): Promise<XattrLookup> {
  const calls = reader === "getfattr" ? null : systemXattrs();
  if (calls === null) {
    const all = await readAllXattrs(root, reporter);
    return (_sys, abs) => all.get(abs);
  }
  return (sys, abs) => {
    try {
      return calls.read(sys, storable);
    } catch (err) {
      throw new SourceReadError(abs, `cannot read the xattrs of ${abs}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
}

let getfattrMissing = false;

/**
 * All xattrs under `root`, by absolute path, from one recursive `getfattr` run: the fallback where
 * libc's calls cannot be loaded (Node has no xattr API). One process for the whole tree; only
 * files that have xattrs appear in its output. Without getfattr: a single warning and no xattrs.
 */
async function readAllXattrs(
  root: string,
  reporter: Reporter,
): Promise<Map<string, Map<string, Uint8Array>>> {
  const result = new Map<string, Map<string, Uint8Array>>();
  if (getfattrMissing) {
    warnNoTool(reporter);
    return result;
  }
  // -R -P: recurse without following symlinks; -h: a symlink's own xattrs; -e hex: binary-safe.
  const child = spawn(
    "getfattr",
    ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", root],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const spawned = new Promise<boolean>((resolve) => {
    child.once("spawn", () => resolve(true));
    child.once("error", () => resolve(false));
  });
  if (!(await spawned)) {
    getfattrMissing = true;
    warnNoTool(reporter);
    return result;
  }
  let pending = "";
  let current: Map<string, Uint8Array> | undefined;
  const onLine = (line: string) => {
    if (line.startsWith("# file: ")) {
      current = new Map();
      result.set(unescapeGetfattr(line.slice("# file: ".length)), current);
      return;
    }
    const eq = line.indexOf("=");
    if (current === undefined || eq < 0) return;
    const name = unescapeGetfattr(line.slice(0, eq));
    const value = line.slice(eq + 1);
    current.set(name, value.startsWith("0x") ? Buffer.from(value.slice(2), "hex") : new Uint8Array());
  };
  child.stdout.setEncoding("latin1");
  for await (const chunk of child.stdout as AsyncIterable<string>) {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  }
  if (pending) onLine(pending);
  // Exited already (with a code, or killed: then exitCode stays null and only signalCode says so),
  // or the 'close' to come.
  const code = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("close", (c) => resolve(c));
  });
  // getfattr exits 1 when some file could not be read; what it did read is still valid, and
  // the walk itself reports unreadable files precisely.
  if (code !== 0 && code !== 1) {
    const how = code === null ? `killed by ${child.signalCode ?? "a signal"}` : `exit status ${code}`;
    throw new SourceReadError(root, `getfattr failed (${how}): ${stderr.trim()}`);
  }
  return result;
}

function warnNoTool(reporter: Reporter): void {
  reporter.warn({
    code: DIRECTORY_WARNINGS.noXattrTool,
    message: "getfattr not found: extended attributes (file capabilities) are not copied",
  });
}

/**
 * getfattr escapes `\`, control characters and non-ASCII bytes as `\ooo`; names are bytes (latin1
 * here), returned as string forms (byte-names.ts), the walk's keys.
 */
function unescapeGetfattr(text: string): string {
  const bytes = Buffer.from(
    text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))),
    "latin1",
  );
  return decodeName(bytes);
}
