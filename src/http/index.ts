/** Public surface of the shared HTTP transport (low in the dependency order: imports only src/errors). */
export {
  backoffDelay,
  parseRetryAfter,
  resolveRetryOptions,
  sleep,
  RETRY_DEFAULTS,
  type ResolvedRetryOptions,
  type RetryOptions,
} from "./backoff.js";
export { undici } from "./undici.js";
export { failureDetail, HttpNetworkError, type NetworkFailure } from "./errors.js";
export { retry, type RetryEvent, type RetryHooks, type RetryVerdict } from "./retry.js";
export { isRetryableNetworkError, isRetryableStatus, networkErrorCode } from "./retryable.js";
export {
  minimumRateInterceptor,
  resolveTimeouts,
  timeoutsInterceptor,
  SlowBodyError,
  SLOW_BODY_CODE,
  TIMEOUT_DEFAULTS,
  type ResolvedTimeouts,
  type Timeouts,
} from "./timeouts.js";
export {
  HttpTransport,
  type Response,
  type TransportOptions,
  type TransportRequest,
  type TransportRetryEvent,
} from "./transport.js";
