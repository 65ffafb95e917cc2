/**
 * Reading an image file: open it (`openImageFile`), and the use cases over it — `inspectImage`,
 * `verifyImage`, `listImage`, `readImageFile`.
 *
 * An image file is a .gvmi (SquashFS + trailer, read the way the Golem runtime reads it) or a
 * plain SquashFS image. A file counts as plain only when nothing but zero bytes follows
 * `bytes_used`, however many (mksquashfs pads to 4 KiB, a block device or a `truncate`d image
 * to anything); a .gvmi with a damaged trailer still has its JSON and its 8 length digits there,
 * never all zero, so it fails with the trailer error instead of passing as "plain". In a .gvmi
 * the SquashFS part may likewise be padded before the trailer: the reader stops at `bytes_used`.
 */
import { open, stat } from "node:fs/promises";
import { GvmconvError, type GvmconvErrorCode } from "../errors.js";
import {
  readGvmi,
  sha3File,
  isFatalIssue,
  GvmiTrailerError,
  type GvmiInfo,
  type GvmiIssue,
} from "../gvmi/index.js";
import {
  SquashfsReader,
  SquashfsBadSuperblockError,
  SquashfsImageCorruptError,
  SquashfsTruncatedError,
  identifyGzipImage,
  isDirectory,
  quotePath as quoteImagePath,
  verifySquashfs,
  type Inode,
  type DirectoryEntry,
  type GzipEncoderMatch,
  type SquashfsStat,
  type VerifySummary,
} from "../squashfs/index.js";

/** Bytes of padding checked per read (the padding itself may be any size). */
const PADDING_CHUNK = 1 << 20;

export interface ImageFile {
  path: string;
  kind: "gvmi" | "squashfs";
  /** The trailer and runtime checks; null for a plain SquashFS. */
  gvmi: GvmiInfo | null;
  /** Whole file size. */
  fileSize: number;
  reader: SquashfsReader;
}

/** A file whose SHA3-224 is not the one the user expects. */
export class ImageHashMismatchError extends GvmconvError {
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string) {
    super("E_GVMI_HASH_MISMATCH", `SHA3-224 is ${actual}, expected ${expected}`, {
      hint: "the file differs from the published image; download or build it again",
    });
    this.expected = expected;
    this.actual = actual;
  }
}

/** A file given as input that cannot be opened: missing, a directory, unreadable. */
export class InputFileError extends GvmconvError {
  readonly path: string;
  constructor(
    code: GvmconvErrorCode,
    path: string,
    message: string,
    options: { hint?: string; cause?: unknown },
  ) {
    super(code, message, options);
    this.path = path;
  }
}

/**
 * Something that reads like an image reference or transport (`alpine:3.20`, `user/img`,
 * `docker://…`) rather than a path: a `:` or `@` in the last path segment, or a transport prefix.
 */
/**
 * True when `arg`, given where an image file is expected, names no file and reads as an image
 * reference (`alpine:3.20`, `docker://…`, `oci:DIR`): `inspect` then describes the image instead.
 */
export async function isImageReference(arg: string): Promise<boolean> {
  const exists = await stat(arg).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== "ENOENT" && err.code !== "ENOTDIR",
  );
  return !exists && looksLikeReference(arg);
}

function looksLikeReference(path: string): boolean {
  if (/^(docker|oci|oci-archive|docker-archive|docker-daemon):/.test(path)) return true;
  const last = path.slice(path.lastIndexOf("/") + 1);
  return (
    !path.startsWith(".") &&
    !path.startsWith("/") &&
    /^[a-z0-9][\w.-]*(:[\w][\w.-]*|@sha256:[0-9a-f]+)$/.test(last)
  );
}

/**
 * The failure to open the input file `path` as one coded error. Node's `ENOENT`, `EISDIR`, `EACCES`
 * and friends name the syscall, not the fix; a reference given where a file is expected is the
 * common mistake behind a missing file.
 */
