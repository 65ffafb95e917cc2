/**
 * Writes an output file so that it appears complete or not at all: the work goes to a temporary
 * file beside the destination (same filesystem, so the final step is a rename or a link), which
 * is removed on any failure.
 */
import { link, realpath, rename, rm, stat } from "node:fs/promises";
import { rmSync, type Stats } from "node:fs";
import { basename, dirname, join, relative, isAbsolute } from "node:path";
import { randomBytes } from "node:crypto";
import { GvmconvError } from "./errors.js";

export class OutputExistsError extends GvmconvError {
  readonly path: string;
  constructor(path: string) {
    super("E_OUTPUT_EXISTS", `${path} already exists`, { hint: "pass --force to overwrite it" });
    this.path = path;
  }
}

export class OutputWriteError extends GvmconvError {
  readonly path: string;
  constructor(path: string, message: string, options: { cause?: unknown } = {}) {
    super("E_OUTPUT_WRITE", message, {
      hint: "check that the output directory exists and is writable",
      ...options,
    });
    this.path = path;
  }
}

/** The output path is an input of the same run (or inside a directory being imaged). */
export class OutputIsInputError extends GvmconvError {
  readonly path: string;
  readonly input: string;
  constructor(path: string, input: string, inside: boolean) {
    super(
      "E_OUTPUT_IS_INPUT",
      inside
        ? `${path} is inside ${input}, the directory being imaged`
        : `${path} is the input ${input} itself`,
      {
        hint: inside
          ? "write the output outside the directory being imaged"
          : "write the output to another path; the input is left as it is",
      },
    );
    this.path = path;
    this.input = input;
  }
}

/** The output path names a device, FIFO or socket, which a rename would replace. */
export class OutputNotAFileError extends GvmconvError {
  readonly path: string;
  constructor(path: string, kind: string) {
    super("E_OUTPUT_NOT_A_FILE", `${path} is a ${kind}, not a regular file`, {
      hint: "give a file path for the output (an image is written beside it, then renamed into place)",
    });
    this.path = path;
  }
}

/**
 * The filesystem of the output or of the blob cache is full (ENOSPC, or EDQUOT: over quota).
 * `path` is what was being written; `where` says which of the two, for the hint.
 */
export class NoSpaceError extends GvmconvError {
  readonly path: string;
  readonly where: "output" | "cache";
  constructor(path: string, where: "output" | "cache", cause: unknown) {
    const quota = (cause as NodeJS.ErrnoException | undefined)?.code === "EDQUOT";
    super(
      "E_OUTPUT_NO_SPACE",
      `no space left on the device holding ${path}${quota ? " (disk quota exceeded)" : ""}${where === "cache" ? " (the blob cache)" : ""}`,
      {
        hint:
          where === "cache"
            ? "free space there (gvmconv cache prune --older-than 7d), or put the cache on a filesystem with room: --cache-dir DIR or XDG_CACHE_HOME"
            : "free space there, or write the image to a filesystem with room with -o",
        cause,
      },
    );
    this.path = path;
    this.where = where;
  }
}

/** True for the errors of a full filesystem (or an exceeded quota). */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

function kindOf(st: Stats): string {
  if (st.isBlockDevice()) return "block device";
  if (st.isCharacterDevice()) return "character device";
  if (st.isFIFO()) return "FIFO";
  if (st.isSocket()) return "socket";
  return "special file";
}

/** The path as the filesystem resolves it (symlinks, "..") for the parts that exist. */
async function resolvedPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    // The output itself may not exist yet: resolve its directory.
    const dir = await realpath(dirname(path)).catch(() => dirname(path));
    return join(dir, basename(path));
  }
}

/**
 * Refuses an output path that would damage an input or is not a place for a file, before
 * anything is written: the same file as one of `inputs` (device and inode, so hard links and
 * symlinks count), a path inside an input directory (the image would contain its own
 * half-written output, so it is refused rather than silently left out), a device, a FIFO or a
 * socket. A directory is left to `writeAtomically`'s own error.
 */
export async function checkOutputPath(path: string, inputs: readonly string[] = []): Promise<void> {
  const out = await stat(path).catch(() => undefined);
  if (out !== undefined && !out.isFile() && !out.isDirectory())
    throw new OutputNotAFileError(path, kindOf(out));
  for (const input of inputs) {
    if (input === "-") continue;
    const st = await stat(input).catch(() => undefined);
    if (st === undefined) continue;
    if (out !== undefined && st.dev === out.dev && st.ino === out.ino)
      throw new OutputIsInputError(path, input, false);
    if (st.isDirectory()) {
      const rel = relative(await resolvedPath(input), await resolvedPath(path));
      if (rel === "" || (!rel.startsWith("..") && !isAbsolute(rel)))
        throw new OutputIsInputError(path, input, true);
    }
  }
}

/** Temporary files being written, so a signal handler can remove them before the process exits. */
const pending = new Set<string>();

/**
 * Registers a temporary file of this process (the blob cache's temps and lock files) for
 * `removePendingOutputsSync`; call the returned function once it is renamed or removed.
 */
export function trackTemporary(path: string): () => void {
  pending.add(path);
  return () => pending.delete(path);
}

/**
 * Removes the temporary files of writes still in progress (for SIGINT/SIGTERM handlers): output
 * temps, and the blob cache's temps and lock files. Resumable partial downloads are kept.
 */
export function removePendingOutputsSync(): void {
  for (const path of pending) rmSync(path, { force: true });
  pending.clear();
}

/**
 * Runs `write(tempPath)` and moves the result to `path`. Without `force`, an existing `path` is
 * never replaced (checked first, and again atomically by linking rather than renaming).
 * `inputs` are the run's input paths, checked first by `checkOutputPath`.
 */
export async function writeAtomically<T>(
  path: string,
  opts: { force?: boolean; inputs?: readonly string[] },
  write: (tempPath: string) => Promise<T>,
): Promise<T> {
  await checkOutputPath(path, opts.inputs);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory()) throw new OutputWriteError(path, `${path} is a directory`);
  if (existing && !opts.force) throw new OutputExistsError(path);
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  pending.add(temp);
  try {
    const result = await write(temp);
    if (opts.force) {
      await rename(temp, path);
    } else {
      try {
        await link(temp, path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") throw new OutputExistsError(path);
        // Filesystems without hard links: the existence check above has to do.
        if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP") await rename(temp, path);
        else throw err;
      }
    }
    return result;
  } catch (err) {
    if (err instanceof GvmconvError) throw err;
    if (isNoSpace(err)) throw new NoSpaceError(path, "output", err);
    const code = (err as NodeJS.ErrnoException).code;
    if (code && /^E[A-Z]+$/.test(code)) {
      throw new OutputWriteError(path, `cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  } finally {
    await rm(temp, { force: true });
    pending.delete(temp);
  }
}
