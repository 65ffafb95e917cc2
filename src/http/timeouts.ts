/**
 * Every request gets three timeouts so that no run hangs on a silent peer: connecting, waiting
 * for the response headers, and body idle (the longest gap between two body chunks, not the
 * whole transfer, so a slow but moving layer download is never cut).
 */
import type { Dispatcher } from "undici";

export interface Timeouts {
  /** TCP (and TLS) connect, ms (default 30 000). */
  connectMs?: number;
  /** From the request sent to the response headers, ms (default 60 000). */
  headersMs?: number;
  /** Longest silence while a body is read, ms (default 120 000). */
  bodyMs?: number;
}

export type ResolvedTimeouts = Required<Timeouts>;

export const TIMEOUT_DEFAULTS = { connectMs: 30_000, headersMs: 60_000, bodyMs: 120_000 } as const;

export function resolveTimeouts(timeouts: Timeouts = {}): ResolvedTimeouts {
  return {
    connectMs: timeouts.connectMs ?? TIMEOUT_DEFAULTS.connectMs,
    headersMs: timeouts.headersMs ?? TIMEOUT_DEFAULTS.headersMs,
    bodyMs: timeouts.bodyMs ?? TIMEOUT_DEFAULTS.bodyMs,
  };
}

/**
 * An undici interceptor that puts our headers/body timeouts on every dispatch that does not set
 * its own: undici's `fetch` passes none, so without it a caller's dispatcher would use undici's
 * defaults instead of ours. (The connect timeout belongs to the connection pool, not a dispatch.)
 */
export function timeoutsInterceptor(timeouts: ResolvedTimeouts): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) =>
    dispatch(
      {
        ...opts,
        headersTimeout: opts.headersTimeout ?? timeouts.headersMs,
        bodyTimeout: opts.bodyTimeout ?? timeouts.bodyMs,
      },
      handler,
    );
}
