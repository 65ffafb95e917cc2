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
   * Returns a handle the library updates; `done()` must be called exactly once.
   */
  task(label: string, total?: number): ProgressTask;
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

/** A reporter that records warnings and infos in memory (for tests and callers that show them later). */
export class CollectingReporter implements Reporter {
  readonly warnings: Warning[] = [];
  readonly infos: string[] = [];
  warn(warning: Warning): void {
    this.warnings.push(warning);
  }
  info(message: string): void {
    this.infos.push(message);
  }
  task(): ProgressTask {
    return { advance() {}, setTotal() {}, done() {} };
  }
}
