/**
 * Which failures are worth another attempt, for every HTTP client of gvmconv: a dropped or
 * refused connection, a timeout, 408, 429 and any 5xx. Other 4xx answers are final: the same
 * request will get the same answer.
 */

/** Error codes (Node's and undici's) of transport failures that may go away on their own. */
const RETRYABLE_ERROR_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  // timeouts.ts: a body below the minimum rate (a trickling peer).
  "ERR_GVMCONV_BODY_TOO_SLOW",
]);

/** How deep to look through `cause` chains (fetch wraps the socket error; we wrap fetch's). */
const MAX_CAUSE_DEPTH = 4;

/** True for 408 Request Timeout, 429 Too Many Requests and every 5xx. */
export function isRetryableStatus(statusCode: number): boolean {
  return statusCode === 408 || statusCode === 429 || (statusCode >= 500 && statusCode <= 599);
}

/** True for a transport failure worth retrying (connection reset, socket closed mid-body, timeout…). */
export function isRetryableNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && RETRYABLE_ERROR_CODES.has(code)) return true;
    // undici reports a body cut short by the peer with these messages and no code.
    if (e.message === "terminated" || e.message === "other side closed") return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The first error code found along the `cause` chain, if any. */
export function networkErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && !code.startsWith("E_")) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
