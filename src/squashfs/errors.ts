/**
 * Typed failures of the SquashFS writer and of the format codecs. Most are something the input
 * asked for that the format (or the kernel reading it) cannot represent; the writer refuses rather
 * than emit an image that mounts wrong. SquashfsCorruptError is a decoder finding bytes that are
 * not the struct they claim to be. SquashfsInternalError is neither: code in this package handed
 * an encoder or the serializer something it must never produce (the reader's errors, about bad
 * images, are in reader/errors.ts).
 */
import { quotePath } from "../byte-names.js";
import { GvmconvError } from "../errors.js";

/** A number does not fit the on-disk field it has to go into (format.adoc field widths). */
export class SquashfsRangeError extends GvmconvError {
  readonly field: string;
  readonly value: number | bigint;
  constructor(field: string, value: number | bigint, max: number | bigint) {
    super("E_SQUASHFS_VALUE_OUT_OF_RANGE", `${field} = ${value} does not fit SquashFS (0 … ${max})`);
    this.field = field;
    this.value = value;
  }
}

/** A path component is longer than the kernel accepts (SQUASHFS_NAME_LEN = 256 bytes). */
export class SquashfsNameTooLongError extends GvmconvError {
  readonly path: string;
  constructor(path: string, bytes: number) {
    super("E_SQUASHFS_NAME_TOO_LONG", `name of ${quotePath(path)} is ${bytes} bytes; SquashFS allows 256`, {
      hint: "rename the file to at most 256 bytes (UTF-8)",
    });
    this.path = path;
  }
}

/** A path is not in the normalized form the Entry contract requires. */
export class SquashfsBadPathError extends GvmconvError {
  readonly path: string;
  constructor(path: string, why: string) {
    super("E_SQUASHFS_BAD_PATH", `invalid image path ${quotePath(path)}: ${why}`);
    this.path = path;
  }
}

/** More distinct uid/gid values than the u16 id count of the superblock can hold. */
export class SquashfsTooManyIdsError extends GvmconvError {
  readonly count: number;
  constructor(count: number) {
    super("E_SQUASHFS_TOO_MANY_IDS", `${count} distinct uid/gid values; SquashFS stores at most 65535`, {
      hint: "reduce the number of distinct owners in the image",
    });
    this.count = count;
  }
}

/** A hard link whose target is missing from the finished tree (or loops back on itself). */
export class SquashfsHardlinkTargetMissingError extends GvmconvError {
  readonly path: string;
  readonly target: string;
  constructor(path: string, target: string, why = "does not exist") {
    super(
      "E_SQUASHFS_HARDLINK_TARGET_MISSING",
      `hard link ${quotePath(path)}: target ${quotePath(target)} ${why}`,
    );
    this.path = path;
    this.target = target;
  }
}

/** A hard link to a directory, which no filesystem stores. */
export class SquashfsHardlinkToDirectoryError extends GvmconvError {
  readonly path: string;
  readonly target: string;
  constructor(path: string, target: string) {
    super(
      "E_SQUASHFS_HARDLINK_TO_DIRECTORY",
      `hard link ${quotePath(path)} points to directory ${quotePath(target)}`,
    );
    this.path = path;
    this.target = target;
  }
}

/** An extended attribute outside the user/trusted/security namespaces SquashFS can store. */
export class SquashfsXattrNamespaceError extends GvmconvError {
  readonly path: string;
  readonly xattr: string;
  constructor(path: string, xattr: string) {
    super(
      "E_SQUASHFS_XATTR_NAMESPACE",
      `xattr ${JSON.stringify(xattr)} on ${quotePath(path)}: SquashFS stores only user.*, trusted.* and security.*`,
    );
    this.path = path;
    this.xattr = xattr;
  }
}

/** A symlink target longer than the kernel reads (it refuses targets over PAGE_SIZE). */
export class SquashfsSymlinkTooLongError extends GvmconvError {
  readonly path: string;
  constructor(path: string, bytes: number) {
    super(
      "E_SQUASHFS_SYMLINK_TOO_LONG",
      `symlink ${quotePath(path)} target is ${bytes} bytes; the kernel reads at most 4096`,
    );
    this.path = path;
  }
}

/** Bytes that are not the SquashFS structure they claim to be (format/ decoders, on image bytes). */
export class SquashfsCorruptError extends GvmconvError {
  constructor(message: string) {
    super("E_SQUASHFS_CORRUPT", message);
  }
}

/** The writer was used after finish()/abort(), or concurrently. A caller bug, but typed. */
export class SquashfsWriterStateError extends GvmconvError {
  constructor(message: string) {
    super("E_SQUASHFS_WRITER_STATE", message);
  }
}

/**
 * A bug in gvmconv, not in the input or the image: an encoder or the tree serializer was handed a
 * value its caller should never produce (a basic inode carrying an extended field, a directory run
 * of 300 entries, an unresolved hard link). Deliberately not a GvmconvError, so the CLI reports it
 * as a bug, with its stack.
 */
export class SquashfsInternalError extends Error {
  readonly code = "E_SQUASHFS_INTERNAL";
  constructor(message: string) {
    super(message);
    this.name = "SquashfsInternalError";
  }
}
