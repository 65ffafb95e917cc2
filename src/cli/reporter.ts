/**
 * The CLI's `Reporter`. On a terminal: a block of progress lines redrawn in place by log-update
 * (one line per layer in flight, the download total, writing, hashing), each clipped to the
 * terminal's width by cli-truncate so that no line wraps and no redraw leaves one behind.
 * Off a terminal: a start line per step, a plain line of the same figures every few seconds,
 * an end line. Colour only on a terminal and without `NO_COLOR` (https://no-color.org);
 * `--quiet` keeps warnings only.
 */
import type { Writable } from "node:stream";
import { printableText } from "../errors.js";
import type { ProgressTask, Reporter, RetryNotice, TaskKind, TaskOptions, Warning } from "../index.js";

export interface CliReporterOptions {
  stderr: Writable;
  /** Render progress bars (stderr is a TTY). */
  tty: boolean;
  color: boolean;
  quiet: boolean;
  /** Off a terminal: ms between the plain progress lines (default 5000). */
  intervalMs?: number;
  /** On a terminal: ms between redraws (default 150). A task shorter than this is never drawn. */
  redrawMs?: number;
}

/**
 * What only a terminal's frames use, loaded by `forStream` when it makes a terminal reporter:
 * log-update and cli-truncate are ~50 ms of a run's start-up, which one off a terminal (a script,
 * CI, `--quiet` into a pipe) does not pay.
 */
interface Terminal {
  cliTruncate: typeof import("cli-truncate").default;
  createLogUpdate: typeof import("log-update").createLogUpdate;
}
let terminalModules: Promise<Terminal> | undefined;
function loadTerminal(): Promise<Terminal> {
  terminalModules ??= Promise.all([import("cli-truncate"), import("log-update")]).then(([t, l]) => ({
    cliTruncate: t.default,
    createLogUpdate: l.createLogUpdate,
  }));
  return terminalModules;
}

const BAR_WIDTH = 24;
/** Narrower than this, a line shows its figures without a bar. */
const MIN_BAR = 6;
/** Rates are measured over the last few seconds, so a stall shows as one. */
const RATE_WINDOW_MS = 4000;
/** The order of the lines in a frame (layers sit above the download total they add up to). */
const KIND_ORDER: readonly TaskKind[] = ["resolve", "layer", "download", "write", "hash", "upload", "other"];

interface Live {
  label: string;
  kind: TaskKind;
  total: number | undefined;
  done: number;
  started: number;
  /** (time, done) samples for the rate, oldest first, within RATE_WINDOW_MS (plus one older). */
  samples: [number, number][];
  /** Off a terminal: whether its start line was printed (download's waits for its first byte). */
  announced: boolean;
}

/** Off a terminal, how long resolving may take before it gets a line. */
const RESOLVE_ANNOUNCE_MS = 1000;
/** Kinds drawn as soon as they start rather than at the next redraw. */
const STEP_KINDS: ReadonlySet<TaskKind> = new Set(["resolve", "write", "hash"]);

type LogUpdate = ReturnType<Terminal["createLogUpdate"]>;

export class CliReporter implements Reporter {
  readonly #out: Writable;
  readonly #tty: boolean;
  readonly #color: boolean;
  readonly #quiet: boolean;
  readonly #intervalMs: number;
  readonly #redrawMs: number;
  readonly #tasks = new Set<Live>();
  #timer: NodeJS.Timeout | undefined;
  #log: LogUpdate | undefined;
  /** Whether a frame is on screen (the cursor is on the line below it). */
  #drawn = false;
  /** The bars' width in the frame on screen. */
  #bar = BAR_WIDTH;

  readonly #terminal: Terminal | undefined;

