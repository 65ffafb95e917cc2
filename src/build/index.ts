/** Public surface of `build` (many images from one build file). Other folders import only from here. */
export {
  build,
  DigestMismatchError,
  ParentFailedError,
  type BuildOptions,
  type BuildResult,
  type BuildImageResult,
  type BuildOutput,
  type ImageStatus,
} from "./build.js";
export {
  loadBuildFile,
  parseBuildFile,
  checkBuildObject,
  BuildFileError,
  type BuildFileSpec,
  type ImageSpec,
  type AddSpec,
  type ConfigSpec,
  type OutputSpec,
  type PublishSpec,
  type S3Spec,
} from "./build-file.js";
export { BUILD_FILE_SCHEMA } from "./schema.js";
export { LockFileError, type Lock, type LockedImage, type LockedOutput } from "./lock.js";
export type { Published } from "./publish.js";
