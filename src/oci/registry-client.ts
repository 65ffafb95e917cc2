/**
 * A distribution-spec v2 client for pulling: manifests and blobs, token/Basic auth, redirects
 * that never carry `Authorization` to another host, retries with backoff on 408/429/5xx and
 * dropped connections (the shared policy of src/http). One client per registry endpoint; it owns
 * its connection pool.
 */
import type { Readable } from "node:stream";
import {
  HttpNetworkError,
  HttpTransport,
  isRetryableNetworkError,
  type Response,
  type RetryOptions,
  type Timeouts,
} from "../http/index.js";
import { parseAuthChallenges, type AuthChallenge } from "./auth-challenge.js";
import type { CredentialSource, Credentials } from "./credentials.js";
import { digestOf, verifyBytes } from "./digest.js";
import {
  AuthFailedError,
  AuthRequiredError,
  NetworkError,
  NotFoundError,
  RegistryError,
  TooLargeError,
} from "./errors.js";
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from "./manifest.js";
import { isLoopbackRegistry } from "./reference.js";
import { rememberBasicCredentials, rememberSecret } from "../redact.js";
import { GvmconvError } from "../errors.js";
import { TokenCache } from "./token-cache.js";

/**
 * Retries: `retries` (default 5), `retryDelayMs` (default 500), `maxRetryDelayMs` (default 30 s),
 * `maxRetryAfterMs` (default 60 s); see src/http/backoff.ts.
 */
export interface RegistryClientOptions extends RetryOptions {
  /** Connect 30 s, headers 120 s, body idle 120 s unless overridden. */
  timeouts?: Timeouts;
  /** Allow plain HTTP and unverified TLS for this registry (Docker's "insecure registry"). */
  insecure?: boolean;
  credentials?: CredentialSource;
  signal?: AbortSignal;
  userAgent?: string;
  /** Shared token cache (one per process is fine). */
  tokenCache?: TokenCache;
}

export interface BlobResponse {
  /** Raw (possibly compressed) bytes of the blob from `start` on. */
  body: Readable;
  /** Offset the body starts at: the requested one if the server honoured `Range`, else 0. */
  start: number;
  /** Content-Length of this response, when given. */
  length: number | undefined;
}

/** Layer blobs can sit behind slow storage: wait longer for headers than the transport's 60 s. */
const HEADERS_TIMEOUT_MS = 120_000;
const MAX_REDIRECTS = 10;
const MAX_ERROR_BODY = 64 * 1024;
const MAX_TOKEN_BODY = 1024 * 1024;

