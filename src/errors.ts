/**
 * Typed errors with stable codes (after undici's lib/core/errors.js and berry's MessageName), and
 * the catalogue of every code gvmconv reports: errors here, warnings beside them.
 *
 * Every failure a user can cause or fix is a `GvmconvError` subclass with a stable `code`;
 * `hint` says what to do about it. The CLI prints it as one line (src/cli/errors.ts),
 * `gvmconv: error [CODE]: message — hint`, and a stack only under --debug. Anything that is not a
 * GvmconvError is a bug and keeps its stack.
 *
 * Codes are `E_` (error) or `W_` (warning), then the part of gvmconv that reports it, then what
 * happened: `E_<AREA>_<WHAT>`. The areas:
 *   USAGE     the command line or an option value (`E_USAGE` alone)
 *   ABORTED   the run was stopped through its AbortSignal or Ctrl-C (`E_ABORTED` alone: any part)
 *   INPUT     reading what is given as input: an image file (inspect/ls/cat/verify/-d), a directory or tar
 *   OUTPUT    writing the output file
 *   OCI       the container image: references, manifests, the image registry, local sources
 *   HTTP      the shared HTTP transport, below either registry
 *   TAR       the tar format
 *   LAYER     the entries of layers and inputs: tar reader, directory walk, the layer merge
 *   SQUASHFS  the SquashFS writer and reader
 *   GVMI      the .gvmi trailer, the runtime config, hashes
 *   GOLEM     the Golem image registry: login and upload
 *   BUILD     `gvmconv build`: the build file, its lock, pinned digests, publishing
 * Under `--strict`, a warning `W_X` is raised as the error `E_X` (context.ts). A code, once
 * released, is never reworded; the README lists them all (a test keeps the two in step).
 */

import { redactSecrets } from "./redact.js";

/** What every message goes through; callers may add secrets of their own (src/redact.ts). */
export { redactSecrets, rememberSecret } from "./redact.js";
/** What the CLI prints of a message: names that are not UTF-8, and control characters, as `\xNN`. */
export { printableText } from "./byte-names.js";

