/**
 * Public surface of the SquashFS writer and reader. Other folders import only from here.
 * Inside: format/ (on-disk structs), writer/ (the write pipeline), reader/, compressor/ (both sides).
 */
export type { Entry, EntryAttrs, EntryType, FileContent } from "./entry.js";
export type { WriterOptions, CompressionName, GzipBackend, XzBackend } from "./options.js";
export {
  MIN_BLOCK_SIZE,
  MAX_BLOCK_SIZE,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_GZIP_LEVEL,
  DEFAULT_XZ_LEVEL,
  DEFAULT_LEVEL,
} from "./options.js";
export type { Compressor, CompressorSpec } from "./compressor/index.js";
export {
  createCompressor,
  InvalidCompressionLevelError,
  UnknownCompressionError,
  InvalidBlockSizeError,
  CompressorLibraryError,
  identifyGzipEncoder,
  type GzipEncoderMatch,
} from "./compressor/index.js";
export { SquashfsWriter, writeSquashfs, checkWriterOptions } from "./writer/writer.js";
export type { WriteResult, CompressorInfo } from "./writer/writer.js";
export {
  blockCacheSize,
  loadBlockCacheSecret,
  pruneBlockCache,
  type BlockCacheSize,
  type BlockCacheUse,
  type BlockCachePruneRule,
} from "./writer/block-cache.js";
export {
  SquashfsRangeError,
  SquashfsNameTooLongError,
  SquashfsBadPathError,
  SquashfsTooManyIdsError,
  SquashfsHardlinkTargetMissingError,
  SquashfsHardlinkToDirectoryError,
  SquashfsXattrNamespaceError,
  SquashfsSymlinkTooLongError,
  SquashfsCorruptError,
  SquashfsWriterStateError,
  SquashfsInternalError,
} from "./errors.js";
export {
  SquashfsReader,
  inodeKind,
  isDirectory,
  isFile,
  MODE_TYPE,
  type SquashfsLocation,
  type SquashfsReaderOptions,
  type SquashfsStat,
  type WalkEntry,
  type DirectoryEntry,
} from "./reader/reader.js";
export type { Inode, InodeKind } from "./format/inode.js";
export { decodeSuperblock, SUPERBLOCK_SIZE, SuperblockFlags, type Superblock } from "./format/superblock.js";
export { verifySquashfs, type VerifySummary } from "./reader/verify.js";
export { identifyGzipImage } from "./reader/gzip-encoder.js";
export {
  SquashfsImageCorruptError,
  SquashfsBadSuperblockError,
  SquashfsTruncatedError,
  SquashfsUnsupportedCompressionError,
  SquashfsDecompressError,
  SquashfsPathNotFoundError,
  SquashfsNotADirectoryError,
  SquashfsIsADirectoryError,
  SquashfsNotAFileError,
  quotePath,
} from "./reader/errors.js";
