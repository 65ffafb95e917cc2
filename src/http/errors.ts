/**
 * The transport's one error: a request that failed below HTTP (no connection, a timeout, a
 * dropped socket). Clients wrap it in their own typed errors (`E_OCI_NETWORK`,
 * `E_GOLEM_NETWORK`) and keep it as `cause`; `reason` says what happened in one word.
 */
import { GvmconvError } from "../errors.js";
import { redactSecrets } from "../redact.js";
import { networkErrorCode } from "./retryable.js";
import { SLOW_BODY_CODE, type ResolvedTimeouts } from "./timeouts.js";

export type NetworkFailure =
  "connect-timeout" | "headers-timeout" | "body-timeout" | "too-slow" | "refused" | "reset" | "dns" | "other";

export class HttpNetworkError extends GvmconvError {
  readonly url: string;
  readonly reason: NetworkFailure;
  /** undici's or Node's error code, when there is one (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`). */
  readonly errorCode: string | undefined;
  /** What happened, without the URL (`no response headers within 60000 ms (headers timeout)`). */
  readonly detail: string;
  constructor(url: string, cause: unknown, timeouts?: ResolvedTimeouts) {
    const errorCode = networkErrorCode(cause);
    const { reason, text } = describe(errorCode, cause, timeouts);
    super("E_HTTP_NETWORK", `${text} (${redactUrl(url)})`, {
      hint: "check the network and the address; a run again may succeed",
      cause,
    });
    this.url = redactUrl(url);
    this.reason = reason;
    this.errorCode = errorCode;
    this.detail = redactSecrets(text);
  }
}

function describe(
  code: string | undefined,
  cause: unknown,
  t: ResolvedTimeouts | undefined,
): { reason: NetworkFailure; text: string } {
  const within = (ms: number | undefined): string => (ms === undefined ? "" : ` within ${ms} ms`);
  switch (code) {
    case "UND_ERR_CONNECT_TIMEOUT":
      return { reason: "connect-timeout", text: `no connection${within(t?.connectMs)} (connect timeout)` };
    case "UND_ERR_HEADERS_TIMEOUT":
      return {
        reason: "headers-timeout",
        text: `no response headers${within(t?.headersMs)} (headers timeout)`,
      };
    case "UND_ERR_BODY_TIMEOUT":
      return {
        reason: "body-timeout",
        text: `the response body stalled${t ? ` for ${t.bodyMs} ms` : ""} (body timeout)`,
      };
    case SLOW_BODY_CODE: {
      const rate = t ? ` of ${t.minBytesPerSecond} B/s over ${t.rateWindowMs} ms` : "";
      return {
        reason: "too-slow",
        text: `the response body arrived below the minimum rate${rate} (minimum rate)`,
      };
    }
    case "ECONNREFUSED":
      return { reason: "refused", text: "connection refused" };
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
      return { reason: "reset", text: "the connection was dropped" };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return { reason: "dns", text: "the host name does not resolve" };
    default: {
      const message = cause instanceof Error ? cause.message : String(cause);
      return { reason: "other", text: `request failed: ${code !== undefined ? `${code} ` : ""}${message}` };
    }
  }
}

/** Drop user:password and the query (signed blob URLs carry credentials there) from messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url;
  }
}

/**
 * A failure in the transport's words: an `HttpNetworkError`'s detail (the error's own or its
 * cause's), else the error's message. What retry and resume reports say after "failed (" / "broke off (".
 */
export function failureDetail(err: unknown): string {
  if (err instanceof HttpNetworkError) return err.detail;
  const cause = (err as { cause?: unknown } | null | undefined)?.cause;
  if (cause instanceof HttpNetworkError) return cause.detail;
  return err instanceof Error ? err.message : String(err);
}
