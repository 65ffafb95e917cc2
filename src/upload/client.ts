/**
 * HTTP client for the Golem image registry (registry.golem.network), speaking exactly what
 * gvmkit-build-rs src/upload.rs sends. The server is not public; the endpoints:
 *
 *   GET  /v1/image/descr/{descr_sha256}          → JSON {descriptor: "ok"|…, version?, status?: "full"|…,
 *                                                   chunks?: [0|1 per chunk]}  (what the server holds)
 *   POST /v1/image/push/descr                    multipart: file (the descriptor bytes)
 *   POST /v1/image/push/chunk                    multipart: descr-sha256, chunk-no, chunk-sha256,
 *                                                   chunk-pos, chunk-len, file (the chunk bytes)
 *   POST /v1/image/descr/attach/{descr_sha256}   multipart: tag, username, repository, login, token[, check=true]
 *   POST /auth/pat/login                         JSON {username, password} → 200 ok / 401 wrong
 *
 * The descriptor is public once pushed, at `{registry}/download/{descr_sha256}`.
 */
import { openAsBlob } from "node:fs";
import type { Dispatcher, FormData } from "undici";
import { HttpTransport, sleep, undici, type Timeouts } from "../http/index.js";
import {
  redact,
  RegistryAuthError,
  RegistryHttpError,
  RegistryNetworkError,
  RegistryProtocolError,
  UploadNotValidatedError,
} from "./errors.js";
import type { FileChunk } from "./descriptor.js";
import { rememberSecret } from "../redact.js";
import { formatPushTarget, type PushTarget } from "./push-target.js";

export const DEFAULT_REGISTRY_URL = "https://registry.golem.network";

/**
 * `REGISTRY_URL` (as gvmkit-build reads it) or the public registry; trailing slashes dropped.
 * `env` is the run's environment, passed in: the library never reads `process.env` itself.
 */
export function registryUrlFromEnv(env: NodeJS.ProcessEnv): string {
  const url = env["REGISTRY_URL"]?.trim() || DEFAULT_REGISTRY_URL;
  return url.replace(/\/+$/, "");
}

/** What `GET /v1/image/descr/{sha}` reports. */
export interface UploadStatus {
  /** `"ok"` when the server has the descriptor; anything else means it must be pushed. */
  descriptor: string;
  version?: number;
  /** `"full"` once every chunk is stored and verified. */
  status?: string;
  /** One entry per chunk, 1 = already stored. */
  chunks?: number[];
}

export interface AttachResult {
  url: string;
  user: string;
  repository: string;
  tag: string;
  /** The server's answer, as text. */
  response: string;
}

export interface RegistryClientOptions {
  /**
   * Registry base URL; default the public registry. Callers honouring `REGISTRY_URL` pass
   * `registryUrlFromEnv(env)`.
   */
  url?: string;
  /** undici dispatcher (connection pool); tests pass their own. Our headers/body timeouts still apply. */
  dispatcher?: Dispatcher;
  /**
   * Connect 30 s; headers and body idle 300 s each, because the registry answers a chunk only
   * once it has stored it (on NFS, says upload.rs) and large chunks on slow links take a while.
   */
  timeouts?: Timeouts;
}

/** Headers and body-idle timeout of registry requests, ms (see `RegistryClientOptions.timeouts`). */
const SLOW_SERVER_TIMEOUT_MS = 300_000;

/**
 * Each method is one request; chunks are retried by `uploadChunks` (upload.ts), which reports
 * every retry, with the shared policy of src/http.
 */
export class GolemRegistryClient {
  readonly url: string;
  readonly #transport: HttpTransport;