/** Read a body into memory, refusing more than `max` bytes. */
export async function readCapped(body: Readable, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > max) {
      body.destroy();
      throw new TooLargeError(`${what} is larger than ${max} bytes`, max);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** The distribution-spec error envelope `{"errors":[{"code","message","detail"}]}`. */
export function parseErrorEnvelope(body: Buffer): { code: string; message: string }[] {
  try {
    const v = JSON.parse(body.toString("utf8")) as { errors?: unknown };
    if (!Array.isArray(v.errors)) return [];
    return v.errors
      .filter(
        (e): e is { code: string; message?: unknown } =>
          typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string",
      )
      .map((e) => ({ code: e.code, message: typeof e.message === "string" ? e.message : "" }));
  } catch {
    return [];
  }
}

type Headers = Record<string, string>;
type Resp = Response;

export class RegistryClient {
  /** Normalized registry name (`docker.io`), used for credentials and messages. */
  readonly registry: string;
  /** Host[:port] actually contacted (`registry-1.docker.io`). */
  readonly endpoint: string;
  readonly #opts: RegistryClientOptions;
  readonly #transport: HttpTransport;
  readonly #tokens: TokenCache;
  readonly #inflightTokens = new Map<string, Promise<string>>();
  #base: Promise<string> | undefined;
  /** The last challenge this registry sent; requests after the first carry credentials up front. */
  #challenge: AuthChallenge | undefined;
  #credentials: Promise<Credentials | undefined> | undefined;

  constructor(registry: string, endpoint: string, opts: RegistryClientOptions = {}) {
    this.registry = registry;
    this.endpoint = endpoint;
    this.#opts = opts;
    this.#tokens = opts.tokenCache ?? new TokenCache();
    // The retry fields, `insecure` and `signal` are the transport's; it ignores the rest.
    this.#transport = new HttpTransport({
      ...opts,
      timeouts: { headersMs: HEADERS_TIMEOUT_MS, ...opts.timeouts },
    });
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }

  /** Fetch a manifest or index by tag or digest; verifies the digest when `ref` is one. */
  async getManifest(
    repository: string,
    ref: string,
  ): Promise<{ bytes: Buffer; mediaType: string | undefined; digest: string }> {
    const { res, bytes } = await this.#requestBytes(
      repository,
      `/v2/${repository}/manifests/${ref}`,
      { accept: MANIFEST_ACCEPT.join(", ") },
      "manifest",
      MAX_MANIFEST_BYTES,
      `manifest ${repository}:${ref}`,
    );
    const digest = ref.includes(":") ? ref : digestOf(bytes);
    if (ref.includes(":")) verifyBytes(bytes, ref, `manifest ${repository}@${ref}`);
    const ct = res.headers["content-type"];
    return { bytes, mediaType: typeof ct === "string" ? ct : undefined, digest };
  }

  /** A small blob (config) in memory, verified. */
  async getBlobBytes(repository: string, digest: string, max: number): Promise<Buffer> {
    const { bytes } = await this.#requestBytes(
      repository,
      `/v2/${repository}/blobs/${digest}`,
      {},
      "blob",
      max,
      `blob ${digest}`,
    );
    verifyBytes(bytes, digest, `blob ${repository}@${digest}`);
    return bytes;
  }

  /**
   * Open a blob from `offset` (Range when > 0). Retries happen before the body starts; a body that
   * breaks mid-way is the caller's to resume with a new offset.
   */
  async openBlob(repository: string, digest: string, offset = 0): Promise<BlobResponse> {
    const headers: Headers = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.#request(repository, `/v2/${repository}/blobs/${digest}`, headers, "blob");
    return blobResponse(res, offset);
  }

  /** Open a foreign layer from one of its descriptor `urls` (no registry credentials are sent). */
  async openUrl(url: string, offset = 0): Promise<BlobResponse> {
    const headers: Headers = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.#withRetry(url, () => this.#follow("GET", url, headers, undefined));
    if (res.statusCode >= 400) throw await this.#statusError(res, url, "blob");
    return blobResponse(res, offset);
  }

  // ---- internals ---------------------------------------------------------------------------

  async #baseUrl(): Promise<string> {
    this.#base ??= (async () => {
      if (this.#opts.insecure !== true && !isLoopbackRegistry(this.endpoint))
        return `https://${this.endpoint}`;
      // Like Docker for insecure and loopback registries: HTTPS first, plain HTTP if TLS fails.
      try {
        const res = await this.#transport.request(`https://${this.endpoint}/v2/`, {
          headers: this.#userAgent(),
        });
        await res.body.dump();
        return `https://${this.endpoint}`;
      } catch (err) {
        if (this.#opts.signal?.aborted === true) throw err;
        return `http://${this.endpoint}`;
      }
    })();
    return await this.#base;
  }

  #userAgent(): Headers {
    return { "user-agent": this.#opts.userAgent ?? "gvmconv" };
  }

  async #creds(repository: string): Promise<Credentials | undefined> {
    this.#credentials ??= (
      this.#opts.credentials?.lookup(this.registry, repository) ?? Promise.resolve(undefined)
    ).then((c) => {
      // From here on no message may carry them, whatever a registry echoes (src/redact.ts).
      if (c !== undefined) {
        rememberBasicCredentials(c.username, c.password);
        rememberSecret(c.identityToken);
      }
      return c;
    });
    return await this.#credentials;
  }

  /**
   * `#request`, then its whole body (at most `max` bytes). A body that stalls, trickles or is cut
   * fails below HTTP after the headers came, so `#request`'s retries never saw it: it is retried
   * here with the same policy, and when retries run out it is `E_OCI_NETWORK`, not a raw undici
   * error. (Failures `#request` already retried are not retried again.)
   */
  async #requestBytes(
    repository: string,
    path: string,
    headers: Headers,
    what: string,
    max: number,
    label: string,
  ): Promise<{ res: Resp; bytes: Buffer }> {
    const url = `${await this.#baseUrl()}${path}`;
    try {
      return await this.#transport.retry(
        async () => {
          const res = await this.#request(repository, path, headers, what);
          return { res, bytes: await readCapped(res.body, max, label) };
        },
        { retryError: (err) => !(err instanceof GvmconvError) && isRetryableNetworkError(err) },
      );
    } catch (err) {
      if (err instanceof GvmconvError || this.#opts.signal?.aborted === true) throw err;
      if (err instanceof Error && err.name === "AbortError") throw err;
      const detail = describeNetworkFailure(url, err, this.#transport.timeouts);
      throw new NetworkError(url, `request failed: ${detail}`, { cause: err });
    }
  }

  /** An authenticated request to the registry, with the token dance and retries. */
  async #request(repository: string, path: string, headers: Headers, what: string): Promise<Resp> {
    const url = `${await this.#baseUrl()}${path}`;
    const scope = `repository:${repository}:pull`;
    let freshAuth = false;
    for (let round = 0; round < 3; round++) {
      const auth = await this.#authorization(repository, scope, false);
      const res = await this.#withRetry(url, () => this.#follow("GET", url, headers, auth));
      if (res.statusCode === 401) {
        const challenges = parseAuthChallenges(res.headers["www-authenticate"]);
        const body = await readCapped(res.body, MAX_ERROR_BODY, "error body").catch(() => Buffer.alloc(0));
        const creds = await this.#creds(repository);
        const fields = {
          statusCode: 401,
          url,
          details: parseErrorEnvelope(body),
          registryCode: parseErrorEnvelope(body)[0]?.code,
        };
        const challenge =
          challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
        if (challenge === undefined || freshAuth) {
          if (creds === undefined) throw new AuthRequiredError(this.registry, fields);
          throw new AuthFailedError(
            this.registry,
            `${this.registry} refused the credentials for ${repository} (HTTP 401)`,
            fields,
          );
        }
        if (challenge.scheme === "basic" && creds === undefined)
          throw new AuthRequiredError(this.registry, fields);
        this.#challenge = challenge;
        await this.#authorization(repository, challenge.params.scope ?? scope, true);
        freshAuth = true;
        continue;
      }
      if (res.statusCode >= 400) throw await this.#statusError(res, url, what, repository);
      return res;
    }
    throw new AuthFailedError(this.registry, `authentication with ${this.registry} did not settle`, {
      statusCode: 401,
      url,
    });
  }

  /** The Authorization header for the current challenge; `refresh` forces a new token. */
  async #authorization(repository: string, scope: string, refresh: boolean): Promise<string | undefined> {
    const ch = this.#challenge;
    if (ch === undefined) return undefined;
    const creds = await this.#creds(repository);
    if (ch.scheme === "basic") return creds !== undefined ? basicAuth(creds) : undefined;
    if (ch.scheme !== "bearer") return undefined;
    const realm = ch.params.realm;
    if (realm === undefined)
      throw new AuthFailedError(this.registry, `${this.registry} sent a Bearer challenge without a realm`, {
        statusCode: 401,
        url: this.endpoint,
      });
    const service = ch.params.service;
    const key = TokenCache.key(
      realm,
      service,
      scope,
      creds === undefined ? "" : `${creds.username}\u0000${creds.identityToken !== undefined ? "id" : ""}`,
    );
    if (refresh) this.#tokens.delete(key);
    const cached = this.#tokens.get(key);
    if (cached !== undefined) return `Bearer ${cached}`;
    let inflight = this.#inflightTokens.get(key);
    if (inflight === undefined) {
      inflight = this.#fetchToken(realm, service, scope, creds, key).finally(() =>
        this.#inflightTokens.delete(key),
      );
      this.#inflightTokens.set(key, inflight);
    }
    return `Bearer ${await inflight}`;
  }

  async #fetchToken(
    realm: string,
    service: string | undefined,
    scope: string,
    creds: Credentials | undefined,
    key: string,
  ): Promise<string> {
    let res: Resp;
    const u = new URL(realm);
    if (creds?.identityToken !== undefined) {
      // OAuth2 refresh-token grant (distribution auth/oauth.md).
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.identityToken,
        client_id: "gvmconv",
        scope,
      });
      if (service !== undefined) form.set("service", service);
      res = await this.#withRetry(realm, () =>
        this.#follow(
          "POST",
          u.toString(),
          { "content-type": "application/x-www-form-urlencoded" },
          undefined,
          form.toString(),
        ),
      );
    } else {
      if (service !== undefined) u.searchParams.set("service", service);
      u.searchParams.set("scope", scope);
      const auth = creds !== undefined ? basicAuth(creds) : undefined;
      // The token server is another origin than the registry: credentials go there on purpose.
      res = await this.#withRetry(realm, () => this.#follow("GET", u.toString(), {}, auth, undefined, true));
    }
    const body = await readCapped(res.body, MAX_TOKEN_BODY, "token response");
    if (res.statusCode === 401 || res.statusCode === 403) {
      const fields = { statusCode: res.statusCode, url: realm, details: parseErrorEnvelope(body) };
      if (creds === undefined) throw new AuthRequiredError(this.registry, fields);
      throw new AuthFailedError(
        this.registry,
        `the token server ${u.host} refused the credentials for ${this.registry} (HTTP ${res.statusCode})`,
        fields,
      );
    }
    if (res.statusCode >= 400) {
      throw new AuthFailedError(this.registry, `the token server ${u.host} answered HTTP ${res.statusCode}`, {
        statusCode: res.statusCode,
        url: realm,
        details: parseErrorEnvelope(body),
      });
    }
    let json: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      json = JSON.parse(body.toString("utf8")) as typeof json;
    } catch (err) {
      throw new AuthFailedError(
        this.registry,
        `the token server ${u.host} sent something that is not JSON`,
        { statusCode: res.statusCode, url: realm },
        { cause: err },
      );
    }
    const token =
      typeof json.token === "string" && json.token !== ""
        ? json.token
        : typeof json.access_token === "string"
          ? json.access_token
          : undefined;
    if (token === undefined || token === "") {
      throw new AuthFailedError(this.registry, `the token server ${u.host} sent no token`, {
        statusCode: res.statusCode,
        url: realm,
      });
    }
    rememberSecret(token);
    this.#tokens.set(
      key,
      token,
      typeof json.expires_in === "number" ? json.expires_in : undefined,
      typeof json.issued_at === "string" ? json.issued_at : undefined,
    );
    return token;
  }

  /**
   * One logical request: follows redirects itself so that `Authorization` only ever goes to the
   * origin it was meant for (blob storage behind a redirect gets signed URLs, not our token).
   */
  async #follow(
    method: "GET" | "POST",
    url: string,
    headers: Headers,
    auth: string | undefined,
    body?: string,
    authAnyOrigin = false,
  ): Promise<Resp> {
    let current = url;
    const origin = new URL(url).origin;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const h: Headers = { ...this.#userAgent(), ...headers };
      if (auth !== undefined && (authAnyOrigin ? hop === 0 : new URL(current).origin === origin))
        h.authorization = auth;
      const res = await this.#transport.request(current, {
        method: hop === 0 ? method : "GET",
        headers: h,
        ...(body !== undefined && hop === 0 ? { body } : {}),
      });
      if (res.statusCode >= 300 && res.statusCode < 400 && res.statusCode !== 304) {
        const location = res.headers.location;
        await res.body.dump();
        if (typeof location !== "string")
          throw new NetworkError(current, `HTTP ${res.statusCode} without Location`);
        const next = new URL(location, current);
        if (
          new URL(current).protocol === "https:" &&
          next.protocol === "http:" &&
          this.#opts.insecure !== true
        ) {
          throw new NetworkError(current, `refusing a redirect from HTTPS to plain HTTP (${next.host})`);
        }
        current = next.toString();
        continue;
      }
      return res;
    }
    throw new NetworkError(url, `more than ${MAX_REDIRECTS} redirects`);
  }

  /**
   * Retry transport failures and 408/429/5xx (the shared policy); returns the first other
   * response, or the last retryable one once retries run out (#statusError makes it typed).
   */
  async #withRetry(url: string, attempt: () => Promise<Resp>): Promise<Resp> {
    try {
      return await this.#transport.retryResponse(attempt);
    } catch (err) {
      if (err instanceof Error && (err.name === "AbortError" || this.#opts.signal?.aborted === true))
        throw err;
      if (err instanceof RegistryError || err instanceof NetworkError) throw err;
      const detail = err instanceof HttpNetworkError ? err.detail : (err as Error).message;
      throw new NetworkError(url, `request failed: ${detail}`, { cause: err });
    }
  }

  async #statusError(res: Resp, url: string, what: string, repository?: string): Promise<RegistryError> {
    const body = await readCapped(res.body, MAX_ERROR_BODY, "error body").catch(() => Buffer.alloc(0));
    const details = parseErrorEnvelope(body);
    const registryCode = details[0]?.code;
    const fields = {
      statusCode: res.statusCode,
      url,
      details,
      ...(registryCode !== undefined ? { registryCode } : {}),
    };
    const msg = details.map((d) => `${d.code}: ${d.message}`).join("; ");
    if (
      res.statusCode === 404 ||
      registryCode === "MANIFEST_UNKNOWN" ||
      registryCode === "NAME_UNKNOWN" ||
      registryCode === "BLOB_UNKNOWN"
    ) {
      return new NotFoundError(`${what} not found: ${url}${msg ? ` (${msg})` : ""}`, fields);
    }
    if (res.statusCode === 403 || registryCode === "DENIED" || registryCode === "UNAUTHORIZED") {
      const creds = repository !== undefined ? await this.#creds(repository) : undefined;
      if (creds === undefined) return new AuthRequiredError(this.registry, fields);
      return new AuthFailedError(
        this.registry,
        `${this.registry} denied access to ${repository ?? url} (HTTP ${res.statusCode}${msg ? `, ${msg}` : ""})`,
        fields,
      );
    }
    return new RegistryError(
      "E_OCI_HTTP",
      `${this.registry} answered HTTP ${res.statusCode} for ${what} ${url}${msg ? ` (${msg})` : ""}`,
      fields,
      {
        hint: res.statusCode === 429 ? "the registry rate-limits pulls; log in or wait" : "",
      },
    );
  }
}

function basicAuth(c: Credentials): string {
  return `Basic ${rememberBasicCredentials(c.username, c.password)}`;
}

function blobResponse(res: Resp, offset: number): BlobResponse {
  const cl = res.headers["content-length"];
  const length = typeof cl === "string" && /^\d+$/.test(cl) ? Number(cl) : undefined;
  if (res.statusCode === 206) {
    const cr = res.headers["content-range"];
    const m = typeof cr === "string" ? /^bytes (\d+)-/.exec(cr) : null;
    const start = m?.[1] !== undefined ? Number(m[1]) : offset;
    if (start !== offset) {
      // A range other than the one asked for: start over rather than splice wrong bytes. (undici
      // fails a destroyed body with an AbortError: without a listener it would crash the process.)
      res.body.on("error", () => {});
      res.body.destroy();
      throw new NetworkError("blob", `server sent range ${String(cr)} for offset ${offset}`);
    }
    return { body: res.body, start, length };
  }
  return { body: res.body, start: 0, length };
}

/** The transport's one-line description of a failure below HTTP (`the response body stalled for …`). */
function describeNetworkFailure(url: string, err: unknown, timeouts: HttpTransport["timeouts"]): string {
  return new HttpNetworkError(url, err, timeouts).detail;
}