export function inputFileError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT" || code === "ENOTDIR") {
    if (looksLikeReference(path)) {
      return new InputFileError("E_INPUT_NOT_FOUND", path, `\`${path}\` is not a file`, {
        hint: `to look inside a remote image, convert it first: gvmconv ${path} -o image.gvmi`,
        cause: err,
      });
    }
    return new InputFileError("E_INPUT_NOT_FOUND", path, `${path}: no such file`, {
      hint: "check the path; the file is a .gvmi or SquashFS image",
      cause: err,
    });
  }
  if (code === "EISDIR") {
    return new InputFileError("E_INPUT_NOT_A_FILE", path, `${path} is a directory`, {
      hint: "give an image file (.gvmi or SquashFS); to image a directory use gvmconv squashfs DIR -o OUT",
      cause: err,
    });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new InputFileError("E_INPUT_READ", path, `${path}: permission denied`, {
      hint: "check the file's permissions",
      cause: err,
    });
  }
  if (typeof code === "string" && /^E[A-Z]+$/.test(code) && !(err instanceof GvmconvError)) {
    const why = err instanceof Error ? err.message : String(err);
    return new InputFileError("E_INPUT_READ", path, `${path} cannot be read (${why})`, { cause: err });
  }
  return err;
}

/**
 * Checks that `path` is a regular file gvmconv may read, before any work on it: the one place
 * that turns a missing, unreadable or non-regular input into an `E_INPUT_…` error.
 */
export async function checkInputFile(path: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw inputFileError(err, path);
  }
  if (st.isDirectory()) throw inputFileError(Object.assign(new Error("EISDIR"), { code: "EISDIR" }), path);
  if (!st.isFile()) {
    throw new InputFileError("E_INPUT_NOT_A_FILE", path, `${path} is not a regular file`, {
      hint: "image files are read at random offsets; copy a pipe or device to a file first",
    });
  }
  try {
    await (await open(path, "r")).close();
  } catch (err) {
    throw inputFileError(err, path);
  }
}

/** Opens `path` as a .gvmi, or as a plain SquashFS image. Close `reader` when done. */
export async function openImageFile(path: string): Promise<ImageFile> {
  await checkInputFile(path);
  let gvmi: GvmiInfo;
  try {
    gvmi = await readGvmi(path);
  } catch (err) {
    if (!(err instanceof GvmiTrailerError)) throw err;
    const plain = await openPlain(path);
    if (plain === null) throw err;
    return plain;
  }
  const reader = await SquashfsReader.open({ path, offset: 0, length: gvmi.squashfsSize });
  return { path, kind: "gvmi", gvmi, fileSize: gvmi.size, reader };
}

/** The image as a plain SquashFS, or null when it is not one (so the trailer error stands). */
async function openPlain(path: string): Promise<ImageFile | null> {
  let reader: SquashfsReader;
  try {
    reader = await SquashfsReader.open(path);
  } catch (err) {
    if (err instanceof SquashfsBadSuperblockError || err instanceof SquashfsTruncatedError) return null;
    throw err;
  }
  try {
    const used = reader.superblock.bytesUsed;
    const rest = reader.rangeSize - used;
    if (!(await allZero(path, used, rest))) {
      await reader.close();
      return null;
    }
    return { path, kind: "squashfs", gvmi: null, fileSize: reader.rangeSize, reader };
  } catch (err) {
    await reader.close();
    throw err;
  }
}

async function allZero(path: string, position: number, length: number): Promise<boolean> {
  if (length === 0) return true;
  const handle = await open(path, "r");
  try {
    const buf = Buffer.alloc(Math.min(length, PADDING_CHUNK));
    // Compared natively (memcmp) against zeros: a byte loop in JS costs seconds per GiB.
    const zeros = Buffer.alloc(buf.length);
    for (let done = 0; done < length;) {
      const want = Math.min(buf.length, length - done);
      const { bytesRead } = await handle.read(buf, 0, want, position + done);
      if (bytesRead === 0) return false;
      if (!buf.subarray(0, bytesRead).equals(zeros.subarray(0, bytesRead))) return false;
      done += bytesRead;
    }
    return true;
  } finally {
    await handle.close();
  }
}

