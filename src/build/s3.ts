/**
 * Publishing an output to an S3-compatible bucket (AWS, MinIO, Ceph RGW, Garage, …), path-style
 * (`endpoint/bucket/key`, which every S3-compatible server answers), signed with SigV4 by `aws4`
 * over our own HTTP transport (its timeouts and retries).
 *
 * A file up to one part goes in one PUT; a larger one as a multipart upload whose parts are each
 * sent with `Content-MD5` (the server refuses a part that arrived different) and checked against
 * the ETag it answers. The upload is resumable: its id is kept in `<file>.s3-upload.json` beside
 * the file until it completes, and a later run for the same file and key lists the parts the
 * server has, keeps those whose ETag is the MD5 of our bytes, and sends only the rest.
 *
 * Credentials: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else
 * image-build's `S3_ACCESS`/`S3_SECRET`, from the run's environment; never printed.
 */
import { createHash } from "node:crypto";
import { open, readFile, rm, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { lazyModule } from "../lazy-module.js";
import type { XMLParser } from "fast-xml-parser";
import type { Env } from "../context.js";
import { GvmconvError } from "../errors.js";
import { HttpTransport, type Response } from "../http/index.js";
import type { S3Spec } from "./build-file.js";

/** S3's smallest part (all but the last) is 5 MiB; 8 MiB keeps a 10 000-part upload at 80 GB. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
const MAX_XML = 4 * 1024 * 1024;

export class S3PublishError extends GvmconvError {
  constructor(message: string, hint = "", cause?: unknown) {
    super("E_BUILD_PUBLISH", message, { hint, cause });
  }
}

export interface S3Upload {
  /** The object's URL (the spec's `publicUrl` base, else endpoint/bucket). */
  url: string;
  key: string;
  /** Parts sent by this call (0 for a single PUT); those already on the server are not counted. */
  partsSent: number;
  partsReused: number;
}

export interface S3UploadOptions {
  env: Env;
  signal?: AbortSignal;
  partSize?: number;
  /** Called after each part is confirmed (tests interrupt an upload here). */
  onPart?: (partNumber: number) => void;
}

interface UploadState {
  endpoint: string;
  bucket: string;
  key: string;
  uploadId: string;
  size: number;
  partSize: number;
}

/** The credentials a run's environment gives, or a coded error naming the variables. */
export function s3Credentials(env: Env): {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
} {
  const id = env["AWS_ACCESS_KEY_ID"] || env["S3_ACCESS"];
  const secret = env["AWS_SECRET_ACCESS_KEY"] || env["S3_SECRET"];
  if (!id || !secret) {
    throw new S3PublishError(
      "publishing to S3 needs credentials",
      "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or S3_ACCESS and S3_SECRET)",
    );
  }
  const token = env["AWS_SESSION_TOKEN"];
  return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
}

