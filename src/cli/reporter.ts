/**
 * The CLI's `Reporter`: plain lines on stderr; a progress bar only when stderr is a TTY; colour
 * only on a TTY and without `NO_COLOR` (https://no-color.org); `--quiet` keeps warnings only.
 */
import type { Writable } from "node:stream";
import type { ProgressTask, Reporter, Warning } from "../reporter.js";

export interface CliReporterOptions {
  stderr: Writable;
  /** Render progress bars (stderr is a TTY). */
  tty: boolean;
  color: boolean;
  quiet: boolean;
}

const BAR_WIDTH = 24;

export class CliReporter implements Reporter {
  readonly #out: Writable;
  readonly #tty: boolean;
  readonly #color: boolean;
  readonly #quiet: boolean;
  /** Whether a bar is on screen (the cursor is at its end, no newline yet). */
  #barShown = false;

  constructor(opts: CliReporterOptions) {
    this.#out = opts.stderr;
    this.#tty = opts.tty;
    this.#color = opts.color;
    this.#quiet = opts.quiet;
  }

  static forStream(stderr: Writable, env: Record<string, string | undefined>, quiet: boolean): CliReporter {
    const tty = (stderr as Writable & { isTTY?: boolean }).isTTY === true;
    const color = tty && (env.NO_COLOR === undefined || env.NO_COLOR === "");
    return new CliReporter({ stderr, tty, color, quiet });
  }

  warn(warning: Warning): void {
    const label = this.#color ? "\x1b[33mwarning\x1b[0m" : "warning";
    this.#line(`gvmconv: ${label} [${warning.code}]: ${warning.message}`);
  }

  info(message: string): void {
    if (!this.#quiet) this.#line(`gvmconv: ${message}`);
  }

  task(label: string, total?: number): ProgressTask {
    let done = 0;
    let size = total;
    let shownPercent = -1;
    let finished = false;
    const render = (force: boolean) => {
      if (this.#quiet || !this.#tty) return;
      const fraction = size ? Math.min(done / size, 1) : 0;
      const percent = Math.floor(fraction * 100);
      // Redraw on whole-percent changes only: cheap however often advance() is called.
      if (!force && percent === shownPercent) return;
      shownPercent = percent;
      const filled = Math.round(fraction * BAR_WIDTH);
      const bar = size
        ? `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${percent}%`
        : formatBytes(done);
      this.#out.write(`\r\x1b[K${label} ${bar}`);
      this.#barShown = true;
    };
    if (!this.#quiet && !this.#tty) this.#line(`gvmconv: ${label}…`);
    render(true);
    return {
      advance: (bytes) => {
        done += bytes;
        if (!size) {
          // Unknown total: redraw every MiB.
          if (Math.floor((done - bytes) / 2 ** 20) !== Math.floor(done / 2 ** 20)) render(true);
        } else render(false);
      },
      setTotal: (t) => {
        size = t;
        render(true);
      },
      done: () => {
        if (finished) return;
        finished = true;
        if (this.#barShown) {
          this.#out.write("\r\x1b[K");
          this.#barShown = false;
        }
      },
    };
  }

  #line(text: string): void {
    if (this.#barShown) {
      this.#out.write("\r\x1b[K");
      this.#barShown = false;
    }
    this.#out.write(text + "\n");
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