  /**
   * `terminal`: the drawing modules, which a reporter that draws frames (on a terminal, not
   * quiet) needs; `forStream` loads them.
   */
  constructor(opts: CliReporterOptions, terminal?: Terminal) {
    if (opts.tty && !opts.quiet && terminal === undefined)
      throw new Error("CliReporter: a reporter for a terminal needs its drawing modules (use forStream)");
    this.#terminal = terminal;
    this.#out = opts.stderr;
    this.#tty = opts.tty;
    this.#color = opts.color;
    this.#quiet = opts.quiet;
    this.#intervalMs = opts.intervalMs ?? 5000;
    this.#redrawMs = opts.redrawMs ?? 150;
  }

  static async forStream(
    stderr: Writable,
    env: Record<string, string | undefined>,
    quiet: boolean,
    options: Pick<CliReporterOptions, "intervalMs" | "redrawMs"> = {},
  ): Promise<CliReporter> {
    // A terminal that cannot move its cursor (TERM=dumb: Emacs shells, some CI consoles) gets
    // the plain lines.
    const tty = (stderr as Writable & { isTTY?: boolean }).isTTY === true && env.TERM !== "dumb";
    const color = tty && (env.NO_COLOR === undefined || env.NO_COLOR === "");
    return new CliReporter(
      { stderr, tty, color, quiet, ...options },
      tty && !quiet ? await loadTerminal() : undefined,
    );
  }

  warn(warning: Warning): void {
    const label = this.#color ? "\x1b[33mwarning\x1b[0m" : "warning";
    this.#line(`gvmconv: ${label} [${warning.code}]: ${printableText(warning.message)}`);
  }

