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
