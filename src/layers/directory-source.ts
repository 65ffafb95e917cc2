/**
 * Walks a directory on disk into writer `Entry`s: ownership, modes, mtimes and xattrs as they are
 * on disk (lstat; symlinks are never followed), and hard links (same dev+ino) as `hardlink` entries
 * pointing at the first path seen. Names are visited in sorted order, so the same tree always
 * yields the same sequence.
 *
 * Speed: a root filesystem is thousands of small files, and reading them one at a time pays the
 * I/O latency of every open/read/close in series while the compression workers wait. So the walk
 * runs ahead of the consumer (bounded: READ_AHEAD_ENTRIES entries and READ_AHEAD_BYTES of file
 * data), the names of a directory are lstat'ed concurrently, and small files are read whole in the
 * background; large files still stream, opened only when the writer reads them.
 */
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { createReadStream, type BigIntStats } from "node:fs";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import type { Entry, EntryAttrs } from "../squashfs/index.js";
import { GvmconvError } from "../errors.js";
import { silentReporter, type Reporter } from "../reporter.js";

export interface ReadDirectoryOptions {
  reporter?: Reporter;
  /** Read xattrs (with `getfattr`, from Debian's `attr`). Default true. */
  xattrs?: boolean;
}

export const DIRECTORY_WARNINGS = {
  noXattrTool: "W_XATTR_TOOL_MISSING",
  xattrNamespace: "W_XATTR_NAMESPACE",
  mtimeRange: "W_MTIME_RANGE",
} as const;

export class SourceReadError extends GvmconvError {
  readonly path: string;
  constructor(path: string, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super("E_SOURCE_READ", message, {
      hint: options.hint ?? "check that the input is readable",
      cause: options.cause,
    });
    this.path = path;
  }
}

/** SquashFS can store only these xattr namespaces (FIELD-NOTES: key prefixes 0, 1, 2). */
const STORABLE_XATTR_PREFIXES = ["user.", "trusted.", "security."];
const MAX_MTIME = 2 ** 32 - 1;

/** Yields the tree under `root` (root itself first, as path ""). */
export async function* readDirectory(root: string, opts: ReadDirectoryOptions = {}): AsyncGenerator<Entry> {
  const reporter = opts.reporter ?? silentReporter;
  const absRoot = resolve(root);
  const rootStat = await lstatOrThrow(absRoot);
  if (!rootStat.isDirectory()) {
    throw new SourceReadError(root, `${root} is not a directory`);
  }
  const xattrs =
    opts.xattrs === false
      ? new Map<string, Map<string, Uint8Array>>()
      : await readAllXattrs(absRoot, reporter);
  const walker = new Walker(absRoot, xattrs, reporter);
  yield { type: "directory", path: "", attrs: walker.attrs("", rootStat) };
  yield* readAhead(walker.walk(""));
}

/** Files up to this size are read whole ahead of the consumer; larger ones stream. */
const SMALL_FILE = 1024 * 1024;
const READ_AHEAD_ENTRIES = 512;
const READ_AHEAD_BYTES = 4 * 1024 * 1024;
/** Names of one directory lstat'ed at once. */
const STAT_BATCH = 64;

/** An entry whose small-file content may still be arriving. */
interface Pending {
  entry: Entry;
  /** Content being read in the background (small files). */
  data?: Promise<Buffer>;
  /** Bytes this entry holds while queued. */
  bytes: number;
}

/**
 * Runs `source` ahead of the consumer in the background, within the read-ahead bounds, and yields
 * its entries in order once their content is in hand.
 */
async function* readAhead(source: AsyncGenerator<Pending>): AsyncGenerator<Entry> {
  const queue: Pending[] = [];
  let queuedBytes = 0;
  let finished = false;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  const full = () => queue.length >= READ_AHEAD_ENTRIES || queuedBytes >= READ_AHEAD_BYTES;

  const producer = (async () => {
    try {
      for await (const item of source) {
        if (stopped) break;
        queue.push(item);
        queuedBytes += item.bytes;
        wakeConsumer?.();
        while (full() && !stopped) await new Promise<void>((r) => (wakeProducer = r));
      }
    } catch (error) {
      failure = { error };
    } finally {
      finished = true;
      wakeConsumer?.();
    }
  })();

  try {
    while (true) {
      const item = queue.shift();
      if (item === undefined) {
        if (failure) throw failure.error;
        if (finished) break;
        await new Promise<void>((r) => (wakeConsumer = r));
        wakeConsumer = undefined;
        continue;
      }
      queuedBytes -= item.bytes;
      wakeProducer?.();
      wakeProducer = undefined;
      if (item.data !== undefined && item.entry.type === "file") {
        yield { ...item.entry, content: await item.data };
      } else {
        yield item.entry;
      }
    }
  } finally {
    // The consumer stopped early (or failed): let the producer finish quietly.
    stopped = true;
    wakeProducer?.();
    await producer;
    for (const item of queue) item.data?.catch(() => {});
  }
}

class Walker {
  /** "dev:ino" → first image path, for files with more than one link. */
  readonly #links = new Map<string, string>();
  #warnedNamespaces = new Set<string>();