export function objectKey(spec: S3Spec, file: string): string {
  const prefix = spec.prefix ?? "";
  return `${prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`}${basename(file)}`.replace(
    /^\/+/,
    "",
  );
}

export async function uploadToS3(file: string, spec: S3Spec, options: S3UploadOptions): Promise<S3Upload> {
  const credentials = s3Credentials(options.env);
  const key = objectKey(spec, file);
  const partSize = options.partSize ?? DEFAULT_PART_SIZE;
  const client = new S3Client(spec, credentials, options.signal);
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    const url = `${(spec.publicUrl ?? `${spec.endpoint.replace(/\/+$/, "")}/${spec.bucket}`).replace(/\/+$/, "")}/${encodeKey(key)}`;
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      if (bytesRead !== length) throw new S3PublishError(`${file} changed while it was uploaded`);
      return buffer;
    };
    if (size <= partSize) {
      const body = await read(0, size);
      const res = await client.send("PUT", key, "", body, { "content-md5": md5(body, "base64") });
      await expectStatus(res, 200, `PUT ${key}`);
      return { url, key, partsSent: 0, partsReused: 0 };
    }
    const parts = Math.ceil(size / partSize);
    if (parts > MAX_PARTS) {
      throw new S3PublishError(
        `${file} needs ${parts} parts of ${partSize} bytes, more than S3's ${MAX_PARTS}`,
      );
    }
    const statePath = `${file}.s3-upload.json`;
    let state = await readState(statePath);
    const sameUpload =
      state !== undefined &&
      state.endpoint === spec.endpoint &&
      state.bucket === spec.bucket &&
      state.key === key &&
      state.size === size &&
      state.partSize === partSize;
    let done = new Map<number, string>();
    if (sameUpload && state !== undefined) {
      const listed = await client.listParts(key, state.uploadId).catch((err: unknown) => {
        // The server forgot the upload (completed, aborted, expired): start a new one.
        if (err instanceof S3PublishError && /NoSuchUpload/.test(err.message)) return undefined;
        throw err;
      });
      if (listed === undefined) state = undefined;
      else done = listed;
    } else {
      state = undefined;
    }
    if (state === undefined) {
      state = {
        endpoint: spec.endpoint,
        bucket: spec.bucket,
        key,
        uploadId: await client.createUpload(key),
        size,
        partSize,
      };
      await writeFile(statePath, JSON.stringify(state) + "\n");
    }
    const etags: string[] = [];
    let partsSent = 0;
    let partsReused = 0;
    for (let n = 1; n <= parts; n++) {
      const offset = (n - 1) * partSize;
      const body = await read(offset, Math.min(partSize, size - offset));
      const etag = `"${md5(body, "hex")}"`;
      if (done.get(n) === etag) {
        partsReused++;
      } else {
        const res = await client.send(
          "PUT",
          key,
          `partNumber=${n}&uploadId=${encodeURIComponent(state.uploadId)}`,
          body,
          {
            "content-md5": md5(body, "base64"),
          },
        );
        await expectStatus(res, 200, `upload part ${n} of ${key}`);
        const answered = res.headers["etag"];
        if (answered !== etag) {
          throw new S3PublishError(
            `part ${n} of ${key} came back with ETag ${String(answered)}, not the MD5 ${etag} of what was sent`,
          );
        }
        partsSent++;
      }
      etags.push(etag);
      options.onPart?.(n);
    }
    const xml =
      "<CompleteMultipartUpload>" +
      etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join("") +
      "</CompleteMultipartUpload>";
    const res = await client.send(
      "POST",
      key,
      `uploadId=${encodeURIComponent(state.uploadId)}`,
      Buffer.from(xml),
      {
        "content-type": "application/xml",
      },
    );
    // S3 may answer 200 with an <Error> body when completion fails late.
    const body = await readBody(res);
    const parsed = parseXml(body);
    if (res.statusCode !== 200 || parsed["Error"] !== undefined)
      throw s3Error(res.statusCode, parsed, `complete ${key}`);
    await rm(statePath, { force: true });
    return { url, key, partsSent, partsReused };
  } finally {
    await handle.close();
    await client.close();
  }
}

