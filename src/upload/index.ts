/** Public surface of the Golem image registry upload (the protocol gvmkit-build speaks). */
export {
  DESCRIPTOR_VERSION,
  DESCRIPTOR_HEADER_SIZE,
  CHUNK_HASH_SIZE,
  MAX_CHUNKS,
  chooseChunkSize,
  encodeDescriptor,
  decodeDescriptor,
  createDescriptor,
  descriptorPathFor,
  loadOrCreateDescriptor,
  type ChunkDescriptor,
  type FileChunk,
} from "./descriptor.js";
export {
  DEFAULT_REGISTRY_URL,
  GolemRegistryClient,
  registryUrlFromEnv,
  openFileBlob,
  type AttachResult,
  type RegistryClientOptions,
  type UploadStatus,
} from "./client.js";
export { pushImage, uploadChunks, type PushOptions, type PushResult, type RetryOptions } from "./upload.js";
export {
  RegistryCredentials,
  parseDotenv,
  credentialsPath,
  resolveCredentials,
  readStoredCredentials,
  readKeyringCredentials,
  verifyCredentials,
  saveCredentials,
  removeCredentials,
  login,
  checkLogin,
  logout,
  type CredentialsLookup,
  type CredentialsSource,
} from "./credentials.js";
export {
  KEYRING_ACCOUNT,
  KEYRING_SERVICE,
  formatKeyringLogin,
  keyringAllowed,
  openKeyring,
  parseKeyringLogin,
  type KeyringEntry,
} from "./keyring.js";
export { parsePushTarget, formatPushTarget, type PushTarget } from "./push-target.js";
export {
  redact,
  CredentialsError,
  DescriptorError,
  ImageChangedError,
  MissingCredentialsError,
  PushTargetError,
  RegistryAuthError,
  RegistryHttpError,
  RegistryNetworkError,
  RegistryProtocolError,
  UploadNotValidatedError,
} from "./errors.js";
