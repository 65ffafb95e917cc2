/**
 * Typed errors of the image-input side (src/oci). Each has a stable `code`, structured fields a
 * caller can act on, and a `hint` the CLI prints after the message. Text from the registry (its
 * error envelope, URLs it redirected to) is redacted like every message (src/redact.ts).
 */
import { GvmconvError, type GvmconvErrorCode } from "../errors.js";
import { redactSecrets } from "../redact.js";

type Opts = { hint?: string; cause?: unknown };

/** A Docker-style image reference that does not parse. `reason` names the part that is wrong. */
export class InvalidReferenceError extends GvmconvError {
  readonly reference: string;
  readonly reason: string;
  constructor(reference: string, reason: string, opts: Opts = {}) {
    super("E_OCI_INVALID_REFERENCE", `invalid image reference "${reference}": ${reason}`, {
      hint:
        opts.hint ?? 'write it as [registry[:port]/]repository[:tag][@sha256:<64 hex>], e.g. "alpine:3.20"',
      cause: opts.cause,
    });
    this.reference = reference;
    this.reason = reason;
  }
}

/** A source string (`oci:DIR`, `docker-archive:FILE`, …) that cannot be understood. */
export class InvalidSourceError extends GvmconvError {
  readonly source: string;
  constructor(source: string, message: string, opts: Opts = {}) {
    super("E_OCI_INVALID_SOURCE", message, {
      hint:
        opts.hint ??
        "use docker://REF, REF, oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:REF] or docker-daemon:REF",
      cause: opts.cause,
    });
    this.source = source;
  }
}

/** A digest string that is not `<algorithm>:<hex>` with a supported algorithm. */
export class InvalidDigestError extends GvmconvError {
  readonly digest: string;
  constructor(digest: string, reason: string, opts: Opts = {}) {
    super("E_OCI_INVALID_DIGEST", `invalid digest "${digest}": ${reason}`, opts);
    this.digest = digest;
  }
}

/** Content whose hash (or size) is not the one its descriptor promised. Nothing is cached. */
export class DigestMismatchError extends GvmconvError {
  readonly digest: string;
  readonly actual: string;
  constructor(expected: string, actual: string, what: string, opts: Opts = {}) {
    super("E_OCI_DIGEST_MISMATCH", `${what}: expected ${expected}, got ${actual}`, {
      hint:
        opts.hint ??
        "the content was corrupted in transit or by the server; retry, and report it if it persists",
      cause: opts.cause,
    });
    this.digest = expected;
    this.actual = actual;
  }
}

/** The uncompressed layer does not hash to the config's `rootfs.diff_ids[i]`. */
export class DiffIdMismatchError extends GvmconvError {
  readonly diffId: string;
  readonly actual: string;
  readonly layerIndex: number;
  constructor(layerIndex: number, expected: string, actual: string) {
    super(
      "E_OCI_DIFF_ID_MISMATCH",
      `layer ${layerIndex}: uncompressed content hashes to ${actual}, but the image config says ${expected}`,
      { hint: "the image is inconsistent; rebuild or re-push it" },
    );
    this.diffId = expected;
    this.actual = actual;
    this.layerIndex = layerIndex;
  }
}

/**
 * The registry answered with an error. `registryCode` is the first code of the distribution-spec
 * error envelope (`MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, `DENIED`, `TOOMANYREQUESTS`, …) when present.
 */
export class RegistryError extends GvmconvError {
  readonly statusCode: number;
  readonly registryCode: string | undefined;
  readonly url: string;
  readonly details: readonly { code: string; message: string }[];
  constructor(
    code: GvmconvErrorCode,
    message: string,
    fields: {
      statusCode: number;
      url: string;
      registryCode?: string;
      details?: { code: string; message: string }[];
    },
    opts: Opts = {},
  ) {
    super(code, message, opts);
    this.statusCode = fields.statusCode;
    this.url = redactSecrets(fields.url);
    this.registryCode = fields.registryCode;
    // The registry's own words, kept for callers: they may echo what it was sent.
    this.details = (fields.details ?? []).map((d) => ({
      code: redactSecrets(d.code),
      message: redactSecrets(d.message),
    }));
  }
}

/** 404 / `MANIFEST_UNKNOWN` / `NAME_UNKNOWN` / `BLOB_UNKNOWN`. */
export class NotFoundError extends RegistryError {
  constructor(message: string, fields: ConstructorParameters<typeof RegistryError>[2], opts: Opts = {}) {
    super("E_OCI_NOT_FOUND", message, fields, {
      hint:
        opts.hint ??
        "check the repository name and tag (docker.io names without a slash live under library/)",
      cause: opts.cause,
    });
  }
}

/** The registry wants credentials and none were found. */
export class AuthRequiredError extends RegistryError {
  readonly registry: string;
  constructor(registry: string, fields: ConstructorParameters<typeof RegistryError>[2], opts: Opts = {}) {
    super(
      "E_OCI_AUTH_REQUIRED",
      `${registry} requires authentication (HTTP ${fields.statusCode}) and no credentials were found for it`,
      fields,
      {
        hint:
          opts.hint ??
          `log in with "docker login ${registry}" or "podman login ${registry}", pass --creds USER[:PASS] or --authfile FILE, or set GVMCONV_REGISTRY_USER and GVMCONV_REGISTRY_PASSWORD; a repository that does not exist looks the same`,
        cause: opts.cause,
      },
    );
    this.registry = registry;
  }
}