  constructor(options: RegistryClientOptions = {}) {
    this.url = (options.url ?? DEFAULT_REGISTRY_URL).replace(/\/+$/, "");
    this.#transport = new HttpTransport({
      ...(options.dispatcher !== undefined ? { dispatcher: options.dispatcher } : {}),
      timeouts: { headersMs: SLOW_SERVER_TIMEOUT_MS, bodyMs: SLOW_SERVER_TIMEOUT_MS, ...options.timeouts },
    });
  }

  /** Close our connection pool (not a dispatcher passed in). */
  async close(): Promise<void> {
    await this.#transport.close();
  }

  /** Public link to the pushed descriptor (the incumbent prints it as the download link). */
  downloadUrl(descrSha256: string): string {
    return `${this.url}/download/${descrSha256}`;
  }

  /** What the server holds for this descriptor. */
  async getStatus(descrSha256: string): Promise<UploadStatus> {
    const endpoint = `/v1/image/descr/${descrSha256}`;
    const res = await this.#request(endpoint, { method: "GET" });
    const text = await res.text;
    // gvmkit-build parses the body as JSON whatever the status, so an unknown descriptor may come
    // back as 404 with {"descriptor": "..."}; accept any status whose body has that shape.
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (isStatus(body)) return body;
    if (res.status === 404) return { descriptor: "not-found" };
    if (res.status !== 200) throw new RegistryHttpError(endpoint, res.status, text);
    throw new RegistryProtocolError(endpoint, "status response is not {descriptor, status, chunks} JSON");
  }

  /** Register the descriptor (idempotent on the server side). */
  async pushDescriptor(bytes: Uint8Array): Promise<void> {
    const endpoint = "/v1/image/push/descr";
    const form = new (undici().FormData)();
    form.append("file", new Blob([bytes], { type: "application/octet-stream" }), "descriptor.txt");
    const res = await this.#request(endpoint, { method: "POST", body: form });
    if (res.status < 200 || res.status >= 300)
      throw new RegistryHttpError(endpoint, res.status, await res.text);
    await res.text;
  }

  /**
   * Send one chunk of the file at `path`. The chunk is streamed from disk (a lazily read Blob slice),
   * never held whole in memory; a file modified since `openAsBlob` fails the read instead of sending
   * mixed bytes.
   */
  async pushChunk(descrSha256: string, chunk: FileChunk, file: Blob): Promise<void> {
    const endpoint = "/v1/image/push/chunk";
    const form = new (undici().FormData)();
    form.append("descr-sha256", descrSha256);
    form.append("chunk-no", String(chunk.no));
    form.append("chunk-sha256", chunk.sha256);
    form.append("chunk-pos", String(chunk.pos));
    form.append("chunk-len", String(chunk.len));
    form.append(
      "file",
      file.slice(chunk.pos, chunk.pos + chunk.len, "application/octet-stream"),
      "descriptor.txt",
    );
    const res = await this.#request(endpoint, { method: "POST", body: form });
    const text = await res.text;
    if (res.status < 200 || res.status >= 300) throw new RegistryHttpError(endpoint, res.status, text);
  }

  /**
   * Tag the upload as `user/repository:tag`. With `check`, only ask whether it would be allowed
   * (the incumbent does this before sending chunks, so a bad token fails early).
   */
  async attach(
    descrSha256: string,
    target: PushTarget,
    credentials: { user: string; token: string },
    options: { check?: boolean } = {},
  ): Promise<AttachResult> {
    const endpoint = `/v1/image/descr/attach/${descrSha256}`;
    rememberSecret(credentials.token);
    if (!target.user) throw new RegistryProtocolError(endpoint, "the push target needs a user part");
    const form = new (undici().FormData)();
    form.append("tag", target.tag);
    form.append("username", target.user);
    form.append("repository", target.repository);
    form.append("login", credentials.user);
    form.append("token", credentials.token);
    if (options.check) form.append("check", "true");
    const res = await this.#request(endpoint, { method: "POST", body: form }, [credentials.token]);
    const text = redact(await res.text, [credentials.token]);
    if (res.status === 401 || res.status === 403) {
      throw new RegistryAuthError(
        credentials.user,
        `${credentials.user} may not push to ${formatPushTarget(target)}${text ? `: ${text}` : ""}`,
        res.status,
      );
    }
    if (res.status !== 200) throw new RegistryHttpError(endpoint, res.status, text);
    return {
      url: this.url,
      user: target.user,
      repository: target.repository,
      tag: target.tag,
      response: text,
    };
  }

  /** True when the user name and personal access token are accepted; false on 401. */
  async checkLogin(user: string, token: string): Promise<boolean> {
    const endpoint = "/auth/pat/login";
    rememberSecret(token);
    const res = await this.#request(
      endpoint,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: user, password: token }),
      },
      [token],
    );
    const text = redact(await res.text, [token]);
    if (res.status === 200) return true;
    if (res.status === 401) return false;
    throw new RegistryHttpError(endpoint, res.status, text);
  }

  /**
   * After the last chunk the registry needs a moment (it stores chunks on NFS, says upload.rs) before
   * it reports `status: "full"`. Poll up to `attempts` times, `intervalMs` apart (incumbent: 6 × 5 s).
   */
  async waitUntilComplete(
    descrSha256: string,
    options: { attempts?: number; intervalMs?: number; signal?: AbortSignal } = {},
  ): Promise<UploadStatus> {
    const attempts = options.attempts ?? 6;
    const intervalMs = options.intervalMs ?? 5000;
    let last: UploadStatus | undefined;
    for (let i = 1; i <= attempts; i++) {
      last = await this.getStatus(descrSha256);
      if (last.status === "full") return last;
      if (i < attempts) await sleep(intervalMs, options.signal);
    }
    throw new UploadNotValidatedError(descrSha256, attempts, last?.status);
  }

  async #request(
    endpoint: string,
    init: { method: string; body?: FormData | string; headers?: Record<string, string> },
    secrets: string[] = [],
  ): Promise<{ status: number; text: Promise<string> }> {
    try {
      // undici's fetch rather than the transport's request(): it encodes the multipart forms
      // (streaming the Blob slices from disk) and decodes compressed answers, as before.
      // Redirects are not followed: a 307 would re-send the form, personal access token included,
      // to whatever host it names (fetch strips only the Authorization header across origins).
      const res = await undici().fetch(this.url + endpoint, {
        ...init,
        redirect: "manual",
        dispatcher: this.#transport.dispatcher,
      });
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel().catch(() => {});
        const location = res.headers.get("location") ?? "nowhere";
        throw new RegistryHttpError(endpoint, res.status, `a redirect to ${location}, not followed`, {
          hint: "the upload protocol has no redirects: set REGISTRY_URL to the registry's own address",
        });
      }
      // Read the body lazily but always, so the connection returns to the pool. A body that
      // stalls or trickles (the transport's body timeout and minimum rate) is a network failure,
      // not an empty answer.
      const text = res.text().then(
        (t) => redact(t, secrets),
        (cause: unknown) => {
          throw new RegistryNetworkError(
            this.url + endpoint,
            redactCause(cause, secrets),
            this.#transport.timeouts,
          );
        },
      );
      // Every caller awaits it; this only keeps a rejection before that from counting as unhandled.
      text.catch(() => {});
      return { status: res.status, text };
    } catch (cause) {
      if (cause instanceof RegistryHttpError) throw cause;
      throw new RegistryNetworkError(
        this.url + endpoint,
        redactCause(cause, secrets),
        this.#transport.timeouts,
      );
    }
  }
}

/** Open the image as a lazily read Blob for `pushChunk`. */
export function openFileBlob(path: string): Promise<Blob> {
  return openAsBlob(path) as Promise<Blob>;
}

function isStatus(v: unknown): v is UploadStatus {
  if (v === null || typeof v !== "object") return false;
  const o = v as Record<string, unknown>;
  if (typeof o["descriptor"] !== "string") return false;
  if (o["status"] !== undefined && o["status"] !== null && typeof o["status"] !== "string") return false;
  if (o["chunks"] !== undefined && o["chunks"] !== null && !Array.isArray(o["chunks"])) return false;
  if (o["status"] === null) delete o["status"];
  if (o["chunks"] === null) delete o["chunks"];
  return true;
}

function redactCause(cause: unknown, secrets: string[]): unknown {
  if (secrets.length === 0 || !(cause instanceof Error)) return cause;
  // undici's fetch wraps the real socket error in `cause`; neither carries the request body, but
  // we rewrite the messages defensively so nothing derived from the token can leak.
  cause.message = redact(cause.message, secrets);
  const inner = (cause as { cause?: unknown }).cause;
  if (inner instanceof Error) inner.message = redact(inner.message, secrets);
  return cause;
}
