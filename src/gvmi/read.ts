/**
 * Reading a .gvmi the way the Golem VM runtime does (ya-runtime-vm runtime/src/deploy.rs): trailer
 * from the end, CRC32 check, JSON as a bollard ContainerConfig. Also reports what the runtime
 * would silently do differently from what the author likely meant (USER ignored, no volumes),
 * and the SquashFS superblock facts the kernel checks at mount. Powers `gvmconv inspect`/`verify`.
 */
import { open } from "node:fs/promises";
import type { GvmconvErrorCode, GvmconvWarningCode } from "../errors.js";
import { GvmiTrailerError } from "./errors.js";
import { CRC_SIZE, decodeTrailer, decodeTrailerLength, LENGTH_SIZE } from "./trailer.js";

/** SquashFS superblock magic "hsqs" read as a u32 LE. */
const SQUASHFS_MAGIC = 0x73717368;
/** Offset of `bytes_used` (u64 LE) in the SquashFS superblock. */
const BYTES_USED_OFFSET = 40;
const SUPERBLOCK_SIZE = 96;

export interface GvmiTrailerInfo {
  /** Whole file size. */
  size: number;
  /** Bytes before the trailer. */
  squashfsSize: number;
  crc: number;
  /** The JSON text, exactly as stored. */
  json: string;
  /** The parsed JSON object. */
  config: Record<string, unknown>;
}

export interface GvmiIssue {
  /** Stable code from the catalogue: `E_GVMI_…` (the runtime would refuse the image) or `W_GVMI_…`. */
  code: GvmconvErrorCode | GvmconvWarningCode;
  message: string;
}

/** An issue the Golem runtime would refuse the image for (an `E_` code); `W_` issues it tolerates. */
export function isFatalIssue(issue: GvmiIssue): issue is GvmiIssue & { code: GvmconvErrorCode } {
  return issue.code.startsWith("E_");
}

export interface GvmiInfo extends GvmiTrailerInfo {
  /** SquashFS superblock `bytes_used`, when a superblock is present. */
  squashfsBytesUsed: number | undefined;
  /** Problems the runtime would not report but act on (or fail on). Empty when all is well. */
  issues: GvmiIssue[];
}

/** Read and verify only the trailer of the file at `path` (two small reads from the end). */
export async function readGvmiTrailer(path: string): Promise<GvmiTrailerInfo> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    if (size < CRC_SIZE + LENGTH_SIZE) {
      throw new GvmiTrailerError(`file is ${size} bytes, too small for a .gvmi trailer`, { path });
    }
    const last8 = await readAt(handle, size - LENGTH_SIZE, LENGTH_SIZE);
    const length = decodeTrailerLength(last8, path);
    const want = CRC_SIZE + length + LENGTH_SIZE;
    if (want > size) {
      throw new GvmiTrailerError(
        `trailer claims ${length} bytes of JSON but the file is only ${size} bytes`,
        { path },
      );
    }
    const tail = await readAt(handle, size - want, want);
    return parseTrailerTail(tail, size, path);
  } finally {
    await handle.close();
  }
}

/** Parse an in-memory .gvmi (tests, small images). */
export function parseGvmi(bytes: Uint8Array): GvmiInfo {
  const trailer = parseTrailerTail(bytes, bytes.length);
  const sb = bytes.subarray(0, Math.min(SUPERBLOCK_SIZE, trailer.squashfsSize));
  return { ...trailer, ...inspectSquashfs(sb, trailer) };
}

/** Read, verify and inspect the .gvmi at `path`. */
export async function readGvmi(path: string): Promise<GvmiInfo> {
  const trailer = await readGvmiTrailer(path);
  const handle = await open(path, "r");
  let sb: Uint8Array;
  try {
    sb = await readAt(handle, 0, Math.min(SUPERBLOCK_SIZE, trailer.squashfsSize));
  } finally {
    await handle.close();
  }
  return { ...trailer, ...inspectSquashfs(sb, trailer) };
}

