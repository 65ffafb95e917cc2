/** Public surface of the .gvmi format: trailer, container config, mount points, naming, hashing, reading. */
export { crc32 } from "./crc32.js";
export {
  CRC_SIZE,
  LENGTH_SIZE,
  MAX_JSON_LENGTH,
  encodeTrailer,
  decodeTrailer,
  decodeTrailerLength,
  type DecodedTrailer,
} from "./trailer.js";
export {
  buildContainerConfig,
  serializeContainerConfig,
  type BuildContainerConfigInput,
  type ContainerConfig,
  type ContainerConfigOverrides,
  type HealthConfig,
  type ImageRuntimeConfig,
} from "./container-config.js";
export { resolveUser, parsePasswd, parseGroup, type PasswdEntry, type GroupEntry } from "./user.js";
export {
  missingMountPoints,
  MountPointScan,
  MOUNT_POINTS,
  type MountPoint,
  type MountPointsResult,
} from "./mount-points.js";
export { defaultOutputName, type OutputNameParts } from "./naming.js";
export { Sha3Hasher, sha3File, SHA3_224_HEX_LENGTH } from "./hash.js";
export { appendTrailer, SQUASHFS_PAD, type GvmiResult } from "./finalize.js";
export {
  readGvmi,
  readGvmiTrailer,
  parseGvmi,
  runtimeIssues,
  isFatalIssue,
  type GvmiInfo,
  type GvmiIssue,
  type GvmiTrailerInfo,
} from "./read.js";
export {
  GvmiChecksumError,
  GvmiConfigError,
  GvmiConfigTooLargeError,
  GvmiImageIdError,
  GvmiTrailerError,
  GvmiUserResolutionError,
} from "./errors.js";
