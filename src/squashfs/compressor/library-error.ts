import { GvmconvError } from "../../errors.js";

/** Where each native compressor library comes from, for the hint. */
const PACKAGES: Record<"lzo" | "lz4" | "gzip", { library: string; install: string }> = {
  gzip: {
    library: "libdeflate",
    install:
      "install libdeflate (Debian/Ubuntu: apt-get install libdeflate0; Fedora: libdeflate; Alpine: libdeflate; macOS: brew install libdeflate; Windows: libdeflate.dll on PATH)",
  },
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
 * mksquashfs's bytes): without the library the compressor cannot be built. gzip needs libdeflate
 * only when asked for by name (GVMCONV_GZIP_BACKEND=libdeflate) or for levels 10–12. Raised when
 * the compressor is created, which the library does before reading any input.
 */
export class CompressorLibraryError extends GvmconvError {
  readonly compression: "lzo" | "lz4" | "gzip";
  /** gzip: the level asked for (10–12 exist only in libdeflate). */
  constructor(compression: "lzo" | "lz4" | "gzip", reason: string, level?: number) {
    const p = PACKAGES[compression];
    const what =
      compression === "gzip"
        ? level !== undefined && level > 9
          ? `gzip level ${level} needs the system library libdeflate`
          : "the libdeflate gzip backend needs the system library libdeflate"
        : `${compression} compression needs the system library ${p.library}`;
    super("E_SQUASHFS_COMPRESSOR_LIBRARY", `${what}, which cannot be loaded${reason ? ` (${reason})` : ""}`, {
      hint:
        compression === "gzip"
          ? `${p.install}, or use GVMCONV_GZIP_BACKEND=zlib with a level from 1 to 9`
          : `${p.install}, or use gzip or xz`,
    });
    this.compression = compression;
  }
}