/** Every error code, with what it means. */
export const ERROR_CODES = {
  E_USAGE: "bad command-line usage or option value (exit status 2)",

  E_INPUT_NOT_FOUND: "the input file does not exist (or an image reference was given for a file)",
  E_INPUT_NOT_A_FILE: "the input is a directory or another non-regular file where a file was expected",
  E_INPUT_READ:
    "an input (image file, directory or tar) cannot be read: permissions, I/O, a file changing while read",

  E_OUTPUT_EXISTS: "the output exists and is not replaced without --force",
  E_OUTPUT_REQUIRED: "the format needs an output path (-o)",
  E_OUTPUT_WRITE: "the output cannot be written (directory missing or unwritable, disk full)",
  E_OUTPUT_IS_INPUT: "the output path is the input itself, or inside the directory being imaged",
  E_OUTPUT_NOT_A_FILE: "the output path is a device, FIFO or socket, not a file",
  E_OUTPUT_NOT_OURS: "the output exists and gvmconv did not write it; it is replaced only with --force",
  E_OUTPUT_NO_SPACE: "no space left on the filesystem of the output or the blob cache",

  E_OCI_INVALID_SOURCE: "SOURCE is not a reference or transport gvmconv reads",
  E_OCI_INVALID_REFERENCE: "the image reference is malformed",
  E_OCI_INVALID_DIGEST: "a digest is malformed or uses an unsupported algorithm",
  E_OCI_INVALID_MANIFEST: "a manifest, index or config is not what the specs allow",
  E_OCI_UNSUPPORTED_MEDIA_TYPE: "a manifest or layer has a media type gvmconv cannot read",
  E_OCI_NO_MATCHING_PLATFORM: "the image offers no manifest for the platform asked for",
  E_OCI_NOT_FOUND: "the image, manifest or blob does not exist in the registry",
  E_OCI_AUTH_REQUIRED: "the registry wants credentials and none were found",
  E_OCI_AUTH_FAILED: "the registry refused the credentials",
  E_OCI_CREDENTIAL_HELPER:
    "a Docker credential helper failed, printed what is not JSON, or gave no answer within 120 s (then it is killed)",
  E_OCI_AUTHFILE: "the --authfile (or REGISTRY_AUTH_FILE) is missing or is not an auth.json",
  E_OCI_HTTP: "the image registry answered with an HTTP error",
  E_OCI_NETWORK: "the image registry could not be reached, after retries",
  E_OCI_DIGEST_MISMATCH: "a downloaded blob does not have its digest",
  E_OCI_DIFF_ID_MISMATCH: "an uncompressed layer does not match its diff_id",
  E_OCI_TOO_LARGE: "a manifest or layer exceeds a size or decompression-ratio limit",
  E_OCI_CORRUPT_LAYER: "a layer cannot be decompressed",
  E_OCI_LOCAL_SOURCE: "an OCI layout or archive on disk cannot be read",
  E_OCI_DOCKER_DAEMON: "the Docker engine cannot be reached or does not have the image",
  E_OCI_IMAGE_ID_NOT_LOCAL: "an image id was given and no reachable local engine has that image",
  E_OCI_FOREIGN_LAYER: "a non-distributable layer is neither at its urls nor in the registry",
  E_OCI_ARCHIVE_AMBIGUOUS: "a docker-archive holds several images and SOURCE does not say which one",

  E_HTTP_NETWORK: "a request failed below HTTP (connection, TLS, timeout)",

  E_ABORTED: "the run was stopped (Ctrl-C or the caller's AbortSignal); nothing partial was left",

  E_TAR_FORMAT: "the input is not a readable tar (plain, gzip or zstd)",
  E_TAR_SPARSE_MAP:
    "a sparse file's map is malformed (unsorted, overlapping, beyond its size, too many entries)",
  E_TAR_TOO_LARGE: "a tar member declares a size past 2^53-1, or sparse holes past the bound",
  E_TAR_COMPRESSION_LIMIT: "a compressed layer or tar needs more decoder memory than allowed (zstd window)",

  E_SQUASHFS_VALUE_OUT_OF_RANGE: "a value (mode, uid, mtime, size) does not fit SquashFS",
  E_SQUASHFS_NAME_TOO_LONG: "a file name is longer than SquashFS's 256 bytes",
  E_SQUASHFS_BAD_PATH: "an image path is empty or malformed",
  E_SQUASHFS_TOO_MANY_IDS: "more than 65,536 distinct uid/gid values",
  E_SQUASHFS_HARDLINK_TARGET_MISSING: "a hard link names a path the image does not have",
  E_SQUASHFS_HARDLINK_TO_DIRECTORY: "a hard link names a directory",
  E_SQUASHFS_XATTR_NAMESPACE: "an xattr namespace SquashFS cannot store (only user, trusted, security)",
  E_SQUASHFS_SYMLINK_TOO_LONG: "a symlink target is longer than the kernel reads (4096 bytes)",
  E_SQUASHFS_CONTENT_SIZE: "a file's content is longer or shorter than its declared size",
  E_SQUASHFS_BLOCK_SIZE: "the block size is not a power of two from 4 KiB to 1 MiB",
  E_SQUASHFS_COMPRESSION_LEVEL: "the compression level is out of the compressor's range",
  E_SQUASHFS_COMPRESSION_UNKNOWN: "a compressor gvmconv does not know",
  E_SQUASHFS_COMPRESSOR_LIBRARY:
    "the system library a compressor needs (liblzo2 for lzo, liblz4 for lz4, libdeflate for gzip levels 10–12 or GVMCONV_GZIP_BACKEND=libdeflate) cannot be loaded",
  E_SQUASHFS_WRITER_STATE: "the writer was used after finish() or abort()",
  E_SQUASHFS_INTERNAL: "a SquashFS structure the writer built is inconsistent (a bug in gvmconv)",
  E_SQUASHFS_CORRUPT: "an encoded SquashFS structure fails to decode",
  E_SQUASHFS_IMAGE_CORRUPT: "a SquashFS image is damaged (named structure and position)",
  E_SQUASHFS_BAD_SUPERBLOCK: "the file does not start with a SquashFS 4.0 superblock",
  E_SQUASHFS_TRUNCATED: "the SquashFS image is shorter than its superblock says",
  E_SQUASHFS_COMPRESSION_UNSUPPORTED: "the image uses a compressor gvmconv cannot read",
  E_SQUASHFS_DECOMPRESS: "a block does not decompress to the size the image promises",
  E_SQUASHFS_NOT_FOUND: "no such path in the image",
  E_SQUASHFS_NOT_A_DIRECTORY: "a path component in the image is not a directory",
  E_SQUASHFS_IS_A_DIRECTORY: "the image path is a directory where a file was expected",
  E_SQUASHFS_NOT_A_FILE: "the image path is not a regular file",

  E_GVMI_TRAILER: "the .gvmi trailer (JSON length, JSON, CRC) is missing or malformed",
  E_GVMI_CRC: "the trailer's CRC32 does not match its JSON",
  E_GVMI_CONFIG: "the runtime config cannot be built from the image's config and options",
  E_GVMI_CONFIG_TYPE: "a trailer field has a type the Golem runtime would reject",
  E_GVMI_CONFIG_TOO_LARGE: "the runtime config is larger than the trailer can hold",
  E_GVMI_IMAGE_ID: "the image id is not sha256:<64 hex digits>",
  E_GVMI_NOT_SQUASHFS: "the part before the trailer is not SquashFS",
  E_GVMI_SQUASHFS_TRUNCATED: "the SquashFS part is shorter than its superblock says",
  E_GVMI_USER_UNRESOLVED: "USER names a user or group the image's /etc/passwd or /etc/group lack",
  E_GVMI_HASH_MISMATCH: "the file's SHA3-224 is not the one expected",

  E_GOLEM_PUSH_TARGET: "the push target is not a valid [user/]repository[:tag]",
  E_GOLEM_NO_CREDENTIALS: "pushing to a user's repository needs a login",
  E_GOLEM_CREDENTIALS: "the stored login cannot be read, written or removed",
  E_GOLEM_AUTH: "the Golem registry refused the login",
  E_GOLEM_HTTP: "the Golem registry answered with an HTTP error",
  E_GOLEM_NETWORK: "the Golem registry could not be reached, after retries",
  E_GOLEM_PROTOCOL: "the Golem registry answered something the upload protocol does not allow",
  E_GOLEM_DESCRIPTOR_INVALID: "a chunk descriptor (.descr.bin) is malformed",
  E_GOLEM_IMAGE_CHANGED: "the image changed since its descriptor was made",
  E_GOLEM_NOT_VALIDATED: "the registry did not confirm the complete upload",

  E_BUILD_FILE: "the build file is missing, is not YAML or JSON, or does not follow the schema",
  E_BUILD_DIGEST_MISMATCH: "an image's source does not resolve to the digest the build file pins",
  E_BUILD_LOCK: "the lock file is malformed, or a local source changed since it was locked",
  E_BUILD_PARENT_FAILED: "an image was not built because its parent failed",
  E_BUILD_FAILED: "some images of the build failed (each is reported above the summary)",
  E_BUILD_PUBLISH: "a publish target (directory, OCI registry, S3 bucket) refused or failed the upload",
} as const;

