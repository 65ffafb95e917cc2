/**
 * `gvmconv.lock`: what each image was last built from and what it produced. A build reads the
 * locked source digests instead of resolving tags again (so a moved tag changes nothing until
 * `--update`), and skips an image whose inputs, added files and settings are those locked and
 * whose outputs still have the locked hashes (the outputs are reproducible, so rebuilding would
 * give the same bytes).
 *
 * JSON with sorted image names and a fixed key order, so that a lock in version control diffs
 * line by line.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { GvmconvError } from "../errors.js";

export const LOCK_VERSION = 1;

export interface LockedOutput {
  format: "gvmi" | "squashfs";
  /** File name, relative to the output directory. */
  file: string;
  size: number;
  sha3: string;
}

export interface LockedImage {
  /** The source as written in the build file (of the image, or of its topmost ancestor). */
  source: string;
  /** The manifest digest it resolved to (or the image id for a source without a manifest). */
  digest: string;
  /** The image id (config digest). */
  imageId: string;
  /** Digest over the added layers of the image and its ancestors, in order. */
  added: string;
  /** Digest of every other setting that changes the bytes (config, outputs, filesystem time). */
  settings: string;
  outputs: LockedOutput[];
  /** Publish targets done with these outputs, as `kind:where`. */
  published: string[];
}

export interface Lock {
  version: typeof LOCK_VERSION;
  images: Record<string, LockedImage>;
}

export class LockFileError extends GvmconvError {
  constructor(message: string, hint: string, cause?: unknown) {
    super("E_BUILD_LOCK", message, { hint, cause });
  }
}

export async function readLock(path: string): Promise<Lock> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { version: LOCK_VERSION, images: {} };
    throw new LockFileError(`cannot read ${path}: ${(err as Error).message}`, "check its permissions", err);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new LockFileError(`${path} is not JSON`, "delete it (the next build writes a new one)", err);
  }
  const lock = value as Partial<Lock>;
  if (lock.version !== LOCK_VERSION || typeof lock.images !== "object" || lock.images === null) {
    throw new LockFileError(
      `${path} is not a version ${LOCK_VERSION} gvmconv lock`,
      "delete it (the next build writes a new one)",
    );
  }
  for (const [name, image] of Object.entries(lock.images)) {
    const ok =
      typeof image.source === "string" &&
      typeof image.digest === "string" &&
      typeof image.added === "string" &&
      typeof image.settings === "string" &&
      Array.isArray(image.outputs) &&
      image.outputs.every((o) => typeof o.file === "string" && typeof o.sha3 === "string") &&
      Array.isArray(image.published);
    if (!ok)
      throw new LockFileError(
        `${path}: the entry of image ${name} is malformed`,
        "delete the entry or run build --update",
      );
  }
  return lock as Lock;
}

/** Writes the lock atomically (a reader never sees half of it). */
export async function writeLock(path: string, lock: Lock): Promise<void> {
  const images: Record<string, LockedImage> = {};
  for (const name of Object.keys(lock.images).sort()) {
    const i = lock.images[name]!;
    images[name] = {
      source: i.source,
      digest: i.digest,
      imageId: i.imageId,
      added: i.added,
      settings: i.settings,
      outputs: i.outputs.map((o) => ({ format: o.format, file: o.file, size: o.size, sha3: o.sha3 })),
      published: [...i.published].sort(),
    };
  }
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify({ version: LOCK_VERSION, images }, null, 2) + "\n");
  await rename(temp, path);
}
