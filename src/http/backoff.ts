/**
 * The one backoff rule: exponential from `retryDelayMs`, doubled per attempt, capped at
 * `maxRetryDelayMs`, with "equal jitter" (a delay drawn from the upper half of the step) so that
 * parallel downloads hit by the same outage do not come back in lockstep, yet never retry at
 * once. A server's `Retry-After` wins over the rule, bounded by `maxRetryAfterMs`.
 */

export interface RetryOptions {
  /** Attempts after the first one (default 5). */
  retries?: number;
  /** First backoff step in ms, doubled each attempt (default 500). */
  retryDelayMs?: number;
  /** Ceiling of a backoff step in ms (default 30 000). */
  maxRetryDelayMs?: number;
  /** Ceiling in ms of a server's `Retry-After` (default 60 000): a rate limit is not worth hanging for. */
  maxRetryAfterMs?: number;
  /**
   * No retry starts (nor waits) past this many ms after the first attempt began (default: no
   * limit here; the transport passes its `totalMs`): retries of a stalled request end in one error
   * within about this time plus one attempt, whatever the retry count.
   */
  deadlineMs?: number;
  /** Source of jitter in [0, 1); tests inject a fixed one (default `Math.random`). */
  random?: () => number;
  /** How to wait; tests inject one that records delays (default an abortable timer). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export type ResolvedRetryOptions = Required<RetryOptions>;

export const RETRY_DEFAULTS = {
  retries: 5,
  retryDelayMs: 500,
  maxRetryDelayMs: 30_000,
  maxRetryAfterMs: 60_000,
} as const;

/** Fill in the defaults; `undefined` fields count as absent. */
export function resolveRetryOptions(options: RetryOptions = {}): ResolvedRetryOptions {
  return {
    retries: Math.max(0, options.retries ?? RETRY_DEFAULTS.retries),
    retryDelayMs: Math.max(0, options.retryDelayMs ?? RETRY_DEFAULTS.retryDelayMs),
    maxRetryDelayMs: Math.max(0, options.maxRetryDelayMs ?? RETRY_DEFAULTS.maxRetryDelayMs),
    maxRetryAfterMs: Math.max(0, options.maxRetryAfterMs ?? RETRY_DEFAULTS.maxRetryAfterMs),
    deadlineMs: Math.max(0, options.deadlineMs ?? Number.POSITIVE_INFINITY),
    random: options.random ?? Math.random,
    sleep: options.sleep ?? sleep,
  };
}

/**
 * Delay in ms before retry number `attempt + 1` (`attempt` 0-based). `retryAfter` is the header
 * of the failed response, in delta-seconds or HTTP-date form (RFC 9110 §10.2.3).
 */
export function backoffDelay(
  attempt: number,
  options: RetryOptions = {},
  retryAfter?: string | string[],
  now: number = Date.now(),
): number {
  const o = resolveRetryOptions(options);
  const ra = parseRetryAfter(retryAfter, now);
  if (ra !== undefined) return Math.min(ra, o.maxRetryAfterMs);
  const step = Math.min(o.retryDelayMs * 2 ** attempt, o.maxRetryDelayMs);
  return Math.round(step / 2 + o.random() * (step / 2));
}

/** `Retry-After` in ms from `now`, or undefined when absent or unreadable. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (v === undefined || v === "") return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
