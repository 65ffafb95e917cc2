/**
 * The one retry loop. It knows nothing of HTTP: the caller says which results and which errors
 * are worth another attempt (see retryable.ts for the shared classification) and hears about each
 * retry before the wait, so retries stay visible (a reporter warning, a dumped body).
 */
import { resolveRetryOptions, backoffDelay, type RetryOptions } from "./backoff.js";
import { isRetryableNetworkError } from "./retryable.js";

/** Why an attempt is being repeated. */
export interface RetryEvent {
  /** 1 for the first retry. */
  retry: number;
  /** Retries allowed in all. */
  retries: number;
  /** The wait before this retry, ms. */
  delayMs: number;
  /** The thrown error, or undefined when a result (a 503 response) was retryable. */
  error: unknown;
}

/** A retryable outcome, with the server's `Retry-After` when it sent one. */
export interface RetryVerdict {
  retryAfter?: string | string[];
}

export interface RetryHooks<T> {
  signal?: AbortSignal;
  /** Whether a thrown error deserves another attempt (default `isRetryableNetworkError`). */
  retryError?: (err: unknown) => boolean | RetryVerdict;
  /**
   * Whether a result deserves another attempt (a 503 response). When retries run out the last
   * result is returned, not thrown: the caller turns it into its own typed error.
   */
  retryResult?: (value: T) => RetryVerdict | undefined;
  /** Release a result that is being retried (dump its body so the connection is reused). */
  discard?: (value: T) => Promise<void>;
  /** Told before each wait. */
  onRetry?: (event: RetryEvent) => void;
}

/** Run `attempt` until it gives a final result, retrying with backoff per `options`. */
export async function retry<T>(
  attempt: (n: number) => Promise<T>,
  options: RetryOptions = {},
  hooks: RetryHooks<T> = {},
): Promise<T> {
  const o = resolveRetryOptions(options);
  const retryError = hooks.retryError ?? isRetryableNetworkError;
  const started = performance.now();
  // Past the deadline, the outcome in hand is final, as when the retries run out.
  const late = (delayMs: number): boolean => performance.now() - started + delayMs > o.deadlineMs;
  for (let n = 0; ; n++) {
    let verdict: boolean | RetryVerdict | undefined;
    let error: unknown;
    let value: T | undefined;
    let failed = false;
    try {
      value = await attempt(n);
      verdict = n < o.retries ? hooks.retryResult?.(value) : undefined;
      if (verdict === undefined) return value;
    } catch (err) {
      // An abort is the caller's decision, never a transient failure.
      if (hooks.signal?.aborted === true || n >= o.retries) throw err;
      verdict = retryError(err);
      if (verdict === false) throw err;
      error = err;
      failed = true;
    }
    const retryAfter = typeof verdict === "object" ? verdict.retryAfter : undefined;
    const delayMs = backoffDelay(n, o, retryAfter);
    if (late(delayMs)) {
      if (failed) throw error;
      return value as T;
    }
    if (!failed) await hooks.discard?.(value as T).catch(() => {});
    hooks.onRetry?.({ retry: n + 1, retries: o.retries, delayMs, error });
    await o.sleep(delayMs, hooks.signal);
  }
}
