/**
 * Writes an output file so that it appears complete or not at all: the work goes to a temporary
 * file beside the destination (same filesystem, so the final step is a rename or a link), which
 * is removed on any failure.
 */
import { link, rename, rm, stat } from "node:fs/promises";
import { rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
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

/** Temporary files being written, so a signal handler can remove them before the process exits. */
const pending = new Set<string>();

/** Removes the temporary files of writes still in progress (for SIGINT/SIGTERM handlers). */
export function removePendingOutputsSync(): void {
  for (const path of pending) rmSync(path, { force: true });
  pending.clear();
}

/**
 * Runs `write(tempPath)` and moves the result to `path`. Without `force`, an existing `path` is
 * never replaced (checked first, and again atomically by linking rather than renaming).
 */
export async function writeAtomically<T>(
  path: string,
  opts: { force?: boolean },
  write: (tempPath: string) => Promise<T>,
): Promise<T> {
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