/** Credentials were sent and refused, or the token server failed. */
export class AuthFailedError extends RegistryError {
  readonly registry: string;
  constructor(
    registry: string,
    message: string,
    fields: ConstructorParameters<typeof RegistryError>[2],
    opts: Opts = {},
  ) {
    super("E_OCI_AUTH_FAILED", message, fields, {
      hint:
        opts.hint ??
        `check the credentials for ${registry} (docker login / GVMCONV_REGISTRY_USER and GVMCONV_REGISTRY_PASSWORD) and that they may pull this repository`,
      cause: opts.cause,
    });
    this.registry = registry;
  }
}

/** A connection-level failure that outlived the retries. */
export class NetworkError extends GvmconvError {
  readonly url: string;
  constructor(url: string, message: string, opts: Opts = {}) {
    super("E_OCI_NETWORK", `${message} (${url})`, {
      hint: opts.hint ?? "check the network and the registry address; plain-HTTP registries need --insecure",
      cause: opts.cause,
    });
    this.url = url;
  }
}

/** A manifest, index or config that is malformed or of a kind we do not read. */
export class InvalidManifestError extends GvmconvError {
  readonly digest: string | undefined;
  constructor(message: string, opts: Opts & { digest?: string } = {}) {
    super("E_OCI_INVALID_MANIFEST", message, opts);
    this.digest = opts.digest;
  }
}

/** A media type we cannot handle (schema 1, encrypted layers, …). */
export class UnsupportedMediaTypeError extends GvmconvError {
  readonly mediaType: string;
  constructor(mediaType: string, what: string, opts: Opts = {}) {
    super("E_OCI_UNSUPPORTED_MEDIA_TYPE", `unsupported ${what} media type "${mediaType}"`, opts);
    this.mediaType = mediaType;
  }
}

/** Something larger than we accept: a manifest/config over the cap, or a decompression bomb. */
export class TooLargeError extends GvmconvError {
  readonly limit: number;
  readonly digest: string | undefined;
  constructor(message: string, limit: number, opts: Opts & { digest?: string } = {}) {
    super("E_OCI_TOO_LARGE", message, opts);
    this.limit = limit;
    this.digest = opts.digest;
  }
}

/** No entry of an index fits the requested platform. `available` lists what is on offer. */
export class NoMatchingPlatformError extends GvmconvError {
  readonly requested: string;
  readonly available: readonly string[];
  constructor(requested: string, available: readonly string[]) {
    super(
      "E_OCI_NO_MATCHING_PLATFORM",
      `no image for platform ${requested}; available: ${available.length > 0 ? available.join(", ") : "none"}`,
      { hint: "pick one of the available platforms with --platform" },
    );
    this.requested = requested;
    this.available = available;
  }
}

/** A local source (layout directory, archive) that is missing or malformed. */
export class LocalSourceError extends GvmconvError {
  readonly path: string;
  constructor(path: string, message: string, opts: Opts = {}) {
    super("E_OCI_LOCAL_SOURCE", `${path}: ${message}`, opts);
    this.path = path;
  }
}

/**
 * A `docker save` archive of several images (`docker save a b`, `podman save -m`) opened without
 * saying which, or with a tag two of its images carry: the choices, as SOURCE spells them.
 */
export class ArchiveAmbiguousError extends GvmconvError {
  readonly path: string;
  /** `@N (tag, tag)` for each image, in manifest.json order. */
  readonly choices: string[];
  constructor(path: string, message: string, choices: string[], example: string) {
    super("E_OCI_ARCHIVE_AMBIGUOUS", `${path}: ${message}: ${choices.join(", ")}`, {
      hint: `name one after the file, by tag or index: ${example}`,
    });
    this.path = path;
    this.choices = choices;
  }
}

/** `docker-daemon:` with no reachable Docker socket, or the daemon refused the export. */
export class DockerDaemonError extends GvmconvError {
  readonly socketPath: string;
  constructor(socketPath: string, message: string, opts: Opts = {}) {
    super("E_OCI_DOCKER_DAEMON", message, {
      hint:
        opts.hint ??
        "start Docker or set DOCKER_HOST=unix:///path/to/docker.sock; or export the image with `docker save` and use docker-archive:FILE",
      cause: opts.cause,
    });
    this.socketPath = socketPath;
  }
}

/** An image id was given, and no reachable local engine has that image (ids never go to a registry). */
export class ImageIdNotLocalError extends GvmconvError {
  readonly imageId: string;
  constructor(imageId: string, message: string, opts: Opts = {}) {
    super("E_OCI_IMAGE_ID_NOT_LOCAL", `image id ${imageId} is not in a local engine: ${message}`, {
      hint:
        opts.hint ??
        "an image id names an image of a local Docker or Podman engine: start it (or set DOCKER_HOST=unix://…), or give the image's name",
      cause: opts.cause,
    });
    this.imageId = imageId;
  }
}

/** A `docker-credential-<name>` helper that failed. */
export class CredentialHelperError extends GvmconvError {
  readonly helper: string;
  constructor(helper: string, message: string, opts: Opts = {}) {
    super("E_OCI_CREDENTIAL_HELPER", `docker-credential-${helper}: ${message}`, opts);
    this.helper = helper;
  }
}

/** A layer whose compressed data cannot be decoded. */
export class CorruptLayerError extends GvmconvError {
  readonly layerIndex: number | undefined;
  constructor(message: string, opts: Opts & { layerIndex?: number } = {}) {
    super("E_OCI_CORRUPT_LAYER", message, opts);
    this.layerIndex = opts.layerIndex;
  }
}
