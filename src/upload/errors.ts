/**
 * Failures talking to a Golem image registry. Codes are stable (see src/errors.ts). Messages that
 * include server text are passed through `redact` first: a registry may echo form fields back, and
 * the personal access token must never reach a log line.
 */
import { GvmconvError } from "../errors.js";
import { redactSecrets, rememberSecret } from "../redact.js";
import { HttpNetworkError, type ResolvedTimeouts } from "../http/index.js";

/**
 * Replace every occurrence of each non-empty secret in `text`, and of every secret the process
 * knows, and credential-looking patterns (src/redact.ts). The secrets given are remembered, so
 * they are also kept out of messages built elsewhere.
 */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    rememberSecret(s);
    if (s) out = out.split(s).join("***");
  }
  return redactSecrets(out);
}

/** The registry answered with an unexpected HTTP status. */
export class RegistryHttpError extends GvmconvError {
  readonly statusCode: number;
  readonly endpoint: string;
  constructor(endpoint: string, statusCode: number, body: string, options: { hint?: string } = {}) {
    const excerpt = body.length > 300 ? body.slice(0, 300) + "…" : body;
    super("E_GOLEM_HTTP", `${endpoint} answered HTTP ${statusCode}${excerpt ? `: ${excerpt}` : ""}`, options);
    this.statusCode = statusCode;
    this.endpoint = endpoint;
  }
}

/** The registry could not be reached or dropped the connection. */
export class RegistryNetworkError extends GvmconvError {
  readonly endpoint: string;
  /**
   * `timeouts` are the client's, so the message says which one expired and after how long
   * (`no response headers within 300000 ms (headers timeout)`), as for the image registry.
   */
  constructor(endpoint: string, cause: unknown, timeouts?: ResolvedTimeouts) {
    // undici's fetch says only "fetch failed"; the transport's description reads the cause chain.
    const detail = new HttpNetworkError(endpoint, cause, timeouts).detail;
    super("E_GOLEM_NETWORK", `cannot reach ${endpoint}: ${detail}`, {
      hint: "check the network or REGISTRY_URL; run again to resume the upload",
      cause,
    });
    this.endpoint = endpoint;
  }
}

/** The registry answered something that is not the protocol we speak. */
export class RegistryProtocolError extends GvmconvError {
  readonly endpoint: string;
  constructor(endpoint: string, message: string, options: { cause?: unknown } = {}) {
    super("E_GOLEM_PROTOCOL", `${endpoint}: ${message}`, options);
    this.endpoint = endpoint;
  }
}

/** Wrong user name or token, or the user may not push to that repository. */
export class RegistryAuthError extends GvmconvError {
  readonly user: string;
  readonly statusCode: number | undefined;
  constructor(user: string, message: string, statusCode?: number) {
    super("E_GOLEM_AUTH", message, {
      hint: "check REGISTRY_USER/REGISTRY_TOKEN or run `gvmconv login` with a token from the registry portal",
    });
    this.user = user;
    this.statusCode = statusCode;
  }
}

/** After the last chunk, the registry never reported the image as complete. */
export class UploadNotValidatedError extends GvmconvError {
  readonly descriptorSha256: string;
  readonly lastStatus: string | undefined;
  constructor(descriptorSha256: string, attempts: number, lastStatus: string | undefined) {
    super(
      "E_GOLEM_NOT_VALIDATED",
      `the registry did not confirm the upload ${descriptorSha256} after ${attempts} checks (last status: ${lastStatus ?? "none"})`,
      { hint: "run the push again: chunks already stored are not re-sent" },
    );
    this.descriptorSha256 = descriptorSha256;
    this.lastStatus = lastStatus;
  }
}

/** A chunk descriptor (`.descr.bin`) that cannot be parsed or does not match its image. */
export class DescriptorError extends GvmconvError {
  readonly path: string | undefined;
  constructor(message: string, options: { path?: string; cause?: unknown } = {}) {
    super("E_GOLEM_DESCRIPTOR_INVALID", message, { cause: options.cause });
    this.path = options.path;
  }
}

/** `user/repository:tag` that the registry cannot accept. */
export class PushTargetError extends GvmconvError {
  readonly target: string;
  constructor(target: string, message: string, hint?: string) {
    super("E_GOLEM_PUSH_TARGET", message, { hint: hint ?? "use <user>/<repository>:<tag>" });
    this.target = target;
  }
}

/** Stored credentials cannot be read or written. */
export class CredentialsError extends GvmconvError {
  readonly path: string;
  constructor(path: string, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super("E_GOLEM_CREDENTIALS", message, options);
    this.path = path;
  }
}

/** A tagged push without credentials. */
export class MissingCredentialsError extends GvmconvError {
  readonly target: string;
  constructor(target: string) {
    super("E_GOLEM_NO_CREDENTIALS", `pushing to ${target} needs registry credentials`, {
      hint: "set REGISTRY_USER and REGISTRY_TOKEN, run `gvmconv login`, or push anonymously",
    });
    this.target = target;
  }
}

/** The image no longer matches its descriptor (rebuilt or truncated since it was hashed). */
export class ImageChangedError extends GvmconvError {
  readonly path: string;
  constructor(path: string, message: string) {
    super("E_GOLEM_IMAGE_CHANGED", message, { hint: `delete ${path}.descr.bin and push again` });
    this.path = path;
  }
}