  info(message: string): void {
    if (!this.#quiet) this.#line(`gvmconv: ${printableText(message)}`);
  }

  retry(event: RetryNotice): void {
    if (this.#quiet) return;
    const host = event.host !== undefined ? ` (${event.host})` : "";
    this.#line(
      `gvmconv: retrying ${event.retry}/${event.retries} in ${formatSeconds(event.delayMs)}: ${event.reason}${host}`,
    );
  }

  task(label: string, total?: number, options: TaskOptions = {}): ProgressTask {
    const idle = { advance() {}, setTotal() {}, done() {} };
    if (this.#quiet) return idle;
    const now = Date.now();
    const live: Live = {
      label,
      kind: options.kind ?? "other",
      total,
      done: 0,
      started: now,
      samples: [[now, 0]],
      announced: false,
    };
    this.#tasks.add(live);
    // Off a terminal, resolving is announced only when it takes a while: a reference that does
    // not resolve stays one error line.
    let slow: NodeJS.Timeout | undefined;
    if (!this.#tty && live.kind === "resolve") {
      slow = setTimeout(() => this.#announce(live), RESOLVE_ANNOUNCE_MS);
      slow.unref();
    } else if (!this.#tty && live.kind !== "layer" && live.kind !== "download") this.#announce(live);
    this.#startTimer();
    // The labelled steps show at once, however short: the screen is never blank at the start
    // (resolving), nor unlabelled at the end (hashing).
    if (this.#tty && STEP_KINDS.has(live.kind)) this.#render();
    let finished = false;
    return {
      advance: (bytes) => {
        live.done += bytes;
        if (!this.#tty && !live.announced && live.kind === "download" && bytes > 0) this.#announce(live);
      },
      setTotal: (t) => {
        live.total = t;
      },
      done: () => {
        if (finished) return;
        finished = true;
        clearTimeout(slow);
        this.#tasks.delete(live);
        if (!this.#tty && (live.announced || live.kind === "layer")) this.#plain(endLine(live, Date.now()));
        if (this.#tasks.size === 0) this.#settle();
      },
    };
  }

  /**
   * Stop drawing and take the frame off the screen, cursor shown: before an error line, or when
   * the command ends with tasks a failure left unfinished. Idempotent.
   */
  close(): void {
    this.#tasks.clear();
    this.#settle();
  }

  /** No task left: stop the timer, take the frame away, show the cursor. */
  #settle(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#log !== undefined) {
      if (this.#drawn) this.#log.clear();
      this.#log.done();
      this.#log = undefined;
    }
    if (this.#drawn) process.off("exit", this.#onExit);
    this.#drawn = false;
    this.#bar = BAR_WIDTH;
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    this.#timer = this.#tty
      ? setInterval(() => this.#render(), this.#redrawMs)
      : setInterval(() => this.#periodic(), this.#intervalMs);
    // Progress never keeps the process alive.
    this.#timer.unref();
  }

  #render(): void {
    if (this.#tasks.size === 0) return;
    const now = Date.now();
    // One column spare: a line that fills the last column leaves some terminals about to wrap.
    const width = Math.max(10, size(this.#out).columns - 1);
    const tasks = sorted(this.#tasks);
    // Bars start in one column: labels padded to the longest, bars as wide as the widest line allows.
    const labels = tasks.map(labelOf);
    const texts = tasks.map((t) => figures(t, now));
    const longestText = Math.max(...texts.map((x) => x.length));
    // Too narrow for padded labels and figures: no padding, no bars, the figures come first.
    const padded = Math.max(...labels.map((l) => l.length));
    const labelWidth = padded + longestText + 1 <= width ? padded : 0;
    // The bar only ever narrows during a frame's life, so it does not jump as the figures grow.
    this.#bar = Math.min(this.#bar, labelWidth === 0 ? 0 : width - labelWidth - longestText - 4);
    const bar = this.#bar;
    const lines = tasks.map((t, i) =>
      this.#terminal!.cliTruncate(
        frameLine(t, (labels[i] ?? "").padEnd(labelWidth), texts[i] ?? "", bar),
        width,
      ),
    );
    // log-update hides the cursor through cli-cursor, which writes to process.stderr; it does
    // so only when that is where the frame goes.
    this.#log ??= this.#terminal!.createLogUpdate(sized(this.#out), {
      showCursor: this.#out !== process.stderr,
    });
    this.#log(lines.join("\n"));
    if (!this.#drawn) process.once("exit", this.#onExit);
    this.#drawn = true;
  }

  /**
   * The process ends with a frame on screen (Ctrl-C: main.ts exits from its SIGINT handler): the
   * frame stays as the record of where the run stopped, and the line the terminal echoed `^C` on
   * is ended so that the shell's prompt starts on a fresh one. (restore-cursor shows the cursor.)
   */
  readonly #onExit = (): void => {
    if (this.#drawn) this.#out.write("\n");
  };

  #periodic(): void {
    const now = Date.now();
    const inFlight = [...this.#tasks].filter((t) => t.kind === "layer").length;
    for (const t of sorted(this.#tasks)) {
      if (t.kind === "layer" || !t.announced) continue;
      const layers = t.kind === "download" && inFlight > 0 ? ` (${inFlight} in flight)` : "";
      this.#plain(`gvmconv: ${t.label} ${figures(t, now)}${layers}`);
    }
  }

  #announce(t: Live): void {
    t.announced = true;
    const size =
      t.total !== undefined && t.total > 0 && t.kind !== "write" ? ` (${formatBytes(t.total)})` : "";
    this.#plain(`gvmconv: ${t.label}…${size}`);
  }

  #plain(text: string): void {
    this.#out.write(text + "\n");
  }

  /** A line that stays: above the frame, which is drawn again below it. */
  #line(text: string): void {
    if (this.#drawn && this.#log !== undefined) {
      this.#log.clear();
      process.off("exit", this.#onExit);
      this.#drawn = false;
    }
    this.#out.write(text + "\n");
    if (this.#tty && this.#tasks.size > 0) this.#render();
  }
}

/**
 * The terminal's size; 0 (a pty nobody sized, as under \`script\` without \`stty\`) or none counts
 * as 80×24 - log-update would draw nothing at all in 0 rows.
 */
function size(out: Writable): { columns: number; rows: number } {
  const { columns, rows } = out as Writable & { columns?: number; rows?: number };
  return {
    columns: columns !== undefined && columns > 0 ? columns : 80,
    rows: rows !== undefined && rows > 0 ? rows : 24,
  };
}

/** `out` as log-update sees it: its writes, its size as \`size()\` reads it, a terminal. */
function sized(out: Writable): NodeJS.WritableStream {
  const view = {
    isTTY: true,
    write: (chunk: string): boolean => out.write(chunk),
    get columns(): number {
      return size(out).columns;
    },
    get rows(): number {
      return size(out).rows;
    },
  };
  return view as unknown as NodeJS.WritableStream;
}

/** Frame order: by kind, layers by their number (`layer 2/3` before `layer 10/12`), else by start. */
function sorted(tasks: Iterable<Live>): Live[] {
  return [...tasks].sort(
    (a, b) =>
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
      (a.kind === "layer" ? a.label.localeCompare(b.label, "en", { numeric: true }) : 0) ||
      a.started - b.started,
  );
}

/** Bytes per second over the last few seconds (undefined until half a second has passed). */
function rateOf(t: Live, now: number): number | undefined {
  t.samples.push([now, t.done]);
  while (t.samples.length > 2 && now - (t.samples[1]?.[0] ?? now) >= RATE_WINDOW_MS) t.samples.shift();
  const [time, done] = t.samples[0] ?? [now, t.done];
  const seconds = (now - time) / 1000;
  return seconds >= 0.5 ? Math.max(0, (t.done - done) / seconds) : undefined;
}

/** `42% 12.1 MiB/28.8 MiB 5.1 MiB/s ETA 3s`, or `12.1 MiB 5.1 MiB/s` without a total. */
function figures(t: Live, now: number): string {
  if (t.kind === "resolve") return `${formatDuration((now - t.started) / 1000)}`;
  const rate = rateOf(t, now);
  const rateText = rate !== undefined && rate > 0 ? ` ${formatBytes(Math.round(rate))}/s` : "";
  if (t.total === undefined || t.total <= 0) return `${formatBytes(t.done)}${rateText}`;
  const done = Math.min(t.done, t.total);
  const eta =
    rate !== undefined && rate > 0 && done < t.total ? ` ETA ${formatDuration((t.total - done) / rate)}` : "";
  return `${Math.floor((done / t.total) * 100)}% ${formatBytes(done)}/${formatBytes(t.total)}${rateText}${eta}`;
}

/** A frame line's label: layers indented under the download total, resolving with its ellipsis. */
function labelOf(t: Live): string {
  if (t.kind === "layer") return `  ${t.label}`;
  return t.kind === "resolve" ? `${t.label}…` : t.label;
}

/** One line of the frame: the (padded) label, a bar of `bar` columns when there is room, the figures. */
function frameLine(t: Live, label: string, text: string, bar: number): string {
  if (t.kind === "resolve" || t.total === undefined || t.total <= 0 || bar < MIN_BAR)
    return `${label} ${text}`;
  const filled = Math.round(Math.min(t.done / t.total, 1) * bar);
  return `${label} [${"#".repeat(filled)}${".".repeat(bar - filled)}] ${text}`;
}

/** Off a terminal, a step's last line: `writing: done, 512.0 MiB in 16s`. */
function endLine(t: Live, now: number): string {
  const took = formatDuration((now - t.started) / 1000);
  if (t.kind === "resolve" || t.done === 0) return `gvmconv: ${t.label}: done in ${took}`;
  return `gvmconv: ${t.label}: done, ${formatBytes(t.done)} in ${took}`;
}

/** `2 s`, `0.5 s`: a retry's wait. */
function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${s >= 10 || Number.isInteger(s) ? Math.round(s) : s.toFixed(1)} s`;
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
 * known, `1.2 GiB 85.3 MiB/s` otherwise (the rate as the average over `seconds`).
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