/** What `inspect` shows: the trailer's config, the hash, and the SquashFS facts. */
export interface ImageInspection {
  file: string;
  format: ImageFile["kind"];
  /** SHA3-224 of the whole file, lowercase hex (the key every JSON document uses for it). */
  sha3: string;
  fileSize: number;
  squashfs: {
    compression: string;
    blockSize: number;
    bytesUsed: number;
    /** The SquashFS part of the file, padding included. */
    partSize: number;
    inodes: number;
    fragments: number;
    ids: number;
    mkfsTime: number;
    exportable: boolean;
    xattrs: boolean;
    /**
     * gzip: which of this machine's encoders wrote the blocks, at which level (found by
     * re-encoding the first metadata block; the format records neither, nor a level past 9).
     * null: not gzip, or no encoder here reproduces it (e.g. mksquashfs's system zlib).
     */
    encoder: GzipEncoderMatch | null;
  };
  /** The ContainerConfig in the trailer; null for a plain SquashFS. */
  config: Record<string, unknown> | null;
  /** What the Golem runtime would object to (see gvmi/read.ts). */
  issues: GvmiIssue[];
}

/** The metadata, hash and SquashFS facts of an image file, without unpacking it. */
export async function inspectImage(path: string): Promise<ImageInspection> {
  const image = await openImageFile(path);
  const { reader, gvmi } = image;
  const sb = reader.superblock;
  await reader.close();
  const { sha3 } = await sha3File(path);
  const encoder = await identifyGzipImage(path, sb);
  return {
    file: path,
    format: image.kind,
    sha3,
    fileSize: image.fileSize,
    squashfs: {
      compression: reader.compression,
      blockSize: sb.blockSize,
      bytesUsed: sb.bytesUsed,
      partSize: gvmi?.squashfsSize ?? image.fileSize,
      inodes: sb.inodeCount,
      fragments: sb.fragmentCount,
      ids: sb.idCount,
      mkfsTime: sb.modificationTime,
      exportable: sb.exportTableStart !== null,
      xattrs: sb.xattrIdTableStart !== null,
      encoder,
    },
    config: gvmi?.config ?? null,
    issues: gvmi?.issues ?? [],
  };
}

export interface VerifyOptions {
  /** The SHA3-224 the file must have (56 hex digits, e.g. from `vm.repo(image_hash=…)`). */
  sha3?: string;
  /** Stops the read between inodes (Ctrl-C on a huge image). */
  signal?: AbortSignal;
}

export interface VerifyResult extends VerifySummary {
  kind: ImageFile["kind"];
  sha3: string;
  /** True when `options.sha3` was given (and matched: a mismatch throws). */
  hashChecked: boolean;
}

/**
 * Reads the whole image the way a provider and the VM kernel would: the trailer and its CRC, every
 * inode and every data and fragment block, then the hash. Fatal: a trailer issue the runtime
 * would refuse (an `E_` issue; `W_` issues are left to `inspect`), any unreadable part of the
 * SquashFS, and a hash other than `options.sha3`.
 */
export async function verifyImage(path: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const image = await openImageFile(path);
  let summary: VerifySummary;
  try {
    const fatal = image.gvmi?.issues.find(isFatalIssue);
    if (fatal !== undefined) throw new GvmconvError(fatal.code, fatal.message);
    summary = await verifySquashfs(image.reader, { signal: options.signal });
  } finally {
    await image.reader.close();
  }
  const { sha3 } = await sha3File(path);
  if (options.sha3 !== undefined && options.sha3 !== sha3)
    throw new ImageHashMismatchError(options.sha3, sha3);
  return { ...summary, kind: image.kind, sha3, hashChecked: options.sha3 !== undefined };
}

export interface ListOptions {
  /** List subdirectories too, depth first in listing order, as `ls -R`. */
  recursive?: boolean;
  /** Read each entry's attributes (`ls -l`). */
  stat?: boolean;
  /** Stops the listing between directories. */
  signal?: AbortSignal;
}

export interface ListedEntry {
  name: string;
  /** Image path without leading slash ("" is the root). */
  path: string;
  kind: DirectoryEntry["kind"];
  /** With `options.stat`. */
  stat?: SquashfsStat;
}