  constructor(
    readonly root: string,
    readonly xattrs: Map<string, Map<string, Uint8Array>>,
    readonly reporter: Reporter,
  ) {}

  async *walk(dir: string): AsyncGenerator<Pending> {
    const absDir = dir === "" ? this.root : join(this.root, dir);
    let names: string[];
    try {
      names = await readdir(absDir);
    } catch (err) {
      throw new SourceReadError(absDir, `cannot list ${absDir}: ${(err as Error).message}`, { cause: err });
    }
    names.sort();
    for (let start = 0; start < names.length; start += STAT_BATCH) {
      const batch = names.slice(start, start + STAT_BATCH);
      const stats = await Promise.all(batch.map((name) => lstatOrThrow(join(absDir, name))));
      for (let i = 0; i < batch.length; i++) {
        const path = dir === "" ? batch[i]! : `${dir}/${batch[i]!}`;
        const st = stats[i]!;
        if (st.isDirectory()) {
          yield { entry: { type: "directory", path, attrs: this.attrs(path, st) }, bytes: 0 };
          yield* this.walk(path);
        } else {
          yield await this.#leaf(path, st);
        }
      }
    }
  }

  async #leaf(path: string, st: BigIntStats): Promise<Pending> {
    const abs = join(this.root, path);
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.#links.get(key);
      if (first !== undefined) return { entry: { type: "hardlink", path, target: first }, bytes: 0 };
      this.#links.set(key, path);
    }
    const attrs = this.attrs(path, st);
    if (st.isFile()) {
      const size = Number(st.size);
      if (size <= SMALL_FILE) {
        const data = readSmallFile(abs, size);
        // Marked handled now; the consumer awaits it (and sees any error) in order.
        data.catch(() => {});
        return { entry: { type: "file", path, attrs, size, content: new Uint8Array() }, data, bytes: size };
      }
      return { entry: { type: "file", path, attrs, size, content: fileContent(abs, size) }, bytes: 0 };
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await readlink(abs);
      } catch (err) {
        throw new SourceReadError(abs, `cannot read link ${abs}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      return { entry: { type: "symlink", path, attrs, target }, bytes: 0 };
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = splitRdev(st.rdev);
      const type = st.isCharacterDevice() ? "char-device" : "block-device";
      return { entry: { type, path, attrs, major, minor }, bytes: 0 };
    }
    if (st.isFIFO()) return { entry: { type: "fifo", path, attrs }, bytes: 0 };
    return { entry: { type: "socket", path, attrs }, bytes: 0 };
  }

  attrs(path: string, st: BigIntStats): EntryAttrs {
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
    const found = this.xattrs.get(path === "" ? this.root : join(this.root, path));
    if (found) {
      const kept = new Map<string, Uint8Array>();
      for (const [name, value] of found) {
        if (STORABLE_XATTR_PREFIXES.some((p) => name.startsWith(p))) kept.set(name, value);
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

async function lstatOrThrow(path: string): Promise<BigIntStats> {
  try {
    return await lstat(path, { bigint: true });
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

/** A small file's bytes, read whole; a size change since lstat is an error, as for streams. */
async function readSmallFile(path: string, size: number): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new SourceReadError(path, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (data.length !== size) {
    throw new SourceReadError(path, `${path} changed size while being read (${size} → ${data.length} bytes)`, {
      hint: "do not modify the input directory while converting it",
    });
  }
  return data;
}

/**
 * The file's bytes, opened only when iterated. Yields exactly `size` bytes: a file that changed
 * size since it was stat'ed is an error rather than a silently inconsistent image.
 */
function fileContent(path: string, size: number): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      let seen = 0;
      const stream = createReadStream(path, { highWaterMark: 256 * 1024 });
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          seen += chunk.length;
          if (seen > size) break;
          yield chunk;
        }
      } catch (err) {
        throw new SourceReadError(path, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
      } finally {
        stream.destroy();
      }
      if (seen !== size) {
        throw new SourceReadError(path, `${path} changed size while being read (${size} → ${seen} bytes)`, {
          hint: "do not modify the input directory while converting it",
        });
      }
    },
  };
}

let getfattrMissing = false;

/**
 * All xattrs under `root`, by absolute path, from one recursive `getfattr` run (Node has no
 * xattr API). One process for the whole tree keeps it fast; only files that have xattrs appear
 * in its output. Without getfattr: a single warning and no xattrs.
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
  const code = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("close", (c) => resolve(c));
  });
  // getfattr exits 1 when some file could not be read; what it did read is still valid, and
  // the walk itself reports unreadable files precisely.
  if (code !== 0 && code !== 1) {
    throw new SourceReadError(root, `getfattr failed (${code}): ${stderr.trim()}`);
  }
  return result;
}

function warnNoTool(reporter: Reporter): void {
  reporter.warn({
    code: DIRECTORY_WARNINGS.noXattrTool,
    message: "getfattr not found: extended attributes (file capabilities) are not copied",
  });
}

/** getfattr escapes `\`, control characters and non-ASCII bytes as `\ooo`; names are bytes (latin1 here). */
function unescapeGetfattr(text: string): string {
  const bytes = Buffer.from(
    text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))),
    "latin1",
  );
  return bytes.toString("utf8");
}
