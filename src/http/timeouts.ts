/**
 * Every request gets three timeouts so that no run hangs on a silent peer: connecting, waiting
 * for the response headers, and body idle (the longest gap between two body chunks, not the
 * whole transfer, so a slow but moving layer download is never cut). Body idle alone lets a peer
 * that trickles (one byte every few seconds) hold a run for ever, so bodies also have a minimum
 * rate: fewer than `minBytesPerSecond` on average over a `rateWindowMs` window fails the request
 * as retryable, like a timeout. Time the consumer spends not reading (backpressure: the merge is
 * busy) does not count against the peer.
 */
import type { Dispatcher } from "undici";

export interface Timeouts {
  /** TCP (and TLS) connect, ms (default 30 000). */
  connectMs?: number;
  /** From the request sent to the response headers, ms (default 60 000). */
  headersMs?: number;
  /** Longest silence while a body is read, ms (default 120 000). */
  bodyMs?: number;
  /** Slowest body accepted, bytes per second averaged over `rateWindowMs` (default 1024; 0: no minimum). */
  minBytesPerSecond?: number;
  /** Window of the minimum-rate rule, ms (default 60 000). */
  rateWindowMs?: number;
  /**
   * Total deadline of one request with its retries, ms (default 300 000): no retry starts later
   * than this after the first attempt (a blob download: after its last real progress).
   */
  totalMs?: number;
}

export type ResolvedTimeouts = Required<Timeouts>;

export const TIMEOUT_DEFAULTS = {
  connectMs: 30_000,
  headersMs: 60_000,
  bodyMs: 120_000,
  minBytesPerSecond: 1024,
  rateWindowMs: 60_000,
  totalMs: 300_000,
} as const;

export function resolveTimeouts(timeouts: Timeouts = {}): ResolvedTimeouts {
  return {
    connectMs: timeouts.connectMs ?? TIMEOUT_DEFAULTS.connectMs,
    headersMs: timeouts.headersMs ?? TIMEOUT_DEFAULTS.headersMs,
    bodyMs: timeouts.bodyMs ?? TIMEOUT_DEFAULTS.bodyMs,
    minBytesPerSecond: timeouts.minBytesPerSecond ?? TIMEOUT_DEFAULTS.minBytesPerSecond,
    rateWindowMs: timeouts.rateWindowMs ?? TIMEOUT_DEFAULTS.rateWindowMs,
    totalMs: timeouts.totalMs ?? TIMEOUT_DEFAULTS.totalMs,
  };
}

/** Node's error code of a body slower than the minimum rate (retryable, see retryable.ts). */
export const SLOW_BODY_CODE = "ERR_GVMCONV_BODY_TOO_SLOW";

/** A response body that arrived slower than the minimum rate: the request is aborted with it. */
export class SlowBodyError extends Error {
  readonly code = SLOW_BODY_CODE;
  constructor(received: number, t: ResolvedTimeouts) {
    super(
      `the response body arrived at ${Math.round((received * 1000) / t.rateWindowMs)} B/s, below the minimum of ${t.minBytesPerSecond} B/s over ${t.rateWindowMs} ms (minimum rate)`,
    );
    this.name = "SlowBodyError";
  }
}

/**
 * Enforces the minimum body rate on every dispatch (undici's fetch and request alike): a timer per
 * window counts the bytes that came in; a window that was paused by the consumer starts afresh.
 */
export function minimumRateInterceptor(timeouts: ResolvedTimeouts): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) =>
    timeouts.minBytesPerSecond > 0 && timeouts.rateWindowMs > 0
      ? dispatch(opts, new MinimumRateHandler(handler, timeouts))
      : dispatch(opts, handler);
}

class MinimumRateHandler implements Dispatcher.DispatchHandler {
  readonly #inner: Dispatcher.DispatchHandler;
  readonly #t: ResolvedTimeouts;
  #controller: Dispatcher.DispatchController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #bytes = 0;
  /** The consumer paused since the window began: the window says nothing about the peer. */
  #pausedSeen = false;

  constructor(inner: Dispatcher.DispatchHandler, t: ResolvedTimeouts) {
    this.#inner = inner;
    this.#t = t;
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#controller = controller;
    this.#inner.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler["onRequestUpgrade"]>>[2],
    socket: Parameters<NonNullable<Dispatcher.DispatchHandler["onRequestUpgrade"]>>[3],
  ): void {
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseStart"]>>[2],
    statusMessage?: string,
  ): void {
    this.#arm();
    this.#inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bytes += chunk.length;
    this.#inner.onResponseData?.(controller, chunk);
    if (controller.paused) this.#pausedSeen = true;
  }

  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseEnd"]>>[1],
  ): void {
    this.#disarm();
    this.#inner.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.#disarm();
    this.#inner.onResponseError?.(controller, error);
  }

  #arm(): void {
    this.#bytes = 0;
    this.#pausedSeen = false;
    this.#timer = setTimeout(() => this.#check(), this.#t.rateWindowMs);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    const c = this.#controller;
    if (c === undefined || c.aborted) return;
    const needed = (this.#t.minBytesPerSecond * this.#t.rateWindowMs) / 1000;
    if (!c.paused && !this.#pausedSeen && this.#bytes < needed) {
      this.#timer = undefined;
      c.abort(new SlowBodyError(this.#bytes, this.#t));
      return;
    }
    this.#arm();
  }
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
