/**
 * The Docker `ContainerConfig` JSON stored in the .gvmi trailer.
 *
 * The Golem VM runtime deserializes it as bollard's `ContainerConfig` (PascalCase keys, every field
 * optional). It uses `Env` (every command), `WorkingDir` (cwd), `Volumes` keys (host-mounted
 * volumes), `User` (`uid:gid` or root) and `Entrypoint`/`Cmd` (only when the requestor starts the
 * entrypoint). gvmkit-build-rs (src/image/builder.rs) writes what `docker inspect` reports for a
 * fresh container, with `Domainname` emptied and `User` removed; we emit the same keys in the Docker
 * API's field order, minus `Hostname` (the throwaway container id, which would make output
 * non-deterministic; the runtime sets its own hostname).
 *
 * Types matter: serde fails the whole deployment on a mistyped field, so values copied from the
 * image config are checked here rather than passed through. `Volumes` and `ExposedPorts` values must
 * be empty objects (`HashMap<String, HashMap<(), ()>>` in bollard).
 */
import { posix } from "node:path";
import type { Reporter } from "../reporter.js";
import { silentReporter } from "../reporter.js";
import { GvmiConfigError, GvmiImageIdError } from "./errors.js";
import { resolveUser } from "./user.js";

/** The `config` object of an OCI/Docker image config (the fields we read; others are ignored). */
export interface ImageRuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, unknown> | null;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, unknown> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: unknown;
  OnBuild?: string[] | null;
  Shell?: string[] | null;
  StopTimeout?: number;
}

/** Bollard `HealthConfig` (durations in nanoseconds). */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
  StartInterval?: number;
}

/** The JSON object written to the trailer; key insertion order is the serialized order. */
export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[];
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  Image?: string;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Entrypoint?: string[];
  NetworkDisabled?: boolean;
  MacAddress?: string;
  OnBuild?: string[];
  Labels?: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[];
}

/** What the user may change (gvmkit-build's --env/--vol/--entrypoint, plus ours). */
export interface ContainerConfigOverrides {
  /** `KEY=VALUE` items; replace an image variable of the same KEY or are appended. */
  env?: readonly string[];
  /** Replaces the image's ENTRYPOINT; as with `docker run --entrypoint`, the image's CMD is dropped unless `cmd` is given. */
  entrypoint?: readonly string[];
  /** Replaces the image's CMD. */
  cmd?: readonly string[];
  /** Replaces WORKDIR; must be absolute. */
  workdir?: string;
  /** Extra volume directories (absolute). */
  volumes?: readonly string[];
  /**
   * Keep the image's USER, resolved to `uid:gid` through the image's own /etc/passwd and /etc/group.
   * Off by default, as gvmkit-build: it always drops USER, so images run as root.
   */
  keepUser?: boolean;
}

export interface BuildContainerConfigInput {
  /** The image id (`sha256:<hex>`, the digest of the image config blob). */
  imageId: string;
  /** The image config's `config` object; absent or null for an image without one. */
  config?: ImageRuntimeConfig | null;
  overrides?: ContainerConfigOverrides;
  /** Contents of the merged tree's /etc/passwd and /etc/group, needed only with `keepUser`. */
  userFiles?: { passwd?: string | Uint8Array; group?: string | Uint8Array };
  reporter?: Reporter;
}

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;
const ENV_KEY = /^[^=]+$/;

