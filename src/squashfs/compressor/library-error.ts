import { GvmconvError } from "../../errors.js";

/** Where each native compressor library comes from, for the hint. */
const PACKAGES: Record<"lzo" | "lz4", { library: string; install: string }> = {
  lzo: {
    library: "liblzo2",
    install:
      "install liblzo2 (Debian/Ubuntu: apt-get install liblzo2-2; Fedora: lzo; Alpine: lzo; macOS: brew install lzo)",
  },
  lz4: {
    library: "liblz4",
    install:
      "install liblz4 (Debian/Ubuntu: apt-get install liblz4-1; Fedora: lz4-libs; Alpine: lz4-libs; macOS: brew install lz4)",
  },
};

/**
 * lzo and lz4 blocks are made by the system's liblzo2 / liblz4 (no JavaScript implementation gives
 * mksquashfs's bytes): without the library the compressor cannot be built. Raised when the
 * compressor is created, which the library does before reading any input.
 */
export class CompressorLibraryError extends GvmconvError {
  readonly compression: "lzo" | "lz4";
  constructor(compression: "lzo" | "lz4", reason: string) {
    const p = PACKAGES[compression];
    super(
      "E_SQUASHFS_COMPRESSOR_LIBRARY",
      `${compression} compression needs the system library ${p.library}, which cannot be loaded${reason ? ` (${reason})` : ""}`,
      { hint: `${p.install}, or use gzip or xz` },
    );
    this.compression = compression;
  }
}