/** Each path segment of a key percent-encoded as SigV4's canonical URI wants it. */
function encodeKey(key: string): string {
  return key
    .split("/")
    .map((s) =>
      encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join("/");
}

function md5(bytes: Buffer, encoding: "hex" | "base64"): string {
  return createHash("md5").update(bytes).digest(encoding);
}

async function readState(path: string): Promise<UploadState | undefined> {
  try {
    const value = JSON.parse(await readFile(path, "utf8")) as Partial<UploadState>;
    return typeof value.uploadId === "string" && typeof value.key === "string"
      ? (value as UploadState)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * aws4 and fast-xml-parser load on first use (both CommonJS): ~180 ms of start-up that every
 * command paid, since the library's entry point imports this module.
 */
const fastXmlParser = lazyModule<typeof import("fast-xml-parser")>("fast-xml-parser");
const aws4 = lazyModule<typeof import("aws4")>("aws4");
let xmlParser: XMLParser | undefined;
function parseXml(text: string): Record<string, unknown> {
  if (text.trim() === "") return {};
  xmlParser ??= new (fastXmlParser().XMLParser)({
    parseTagValue: false,
    isArray: (name) => name === "Part" || name === "Upload",
  });
  return xmlParser.parse(text) as Record<string, unknown>;
}

async function readBody(res: Response): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > MAX_XML) {
      res.body.destroy();
      throw new S3PublishError("the S3 server's answer is larger than any S3 answer should be");
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function s3Error(status: number, parsed: Record<string, unknown>, what: string): S3PublishError {
  const error = parsed["Error"] as { Code?: string; Message?: string } | undefined;
  const code = error?.Code ?? `HTTP ${status}`;
  const hint =
    code === "SignatureDoesNotMatch" || code === "InvalidAccessKeyId"
      ? "check the S3 credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or S3_ACCESS/S3_SECRET)"
      : code === "NoSuchBucket"
        ? "create the bucket first, or fix publish.s3.bucket"
        : "";
  return new S3PublishError(
    `S3 refused ${what}: ${code}${error?.Message ? ` (${error.Message})` : ""}`,
    hint,
  );
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.statusCode === status) {
    await res.body.dump();
    return;
  }
  throw s3Error(res.statusCode, parseXml(await readBody(res).catch(() => "")), what);
}

/** The few S3 calls an upload needs, signed. */
class S3Client {
  readonly #endpoint: URL;
  readonly #bucket: string;
  readonly #region: string;
  readonly #credentials: ReturnType<typeof s3Credentials>;
  readonly #transport: HttpTransport;

  constructor(spec: S3Spec, credentials: ReturnType<typeof s3Credentials>, signal: AbortSignal | undefined) {
    this.#endpoint = new URL(spec.endpoint);
    this.#bucket = spec.bucket;
    this.#region = spec.region ?? "us-east-1";
    this.#credentials = credentials;
    this.#transport = new HttpTransport(signal !== undefined ? { signal } : {});
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }

  /** One signed request; `query` is already encoded. Retried on network failures and 5xx/429. */
  async send(
    method: "GET" | "PUT" | "POST",
    key: string,
    query: string,
    body: Buffer | undefined,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const base = this.#endpoint.pathname.replace(/\/+$/, "");
    const path = `${base}/${this.#bucket}/${encodeKey(key)}${query !== "" ? `?${query}` : ""}`;
    const request = {
      host: this.#endpoint.host,
      method,
      path,
      service: "s3",
      region: this.#region,
      headers: { "content-type": "application/octet-stream", ...headers },
      ...(body !== undefined ? { body } : {}),
      doNotEncodePath: true,
    };
    return await this.#transport.retryResponse(async () => {
      // Signed per attempt: the signature carries the time.
      const signed = aws4().sign({ ...request, headers: { ...request.headers } }, this.#credentials);
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries(signed.headers ?? {}))
        if (v !== undefined && k.toLowerCase() !== "host") h[k] = String(v);
      return await this.#transport.request(`${this.#endpoint.protocol}//${this.#endpoint.host}${path}`, {
        method,
        headers: h,
        ...(body !== undefined ? { body } : {}),
      });
    });
  }

  async createUpload(key: string): Promise<string> {
    const res = await this.send("POST", key, "uploads=", undefined);
    const parsed = parseXml(await readBody(res));
    if (res.statusCode !== 200) throw s3Error(res.statusCode, parsed, `start a multipart upload of ${key}`);
    const id = (parsed["InitiateMultipartUploadResult"] as { UploadId?: unknown } | undefined)?.UploadId;
    if (typeof id !== "string" || id === "")
      throw new S3PublishError(`the S3 server started an upload of ${key} without an UploadId`);
    return id;
  }

  /**
   * The parts the server holds: part number → ETag. Pages followed, at most MAX_PARTS parts.
   * The root element is `ListPartsResult` (AWS); moto names it `ListPartsResponse`.
   */
  async listParts(key: string, uploadId: string): Promise<Map<number, string>> {
    const parts = new Map<number, string>();
    let marker = "";
    for (let page = 0; page < MAX_PARTS; page++) {
      const query = `${marker !== "" ? `part-number-marker=${marker}&` : ""}uploadId=${encodeURIComponent(uploadId)}`;
      const res = await this.send("GET", key, query, undefined);
      const parsed = parseXml(await readBody(res));
      if (res.statusCode !== 200) throw s3Error(res.statusCode, parsed, `list the parts of ${key}`);
      const result = (parsed["ListPartsResult"] ?? parsed["ListPartsResponse"] ?? {}) as {
        Part?: { PartNumber?: string; ETag?: string }[];
        IsTruncated?: string;
        NextPartNumberMarker?: string;
      };
      for (const p of result.Part ?? []) {
        const n = Number(p.PartNumber);
        if (Number.isInteger(n) && n >= 1 && n <= MAX_PARTS && typeof p.ETag === "string")
          parts.set(n, p.ETag);
      }
      if (
        result.IsTruncated !== "true" ||
        !result.NextPartNumberMarker ||
        result.NextPartNumberMarker === marker
      )
        break;
      marker = result.NextPartNumberMarker;
    }
    return parts;
  }
}