/** Build the container config the VM runtime will read. Warns `W_GVMI_NO_VOLUMES`, `W_GVMI_USER_DROPPED`. */
export function buildContainerConfig(input: BuildContainerConfigInput): ContainerConfig {
  const { imageId, overrides = {}, reporter = silentReporter } = input;
  if (!IMAGE_ID.test(imageId)) throw new GvmiImageIdError(imageId);
  const image = input.config ?? {};

  const env = mergeEnv(stringArray(image.Env, "Env") ?? [], overrides.env ?? []);
  let entrypoint = stringArray(image.Entrypoint, "Entrypoint");
  let cmd = stringArray(image.Cmd, "Cmd");
  if (overrides.entrypoint !== undefined) {
    entrypoint = [...overrides.entrypoint];
    cmd = undefined;
  }
  if (overrides.cmd !== undefined) cmd = [...overrides.cmd];

  let workdir = optionalString(image.WorkingDir, "WorkingDir") ?? "";
  if (overrides.workdir !== undefined) {
    if (!overrides.workdir.startsWith("/")) {
      throw new GvmiConfigError(
        "WorkingDir",
        `working directory ${JSON.stringify(overrides.workdir)} is not absolute`,
        { hint: "give an absolute path, e.g. --workdir /app" },
      );
    }
    workdir = overrides.workdir;
  }

  const volumes: Record<string, Record<string, never>> = {};
  for (const path of Object.keys(objectOrEmpty(image.Volumes, "Volumes")))
    volumes[normalizeVolume(path)] = {};
  for (const path of overrides.volumes ?? []) volumes[normalizeVolume(path)] = {};
  if (Object.keys(volumes).length === 0) {
    reporter.warn({
      code: "W_GVMI_NO_VOLUMES",
      message:
        "the image declares no VOLUME and none was added: a Golem VM needs at least one volume, " +
        "and files written outside volumes live in 128 MiB of RAM (add one with --volume)",
    });
  }

  const imageUser = optionalString(image.User, "User") ?? "";
  let user: string | undefined;
  if (overrides.keepUser) {
    user = resolveUser(imageUser, input.userFiles ?? {});
  } else if (imageUser.trim() !== "" && !isRoot(imageUser)) {
    reporter.warn({
      code: "W_GVMI_USER_DROPPED",
      message: `the image's USER ${JSON.stringify(imageUser)} is not kept: the VM runs commands as root (use --keep-user to keep it)`,
    });
  }

  const exposed: Record<string, Record<string, never>> = {};
  for (const port of Object.keys(objectOrEmpty(image.ExposedPorts, "ExposedPorts"))) exposed[port] = {};

  // Insertion order below is the serialized order: the Docker API's ContainerConfig field order.
  const out: ContainerConfig = { Domainname: "" };
  if (user !== undefined) out.User = user;
  out.AttachStdin = false;
  out.AttachStdout = false;
  out.AttachStderr = false;
  if (Object.keys(exposed).length > 0) out.ExposedPorts = exposed;
  out.Tty = false;
  out.OpenStdin = false;
  out.StdinOnce = false;
  if (env.length > 0) out.Env = env;
  if (cmd !== undefined) out.Cmd = cmd;
  const health = healthConfig(image.Healthcheck);
  if (health !== undefined) out.Healthcheck = health;
  if (typeof image.ArgsEscaped === "boolean") out.ArgsEscaped = image.ArgsEscaped;
  out.Image = imageId;
  if (Object.keys(volumes).length > 0) out.Volumes = volumes;
  out.WorkingDir = workdir;
  if (entrypoint !== undefined) out.Entrypoint = entrypoint;
  const onBuild = stringArray(image.OnBuild, "OnBuild");
  if (onBuild !== undefined) out.OnBuild = onBuild;
  out.Labels = stringRecord(image.Labels, "Labels");
  const stopSignal = optionalString(image.StopSignal, "StopSignal");
  if (stopSignal !== undefined && stopSignal !== "") out.StopSignal = stopSignal;
  if (Number.isSafeInteger(image.StopTimeout)) out.StopTimeout = image.StopTimeout;
  const shell = stringArray(image.Shell, "Shell");
  if (shell !== undefined) out.Shell = shell;
  return out;
}

/** The trailer's JSON bytes: compact, like serde_json::to_vec. */
export function serializeContainerConfig(config: ContainerConfig): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(config));
}

function isRoot(user: string): boolean {
  const name = user.trim().split(":")[0];
  return name === "root" || name === "0";
}

function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = [...base];
  for (const item of extra) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    if (eq < 0 || !ENV_KEY.test(key)) {
      throw new GvmiConfigError("Env", `environment override ${JSON.stringify(item)} is not KEY=VALUE`, {
        hint: "write it as --env KEY=VALUE",
      });
    }
    const at = out.findIndex((e) => e === key || e.startsWith(key + "="));
    if (at >= 0) out[at] = item;
    else out.push(item);
  }
  return out;
}

/** Volumes come from the image's VOLUME and from --vol alike. */
const VOLUME_HINT = { hint: "a volume is an absolute directory other than /, e.g. --vol /golem/work" };

function normalizeVolume(path: string): string {
  if (!path.startsWith("/")) {
    throw new GvmiConfigError(
      "Volumes",
      `volume ${JSON.stringify(path)} is not an absolute path`,
      VOLUME_HINT,
    );
  }
  const norm = posix.normalize(path).replace(/\/+$/, "");
  // A volume at "/" would hide the whole image behind an empty host directory; the runtime
  // rejects host mounts there (deploy.rs).
  if (norm === "") throw new GvmiConfigError("Volumes", "a volume cannot be mounted at /", VOLUME_HINT);
  return norm;
}

/** What to do about a config field of the wrong JSON type (the image-spec schema's types). */
const FIELD_TYPE_HINT = { hint: "the image config was written by a broken tool; rebuild the image" };

function stringArray(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new GvmiConfigError(
      field,
      `image config field ${field} is not an array of strings`,
      FIELD_TYPE_HINT,
    );
  }
  return [...(value as string[])];
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string")
    throw new GvmiConfigError(field, `image config field ${field} is not a string`, FIELD_TYPE_HINT);
  return value;
}

function objectOrEmpty(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new GvmiConfigError(field, `image config field ${field} is not an object`, FIELD_TYPE_HINT);
  }
  return value as Record<string, unknown>;
}

function stringRecord(value: unknown, field: string): Record<string, string> {
  const obj = objectOrEmpty(value, field);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== "string")
      throw new GvmiConfigError(
        field,
        `image config ${field}[${JSON.stringify(k)}] is not a string`,
        FIELD_TYPE_HINT,
      );
    out[k] = v;
  }
  return out;
}

/** Keep only well-typed HealthConfig fields; a HEALTHCHECK is never run in a VM, but the incumbent carries it. */
function healthConfig(value: unknown): HealthConfig | undefined {
  if (value === undefined || value === null || typeof value !== "object" || Array.isArray(value))
    return undefined;
  const src = value as Record<string, unknown>;
  const out: HealthConfig = {};
  const test = src["Test"];
  if (Array.isArray(test) && test.every((t) => typeof t === "string")) out.Test = [...(test as string[])];
  for (const key of ["Interval", "Timeout", "Retries", "StartPeriod", "StartInterval"] as const) {
    const v = src[key];
    if (typeof v === "number" && Number.isSafeInteger(v)) out[key] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
