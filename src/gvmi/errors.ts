/**
 * Failures while building or reading a .gvmi file. Codes are stable (see src/errors.ts).
 */
import { GvmconvError } from "../errors.js";

/** The trailer at the end of a .gvmi cannot be parsed the way the Golem VM runtime parses it. */
export class GvmiTrailerError extends GvmconvError {
  readonly path: string | undefined;
  constructor(message: string, options: { path?: string; cause?: unknown } = {}) {
    super("E_GVMI_TRAILER", message, {
      hint: "the file is not a complete .gvmi image (truncated download or not built by a Golem tool)",
      cause: options.cause,
    });
    this.path = options.path;
  }
}

/** The trailer's CRC32 does not match its JSON: the runtime refuses such an image. */
export class GvmiChecksumError extends GvmconvError {
  readonly expected: number;
  readonly actual: number;
  readonly path: string | undefined;
  constructor(expected: number, actual: number, path?: string) {
    super(
      "E_GVMI_CRC",
      `container config CRC32 mismatch: trailer says ${hex32(expected)}, JSON hashes to ${hex32(actual)}`,
      { hint: "the file is corrupt; rebuild or download it again" },
    );
    this.expected = expected;
    this.actual = actual;
    this.path = path;
  }
}

/** The container config JSON is too large for the 8-digit length field. */
export class GvmiConfigTooLargeError extends GvmconvError {
  readonly length: number;
  constructor(length: number) {
    super(
      "E_GVMI_CONFIG_TOO_LARGE",
      `container config is ${length} bytes; the trailer can record at most 99999999`,
      {
        hint: "drop large labels or environment values",
      },
    );
    this.length = length;
  }
}

/** An override or image field that cannot go into the container config. */
export class GvmiConfigError extends GvmconvError {
  readonly field: string;
  constructor(field: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super("E_GVMI_CONFIG", message, options);
    this.field = field;
  }
}

/** `keepUser` asked for, but the image's USER names a user or group its /etc/passwd or /etc/group lacks. */
export class GvmiUserResolutionError extends GvmconvError {
  readonly user: string;
  constructor(user: string, message: string) {
    super("E_GVMI_USER_UNRESOLVED", message, {
      hint: "use a numeric uid:gid in USER, or build without --keep-user (the VM then runs as root)",
    });
    this.user = user;
  }
}

/** The image id is not a `sha256:` digest. */
export class GvmiImageIdError extends GvmconvError {
  readonly imageId: string;
  constructor(imageId: string) {
    super("E_GVMI_IMAGE_ID", `image id ${JSON.stringify(imageId)} is not of the form sha256:<64 hex digits>`);
    this.imageId = imageId;
  }
}

function hex32(n: number): string {
  return "0x" + n.toString(16).padStart(8, "0");
}