/** Every warning code, with what it means. Under `--strict` each is an error `E_…`. */
export const WARNING_CODES = {
  W_OCI_PLATFORM_MISMATCH: "the image's config is for another platform than the one asked for",

  W_TAR_UNKNOWN_TYPE: "a tar entry of an unknown type was skipped",
  W_TAR_INVALID_PATH: "a tar entry whose path cannot be stored was skipped",

  W_LAYER_MTIME_RANGE: "an mtime outside what SquashFS stores was clamped",
  W_LAYER_XATTR_NAMESPACE: "an xattr of a namespace SquashFS cannot store was dropped",
  W_LAYER_XATTR_TOOL_MISSING: "neither libc's xattr calls nor getfattr: the directory's xattrs were not read",
  W_LAYER_WHITEOUT_MISSING: "a whiteout names a path no lower layer has",
  W_LAYER_WHITEOUT_UNDER_NON_DIRECTORY: "a whiteout under a path its own layer made a non-directory",
  W_LAYER_WHITEOUT_INVALID: "a whiteout name that removes nothing nameable",
  W_LAYER_PARENT_NOT_DIRECTORY: "an entry under a path its own layer made a non-directory",
  W_LAYER_DIRECTORY_REPLACED: "a non-directory after a directory at one path in one layer",
  W_LAYER_ROOT_NOT_DIRECTORY: "a non-directory entry for the image root was ignored",
  W_LAYER_HARDLINK_TARGET_MISSING: "a hard link whose target does not exist was skipped",
  W_LAYER_HARDLINK_TO_DIRECTORY: "a hard link to a directory was skipped",
  W_LAYER_HARDLINK_TARGET_DROPPED: "a hard link to its own layer's replaced file was skipped",

  W_SQUASHFS_LIBDEFLATE_MISSING:
    "libdeflate did not load: Node's zlib wrote the gzip blocks (larger, other bytes)",
  W_SQUASHFS_BLOCK_CACHE_UNTRUSTED:
    "the block cache's secret could not be read or made: every entry is decompressed to check it",

  W_GVMI_NO_VOLUMES: "the image declares no volume; a Golem VM needs one",
  W_GVMI_USER_DROPPED: "USER is dropped: the VM runs as root (see --keep-user)",
  W_GVMI_USER_NOT_NUMERIC: "the trailer's User is not uid:gid; the runtime uses 0:0",
  W_GVMI_UNPADDED: "the SquashFS part is not padded to 4 KiB; the VM may not mount it",
  W_GVMI_PLATFORM_NOT_AMD64: "the image is not linux/amd64; Golem VMs run amd64 and cannot run it",

  W_GOLEM_CREDENTIALS_PERMISSIONS: "the stored login is readable by other users",
  W_GOLEM_TOO_MANY_CHUNKS: "the chunk size was raised to stay within the registry's chunk limit",
  W_GOLEM_CHUNK_RETRY: "an upload chunk failed and is retried",
} as const;