function parseTrailerTail(tail: Uint8Array, size: number, path?: string): GvmiTrailerInfo {
  const decoded = decodeTrailer(tail, size, path);
  let config: unknown;
  try {
    config = JSON.parse(decoded.text);
  } catch (cause) {
    throw new GvmiTrailerError("container config is not valid JSON", { path, cause });
  }
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new GvmiTrailerError("container config is not a JSON object", { path });
  }
  return {
    size,
    squashfsSize: decoded.squashfsSize,
    crc: decoded.crc,
    json: decoded.text,
    config: config as Record<string, unknown>,
  };
}

function inspectSquashfs(
  sb: Uint8Array,
  trailer: GvmiTrailerInfo,
): Pick<GvmiInfo, "squashfsBytesUsed" | "issues"> {
  const issues = runtimeIssues(trailer.config);
  let squashfsBytesUsed: number | undefined;
  const view = new DataView(sb.buffer, sb.byteOffset, sb.byteLength);
  if (sb.length < SUPERBLOCK_SIZE || view.getUint32(0, true) !== SQUASHFS_MAGIC) {
    issues.push({
      code: "E_GVMI_NOT_SQUASHFS",
      message: "the image part does not start with a SquashFS superblock",
    });
  } else {
    const used = view.getBigUint64(BYTES_USED_OFFSET, true);
    squashfsBytesUsed = used <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(used) : Number.MAX_SAFE_INTEGER;
    if (squashfsBytesUsed > trailer.squashfsSize) {
      issues.push({
        code: "E_GVMI_SQUASHFS_TRUNCATED",
        message: `SquashFS says it uses ${squashfsBytesUsed} bytes but only ${trailer.squashfsSize} precede the trailer`,
      });
    }
    if (trailer.squashfsSize % 4096 !== 0) {
      issues.push({
        code: "W_GVMI_UNPADDED",
        message: `the SquashFS part (${trailer.squashfsSize} bytes) is not padded to 4 KiB; the VM kernel may refuse to mount it`,
      });
    }
  }
  return { squashfsBytesUsed, issues };
}

/**
 * What the runtime's deserialization and deployment would trip on. Type errors are `E_` (serde
 * fails the deployment); surprises are `W_`.
 */
export function runtimeIssues(config: Record<string, unknown>): GvmiIssue[] {
  const issues: GvmiIssue[] = [];
  const isStringArray = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === "string");
  for (const key of ["Env", "Cmd", "Entrypoint", "OnBuild", "Shell"]) {
    const v = config[key];
    if (v !== undefined && v !== null && !isStringArray(v)) {
      issues.push({ code: "E_GVMI_CONFIG_TYPE", message: `${key} is not an array of strings` });
    }
  }
  for (const key of ["Hostname", "Domainname", "User", "Image", "WorkingDir", "MacAddress", "StopSignal"]) {
    const v = config[key];
    if (v !== undefined && v !== null && typeof v !== "string") {
      issues.push({ code: "E_GVMI_CONFIG_TYPE", message: `${key} is not a string` });
    }
  }
  for (const key of ["Volumes", "ExposedPorts"]) {
    const v = config[key];
    if (v === undefined || v === null) continue;
    const ok =
      typeof v === "object" &&
      !Array.isArray(v) &&
      Object.values(v).every(
        (e) => e !== null && typeof e === "object" && !Array.isArray(e) && Object.keys(e).length === 0,
      );
    if (!ok) issues.push({ code: "E_GVMI_CONFIG_TYPE", message: `${key} must map paths to empty objects` });
  }
  const volumes = config["Volumes"];
  if (
    volumes === undefined ||
    volumes === null ||
    (typeof volumes === "object" && Object.keys(volumes).length === 0)
  ) {
    issues.push({
      code: "W_GVMI_NO_VOLUMES",
      message: "no volumes: files written in the VM live in 128 MiB of RAM",
    });
  }
  const user = config["User"];
  if (typeof user === "string" && user.trim() !== "" && !/^\s*[0-9]+:[0-9]+\s*$/.test(user)) {
    issues.push({
      code: "W_GVMI_USER_NOT_NUMERIC",
      message: `User ${JSON.stringify(user)} is not uid:gid; the runtime runs commands as root (0:0)`,
    });
  }
  return issues;
}

async function readAt(
  handle: Awaited<ReturnType<typeof open>>,
  position: number,
  length: number,
): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new GvmiTrailerError("file shrank while being read");
    done += bytesRead;
  }
  return buf;
}