/** One directory's listing; `listImage` yields one per directory visited. */
export interface ListedDirectory {
  /** Image path of the directory ("" is the root). */
  path: string;
  /** False for the one listing of a path that is not a directory (see `listImage`). */
  directory: boolean;
  entries: ListedEntry[];
}

/**
 * Lists `imagePath` (default the root) inside an image file, never following symlinks. A path
 * that is not a directory yields one listing holding just that entry, with `path` its parent.
 */
export async function* listImage(
  file: string,
  imagePath = "/",
  options: ListOptions = {},
): AsyncGenerator<ListedDirectory> {
  const { reader } = await openImageFile(file);
  try {
    const start = normalizeImagePath(imagePath);
    const inode = await reader.lookup(start);
    if (!isDirectory(inode)) {
      const slash = start.lastIndexOf("/");
      const name = start.slice(slash + 1) || "/";
      const st = await reader.stat(inode);
      yield {
        path: start.slice(0, Math.max(slash, 0)),
        directory: false,
        entries: [{ name, path: start, kind: st.kind, ...(options.stat ? { stat: st } : {}) }],
      };
      return;
    }
    // Directories by inode, not by path: a listing whose entry points back at an ancestor (or
    // anywhere) would otherwise be followed forever. Each directory inode is listed once; one
    // reached again is a loop, an error as in reader.walk().
    const seen = new Set<number>([inode.inodeNumber]);
    // Pending directories, the next one last (a stack: depth first, in listing order, as ls -R).
    // Each knows its parent and its name, and its path is joined only when it is listed: paths
    // kept per pending directory would cost the square of the depth in a tree thousands deep.
    const pending: PendingDir[] = [{ parent: undefined, name: start, inode, depth: 0 }];
    while (pending.length > 0) {
      options.signal?.throwIfAborted();
      const dir = pending.pop()!;
      const dirPath = pendingPath(dir);
      const entries: ListedEntry[] = [];
      const subdirs: PendingDir[] = [];
      for (const e of await reader.readdir(dir.inode)) {
        const path = dirPath === "" ? e.name : `${dirPath}/${e.name}`;
        const entry: ListedEntry = { name: e.name, path, kind: e.kind };
        const what =
          dir.depth < 64 ? quoteImagePath(path) : `entry ${quoteImagePath(e.name)} ${dir.depth} levels deep`;
        const child =
          options.stat || (options.recursive && e.kind === "dir") ? await reader.entryInode(e, what) : null;
        if (options.stat) entry.stat = await reader.stat(child!);
        entries.push(entry);
        if (options.recursive && child !== null && isDirectory(child)) {
          if (seen.has(child.inodeNumber))
            throw new SquashfsImageCorruptError(
              what,
              `directory inode ${child.inodeNumber} is reached twice (a loop)`,
            );
          seen.add(child.inodeNumber);
          subdirs.push({ parent: dir, name: e.name, inode: child, depth: dir.depth + 1 });
        }
      }
      yield { path: dirPath, directory: true, entries };
      for (let i = subdirs.length - 1; i >= 0; i--) pending.push(subdirs[i]!);
    }
  } finally {
    await reader.close();
  }
}

/** A directory `listImage` has still to list. */
interface PendingDir {
  /** Undefined for the directory the listing starts at, whose `name` is its whole path. */
  parent: PendingDir | undefined;
  name: string;
  inode: Inode;
  depth: number;
}

function pendingPath(dir: PendingDir): string {
  const parts: string[] = [];
  for (let d: PendingDir | undefined = dir; d !== undefined; d = d.parent) parts.push(d.name);
  return parts
    .reverse()
    .filter((p) => p !== "")
    .join("/");
}

/** The bytes of the regular file at `imagePath` inside an image file (symlinks are not followed). */
export async function* readImageFile(file: string, imagePath: string): AsyncGenerator<Uint8Array> {
  const { reader } = await openImageFile(file);
  try {
    yield* reader.readFile(imagePath);
  } finally {
    await reader.close();
  }
}

/** Image paths without leading/trailing slashes ("" is the root). */
function normalizeImagePath(path: string): string {
  return path
    .split("/")
    .filter((p) => p !== "" && p !== ".")
    .join("/");
}
