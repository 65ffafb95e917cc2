/**
 * gvmconv's library API: every use case the CLI offers, as a function. The CLI (src/cli) is a thin
 * layer over what is exported here and imports nothing else (enforced by the lint config).
 *
 * Each use case takes the run's environment, reporter, `strict`, `signal` and `mkfsTime` (or a
 * ready `context` from `createContext`); see context.ts for what is decided there. The library
 * never prints and never exits: progress and warnings go to the `Reporter`, failures are
 * `GvmconvError`s with a stable `code`.
 */
export {
  GvmconvError,
  UsageError,
  AbortedError,
  isGvmconvError,
  ERROR_CODES,
  WARNING_CODES,
  strictErrorCode,
  redactSecrets,
  rememberSecret,
  type GvmconvErrorCode,
  type GvmconvWarningCode,
  type StrictErrorCode,
} from "./errors.js";
export type { Reporter, ProgressTask, RetryNotice, TaskKind, TaskOptions, Warning } from "./reporter.js";
export { silentReporter, CollectingReporter } from "./reporter.js";
export {
  createContext,
  sourceDateEpoch,
  checkTime,
  StrictWarningError,
  type ContextOptions,
  type Env,
  type RunContext,
  type RunOptions,
} from "./context.js";
export {
  OutputExistsError,
  OutputWriteError,
  OutputIsInputError,
  OutputNotAFileError,
  NoSpaceError,
  removePendingOutputsSync,
} from "./atomic-output.js";
export { OutputNotOursError } from "./api/output-policy.js";

export {
  convert,
  planConvert,
  OutputRequiredError,
  type ConvertOptions,
  type ConvertPlan,
  type ConvertResult,
  type ConvertWriterOptions,
  type OutputFormat,
} from "./api/convert.js";
export {
  push,
  convertAndPush,
  describeImage,
  pushTargetFromSource,
  imageInfoDocument,
  hashImage,
  type ConvertAndPushResult,
  type ImageDescription,
  type ImageInfoDocument,
  type RepoInfo,
  type PushOptions,
  type PushResult,
  type PushTarget,
} from "./api/push.js";
export { parsePushTarget, formatPushTarget } from "./upload/index.js";
export {
  openImageFile,
  inspectImage,
  isImageReference,
  verifyImage,
  listImage,
  readImageFile,
  ImageHashMismatchError,
  type ImageFile,
  type ImageInspection,
  type ListOptions,
  type ListedDirectory,
  type ListedEntry,
  type VerifyOptions,
  type VerifyResult,
} from "./api/image-file.js";
export { buildSquashfs, type BuildSquashfsOptions, type BuildSquashfsResult } from "./api/squashfs.js";
export {
  login,
  checkLogin,
  logout,
  type LoginCheck,
  type LoginOptions,
  type LoginResult,
} from "./api/login.js";

// File names are bytes: their string forms, and the escaped text `ls` prints and `cat` reads.
export { decodeName, encodeName, escapeName, unescapeName } from "./byte-names.js";

export type {
  WriterOptions,
  CompressionName,
  GzipBackend,
  CompressorInfo,
  SquashfsStat,
} from "./squashfs/index.js";
export { DEFAULT_BLOCK_SIZE, MIN_BLOCK_SIZE, MAX_BLOCK_SIZE } from "./squashfs/index.js";
export {
  listCache,
  pruneCache,
  parseDuration,
  type CacheOptions,
  type CacheBlob,
  type CachePartial,
  type CacheListing,
  type CacheBlockListing,
  type PruneOptions,
  type PruneResult,
  type PrunedBlocks,
} from "./api/cache.js";
export {
  build,
  BUILD_FILE_SCHEMA,
  BuildFileError,
  DigestMismatchError,
  LockFileError,
  ParentFailedError,
  type BuildFileSpec,
  type BuildImageResult,
  type BuildOptions,
  type BuildOutput,
  type BuildResult,
  type ImageStatus,
  type Published,
} from "./build/index.js";