export type GvmconvWarningCode = keyof typeof WARNING_CODES;

/** The error a warning becomes under `--strict`: `W_X` → `E_X`. */
export type StrictErrorCode<W extends string = GvmconvWarningCode> = W extends `W_${infer Rest}`
  ? `E_${Rest}`
  : never;

/** Every code a `GvmconvError` may carry. */
export type GvmconvErrorCode = keyof typeof ERROR_CODES | StrictErrorCode;

/** `E_X` for the warning `W_X`. */
export function strictErrorCode<W extends GvmconvWarningCode>(warning: W): StrictErrorCode<W> {
  return warning.replace(/^W_/, "E_") as StrictErrorCode<W>;
}

export class GvmconvError extends Error {
  /** Stable, greppable code from the catalogue above, e.g. `E_SQUASHFS_NAME_TOO_LONG`. */
  readonly code: GvmconvErrorCode;
  /** What the user can do about it, one short sentence; empty when nothing helps. */
  readonly hint: string;

  constructor(code: GvmconvErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    // Messages quote what servers said, and servers echo credentials: redacted before the stack
    // captures the message (src/redact.ts).
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = redactSecrets(options.hint ?? "");
  }
}

/** Bad command-line usage or option values. */
export class UsageError extends GvmconvError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super("E_USAGE", message, options);
  }
}

/**
 * The run was stopped through its `AbortSignal` (the caller's, or Ctrl-C in the CLI). Named
 * `AbortError` as the DOM and undici name theirs, so code that checks `err.name` keeps working;
 * whatever the stop interrupted (a TLS read, a write) is its `cause`, never the failure itself.
 */
export class AbortedError extends GvmconvError {
  constructor(cause?: unknown) {
    super("E_ABORTED", "stopped before the output was complete", {
      hint: "nothing partial was left; run the command again to finish (downloads resume)",
      cause,
    });
    this.name = "AbortError";
  }
}

/** True when `err` is one of ours (a user-facing failure rather than a bug). */
export function isGvmconvError(err: unknown): err is GvmconvError {
  return err instanceof GvmconvError;
}
