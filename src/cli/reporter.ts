/**
 * The CLI's `Reporter`: plain lines on stderr; a progress bar only when stderr is a TTY; colour
 * only on a TTY and without `NO_COLOR` (https://no-color.org); `--quiet` keeps warnings only.
 */
import type { Writable } from "node:stream";
import type { ProgressTask, Reporter, Warning } from "../index.js";

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
    let finished = false;
    const started = Date.now();
    let lastDraw = 0;
    const render = (force: boolean) => {
      if (this.#quiet || !this.#tty) return;
      const now = Date.now();
      // At most ~10 redraws a second, however often advance() is called.
      if (!force && now - lastDraw < 100) return;
      lastDraw = now;
      this.#out.write(`\r\x1b[K${label} ${progressLine(done, size, (now - started) / 1000)}`);
      this.#barShown = true;
    };
    if (!this.#quiet && !this.#tty) this.#line(`gvmconv: ${label}…`);
    render(true);
    return {
      advance: (bytes) => {
        done += bytes;
        render(false);
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

/**
 * One progress line: `[#####.....] 42% 1.2 GiB/2.9 GiB 85.3 MiB/s ETA 20s` when the total is
 * known, `1.2 GiB 85.3 MiB/s` otherwise.
 */
export function progressLine(done: number, total: number | undefined, seconds: number): string {
  const rate = seconds > 0 ? done / seconds : 0;
  const rateText = rate > 0 ? ` ${formatBytes(Math.round(rate))}/s` : "";
  if (!total) return `${formatBytes(done)}${rateText}`;
  const fraction = Math.min(done / total, 1);
  const filled = Math.round(fraction * BAR_WIDTH);
  const eta = rate > 0 && done < total ? ` ETA ${formatDuration((total - done) / rate)}` : "";
  return (
    `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${Math.floor(fraction * 100)}% ` +
    `${formatBytes(done)}/${formatBytes(total)}${rateText}${eta}`
  );
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
