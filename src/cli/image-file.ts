/**
 * Opening the FILE argument of inspect/ls/cat/verify: a .gvmi (SquashFS + trailer, read the way
 * the Golem runtime reads it) or a plain SquashFS image. A file counts as plain only when nothing
 * but zero padding follows `bytes_used`; a .gvmi with a damaged trailer still has its JSON there,
 * so it fails with the trailer error instead of passing as "plain".
 */
import { open } from "node:fs/promises";
import { GvmconvError } from "../errors.js";
import { readGvmi, GvmiTrailerError, type GvmiInfo } from "../gvmi/index.js";
import { SquashfsReader, SquashfsBadSuperblockError, SquashfsTruncatedError } from "../squashfs/index.js";

/** Padding a plain image may carry after bytes_used (mksquashfs pads to 4 KiB; allow any device block). */
const MAX_PLAIN_PADDING = 1 << 20;

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

/** Opens `path` as a .gvmi, or as a plain SquashFS image. Close `reader` when done. */
export async function openImageFile(path: string): Promise<ImageFile> {
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
    if (rest > MAX_PLAIN_PADDING || !(await allZero(path, used, rest))) {
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
    const buf = new Uint8Array(length);
    const { bytesRead } = await handle.read(buf, 0, length, position);
    return bytesRead === length && buf.every((b) => b === 0);
  } finally {
    await handle.close();
  }
}
