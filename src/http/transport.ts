/**
 * The HTTP transport both registry clients share: one connection pool with connect, headers and
 * body-idle timeouts, one retry policy, one classification of what is retryable.
 *
 * It deliberately does not use undici's RetryHandler (`interceptors.retry`): the clients need the
 * last 429/5xx *response* when retries run out (its body becomes a typed error), the OCI client
 * retries a whole redirect chain with per-hop Authorization rules, the upload retries POSTs of
 * multipart bodies and reports each retry, and blob downloads resume through the blob cache,
 * which verifies digests across the resumed parts. A small loop of ours (retry.ts) fits all four.
 */
import type { Dispatcher } from "undici";
import { undici } from "./undici.js";
import { resolveRetryOptions, type ResolvedRetryOptions, type RetryOptions } from "./backoff.js";
import { failureDetail, HttpNetworkError } from "./errors.js";
import { retry, type RetryEvent, type RetryHooks } from "./retry.js";
import { isRetryableStatus } from "./retryable.js";
import {
  minimumRateInterceptor,
  resolveTimeouts,
  timeoutsInterceptor,
  type ResolvedTimeouts,
  type Timeouts,
} from "./timeouts.js";

export interface TransportOptions extends RetryOptions {
  timeouts?: Timeouts;
  /** Accept any TLS certificate (Docker's "insecure registry"). */
  insecure?: boolean;
  /**
   * A connection pool to use instead of our own (tests pass one). It is not closed by `close()`,
   * and its connect timeout is its own; headers and body timeouts are still ours.
   */
  dispatcher?: Dispatcher;
  /** Aborts every request and every wait between retries. */
  signal?: AbortSignal;
  /** Told before each wait of every retry this transport runs (beside a call's own `onRetry`). */
  onRetry?: (event: TransportRetryEvent) => void;
}

/** A retry as the transport reports it: the loop's event and what failed, in words. */
export interface TransportRetryEvent extends RetryEvent {
  /** What failed, without the URL: `connection refused`, `HTTP 503`. */
  reason: string;
}

export interface TransportRequest {
  method?: Dispatcher.HttpMethod;
  headers?: Record<string, string>;
  body?: string | Buffer | Uint8Array;
  /** Overrides the transport's signal for this request. */
  signal?: AbortSignal;
}

export type Response = Dispatcher.ResponseData;

export class HttpTransport {
  readonly retryOptions: ResolvedRetryOptions;
  readonly timeouts: ResolvedTimeouts;
  /** The pool with our timeouts and minimum body rate applied; pass it to undici's `fetch` as `dispatcher`. */
  readonly dispatcher: Dispatcher;
  readonly signal: AbortSignal | undefined;
  readonly #pool: Dispatcher;
  readonly #ownsPool: boolean;
  readonly #onRetry: ((event: TransportRetryEvent) => void) | undefined;

  constructor(options: TransportOptions = {}) {
    this.retryOptions = resolveRetryOptions(options);
    this.#onRetry = options.onRetry;
    this.timeouts = resolveTimeouts(options.timeouts);
    this.signal = options.signal;
    this.#ownsPool = options.dispatcher === undefined;
    this.#pool =
      options.dispatcher ??
      new (undici().Agent)({
        connect: {
          timeout: this.timeouts.connectMs,
          ...(options.insecure === true ? { rejectUnauthorized: false } : {}),
        },
        headersTimeout: this.timeouts.headersMs,
        bodyTimeout: this.timeouts.bodyMs,
      });
    this.dispatcher = this.#pool.compose(
      timeoutsInterceptor(this.timeouts),
      minimumRateInterceptor(this.timeouts),
    );
  }

  /** Close our pool (not a dispatcher passed in). */
  async close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.close();
  }

  /**
   * One attempt, no retry, redirects not followed. Failures below HTTP become `HttpNetworkError`;
   * an abort stays the abort. A body that stalls later fails its stream with undici's
   * `UND_ERR_BODY_TIMEOUT`, which `isRetryableNetworkError` recognises.
   */
  async request(url: string, init: TransportRequest = {}): Promise<Response> {
    const signal = init.signal ?? this.signal;
    try {
      return await undici().request(url, {
        dispatcher: this.dispatcher,
        method: init.method ?? "GET",
        ...(init.headers !== undefined ? { headers: init.headers } : {}),
        ...(init.body !== undefined ? { body: init.body } : {}),
        ...(signal !== undefined ? { signal } : {}),
        headersTimeout: this.timeouts.headersMs,
        bodyTimeout: this.timeouts.bodyMs,
      });
    } catch (err) {
      if (signal?.aborted === true || (err instanceof Error && err.name === "AbortError")) throw err;
      throw new HttpNetworkError(url, err, this.timeouts);
    }
  }

  /** `attempt` under this transport's retry policy, its total deadline (`timeouts.totalMs`) and signal. */
  async retry<T>(attempt: (n: number) => Promise<T>, hooks: RetryHooks<T> = {}): Promise<T> {
    const signal = hooks.signal ?? this.signal;
    // The last result judged retryable, to name its status when the retry is reported.
    let retried: T | undefined;
    const retryResult = hooks.retryResult;
    return await retry(
      attempt,
      { ...this.retryOptions, deadlineMs: this.timeouts.totalMs },
      {
        ...hooks,
        ...(signal !== undefined ? { signal } : {}),
        ...(retryResult !== undefined
          ? {
              retryResult: (value: T) => {
                const verdict = retryResult(value);
                if (verdict !== undefined) retried = value;
                return verdict;
              },
            }
          : {}),
        onRetry: (event) => {
          hooks.onRetry?.(event);
          this.#onRetry?.({ ...event, reason: retryReason(event.error, retried) });
        },
      },
    );
  }

  /**
   * Retry an attempt that yields a response: network failures and 408/429/5xx answers are
   * retried (honouring `Retry-After`), the first other response, or the last retryable one when
   * retries run out, is returned with its body unread.
   */
  async retryResponse(
    attempt: (n: number) => Promise<Response>,
    hooks: Pick<RetryHooks<Response>, "onRetry" | "signal"> = {},
  ): Promise<Response> {
    return await this.retry(attempt, {
      ...hooks,
      retryResult: (res) =>
        isRetryableStatus(res.statusCode) ? { retryAfter: res.headers["retry-after"] } : undefined,
      discard: async (res) => await res.body.dump(),
    });
  }
}

/** One phrase for a retried failure: the network error's detail, or the status of a retried answer. */
function retryReason(error: unknown, retried: unknown): string {
  if (error !== undefined) return failureDetail(error);
  const status = (retried as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === "number" ? `HTTP ${status}` : "a retryable answer";
}
