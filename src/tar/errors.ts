import { GvmconvError } from "../errors.js";

/** Bytes that are not a readable tar: a bad header field, a truncated archive, corrupt compression. */
export class TarFormatError extends GvmconvError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("E_TAR_FORMAT", message, {
      hint: "the input is not a readable tar (plain, gzip or zstd); check that it is complete",
      ...options,
    });
  }
}

/** A sparse member's map cannot describe a file: hostile or corrupt input, refused as a whole. */
export class SparseMapError extends GvmconvError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("E_TAR_SPARSE_MAP", `bad sparse file map: ${message}`, {
      hint: "the tar's sparse file is corrupt; recreate the archive (GNU tar --sparse or bsdtar)",
      ...options,
    });
  }
}

/** A member declares more than gvmconv stores: a size past 2^53-1, or sparse holes past the bound. */
export class TarTooLargeError extends GvmconvError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("E_TAR_TOO_LARGE", message, {
      hint: "the tar is corrupt or hostile: no real file is that large; recreate the archive",
      ...options,
    });
  }
}
