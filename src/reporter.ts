/**
 * Progress and warnings flow from the library to whoever runs it through this interface
 * (after berry's Report). The library never writes to stdout/stderr itself; the CLI implements
 * a TTY reporter (bars) and a plain one (log lines), and tests collect what is reported.
 */
import type { GvmconvWarningCode } from "./errors.js";

export interface Warning {
  /** Stable code from the catalogue (errors.ts `WARNING_CODES`). `--strict` turns warnings into errors. */
  code: GvmconvWarningCode;
  message: string;
  /** Image path concerned, when there is one. */
  path?: string;
}

export interface Reporter {
  /** A recoverable oddity. */
  warn(warning: Warning): void;
  /** A one-line informational message (plain mode prints it; TTY mode may too). */
  info(message: string): void;
  /**
   * Start a progress task (a layer download, writing, an upload). `total` in bytes when known.
   * Returns a handle the library updates; `done()` must be called exactly once. `kind` says what
   * the task measures, so a front end can group tasks (one line per layer under a download total).
   */
  task(label: string, total?: number, options?: TaskOptions): ProgressTask;
  /**
   * A request is being tried again after a transient failure (a refused connection, a 503). The
   * library reports each retry before its wait; front ends show it ("retrying 2/5 in 2 s: …").
   * Optional: a reporter without it does not hear about retries.
   */
  retry?(event: RetryNotice): void;
}

/**
 * What a task measures. `resolve`: finding the image (manifest, config), no total. `download`:
 * all the layer downloads of a run, total = the bytes to fetch; `layer`: one of them in flight.
 * `write`: the filesystem being written, total = the uncompressed layer bytes (an estimate,
 * corrected as layers are read). `hash`: a pass over the written file. `upload`, `other`.
 */
export type TaskKind = "resolve" | "download" | "layer" | "write" | "hash" | "upload" | "other";

export interface TaskOptions {
  /** Default `other`. */
  kind?: TaskKind;
}

export interface RetryNotice {
  /** 1 for the first retry. */
  retry: number;
  /** Retries allowed in all. */
  retries: number;
  /** The wait before this retry, ms. */
  delayMs: number;
  /** What failed, without the URL: `connection refused`, `HTTP 503`. */
  reason: string;
  /** The host (and port) the request went to, when known. */
  host?: string;
}

export interface ProgressTask {
  /** Add `bytes` of progress. */
  advance(bytes: number): void;
  /** Set or correct the total. */
  setTotal(total: number): void;
  done(): void;
}

/** A reporter that drops everything; the default for library callers that pass none. */
export const silentReporter: Reporter = {
  warn() {},
  info() {},
  task() {
    return { advance() {}, setTotal() {}, done() {} };
  },
};

/** A reporter that records warnings, infos and retries in memory (for tests and callers that show them later). */
export class CollectingReporter implements Reporter {
  readonly warnings: Warning[] = [];
  readonly infos: string[] = [];
  readonly retries: RetryNotice[] = [];
  warn(warning: Warning): void {
    this.warnings.push(warning);
  }
  info(message: string): void {
    this.infos.push(message);
  }
  task(): ProgressTask {
    return { advance() {}, setTotal() {}, done() {} };
  }
  retry(): void {}
}
