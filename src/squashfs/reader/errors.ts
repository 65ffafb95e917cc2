/**
 * Typed failures of the SquashFS reader. An image is untrusted input: every size and position in
 * it is checked before use, and what does not add up surfaces as one of these (never a RangeError
 * from a DataView, an endless loop or a giant allocation).
 */
import { GvmconvError } from "../../errors.js";
import { quotePath } from "../../byte-names.js";

/** Quoting of image paths in messages lives with the names (byte-names.ts); re-exported here. */
export { quotePath };

/** Something in the image contradicts the format or itself (format.adoc; Linux squashfs checks). */
export class SquashfsImageCorruptError extends GvmconvError {
  /** Which structure was being read, e.g. "inode table", "directory listing of /etc". */
  readonly structure: string;
  constructor(structure: string, message: string, options: { cause?: unknown } = {}) {
    super("E_SQUASHFS_IMAGE_CORRUPT", `${structure}: ${message}`, {
      hint: "the image is damaged or was not written by a SquashFS 4.0 tool",
      cause: options.cause,
    });
    this.structure = structure;
  }
}

/** The superblock fails a sanity check (magic, version, block size, table order). */
export class SquashfsBadSuperblockError extends GvmconvError {
  constructor(message: string) {
    super("E_SQUASHFS_BAD_SUPERBLOCK", `superblock: ${message}`, {
      hint: "the file is not a SquashFS 4.0 image, or its start is damaged",
    });
  }
}

/** A read reaches past the end of the image (or of the byte range the image lives in). */
export class SquashfsTruncatedError extends GvmconvError {
  readonly position: number;
  readonly length: number;
  constructor(position: number, length: number, size: number) {
    super(
      "E_SQUASHFS_TRUNCATED",
      `read of ${length} bytes at ${position} goes past the image end (${size} bytes)`,
      {
        hint: "the image is truncated (incomplete download or copy)",
      },
    );
    this.position = position;
    this.length = length;
  }
}

/** A compressor the reader does not have (gzip, xz, lzo and lz4 are what the Golem VM kernel reads). */
export class SquashfsUnsupportedCompressionError extends GvmconvError {
  readonly compressionId: number;
  readonly compression: string;
  constructor(compressionId: number) {
    const compression = COMPRESSION_NAMES[compressionId] ?? `unknown (id ${compressionId})`;
    super(
      "E_SQUASHFS_COMPRESSION_UNSUPPORTED",
      `compression ${compression} is not supported (only gzip, xz, lzo and lz4)`,
      {
        hint: "rebuild the image with gzip, xz, lzo or lz4 compression",
      },
    );
    this.compressionId = compressionId;
    this.compression = compression;
  }
}

/** A compressed block does not decompress, or not to the size the image promises. */
export class SquashfsDecompressError extends GvmconvError {
  /** Absolute position of the block in the image. */
  readonly position: number;
  constructor(what: string, position: number, message: string, options: { cause?: unknown } = {}) {
    super("E_SQUASHFS_DECOMPRESS", `${what} at ${position}: ${message}`, {
      hint: "the image is damaged",
      cause: options.cause,
    });
    this.position = position;
  }
}

/** A path that is not in the image. */
export class SquashfsPathNotFoundError extends GvmconvError {
  readonly path: string;
  constructor(path: string) {
    super("E_SQUASHFS_NOT_FOUND", `${quotePath(path)}: no such file or directory in the image`, {
      // Node decodes argv as UTF-8 and replaces bytes that are not by U+FFFD.
      hint: path.includes("\ufffd")
        ? "a name that is not UTF-8 cannot be typed as its bytes: write them as \\xNN, as gvmconv ls prints it"
        : undefined,
    });
    this.path = path;
  }
}

/** A path whose inner component is not a directory (symlinks are not followed). */
export class SquashfsNotADirectoryError extends GvmconvError {
  readonly path: string;
  constructor(path: string, kind: string) {
    super(
      "E_SQUASHFS_NOT_A_DIRECTORY",
      `${quotePath(path)} is a ${kind}, not a directory (symlinks are not followed)`,
    );
    this.path = path;
  }
}

/** File content was asked for a directory. */
export class SquashfsIsADirectoryError extends GvmconvError {
  readonly path: string;
  constructor(path: string) {
    super("E_SQUASHFS_IS_A_DIRECTORY", `${quotePath(path)} is a directory`, {
      hint: "use gvmconv ls to list it",
    });
    this.path = path;
  }
}

/** File content was asked for a symlink, device, fifo or socket. */
export class SquashfsNotAFileError extends GvmconvError {
  readonly path: string;
  readonly kind: string;
  constructor(path: string, kind: string) {
    super("E_SQUASHFS_NOT_A_FILE", `${quotePath(path)} is a ${kind}, not a regular file`);
    this.path = path;
    this.kind = kind;
  }
}

/** Superblock compression ids (format.adoc, "Compression"). */
export const COMPRESSION_NAMES: Readonly<Record<number, string>> = {
  1: "gzip",
  2: "lzma",
  3: "lzo",
  4: "xz",
  5: "lz4",
  6: "zstd",
};
