/**
 * The run context: the one place where a run's environment, warning policy and time are decided.
 *
 * Every use case (convert, push, inspect, …) builds one with `createContext` from what its caller
 * gave, or takes the caller's, and hands it down. Downstream code never reads `process.env`,
 * never decides whether a warning is fatal, and never works out the filesystem time itself:
 *
 * - `env`: the environment the run sees; `process.env` only when the caller passes none (this is
 *   the library's only read of it). Credentials, the cache directory, registry URLs follow it.
 *   Beneath it, as gvmkit-build's `dotenv::dotenv()`: the variables of the nearest `.env` from
 *   `cwd` upwards that it does not set (src/dotenv.ts); `dotenv: false` turns that off.
 * - `mkfsTime`: the time written into the image — the caller's explicit value, else
 *   `SOURCE_DATE_EPOCH` (https://reproducible-builds.org/specs/source-date-epoch/), else 0. Never
 *   the clock, so the same input keeps the same bytes and the same hash.
 * - `xzBackend`: `GVMCONV_XZ_BACKEND=lzma-native` forces the liblzma bundled with lzma-native
 *   over the system's (README, "Dependencies"); the two give identical bytes.
 * - `gzipBackend`: `GVMCONV_GZIP_BACKEND=libdeflate` or `zlib` picks the gzip encoder; unset or
 *   `auto`, libdeflate when it loads, else Node's zlib with a warning (the bytes differ). CI that
 *   pins image hashes sets it, so that a machine without libdeflate fails instead of differing.
 * - `blockCache`: `GVMCONV_BLOCK_CACHE=1` keeps compressed data blocks in `blocks/` under the
 *   cache root for re-conversions (an absolute path puts them there instead; unset or 0: off),
 *   bounded by `GVMCONV_BLOCK_CACHE_MAX` MiB (default 4096). Opt-in: a cold run writes the
 *   image's compressed size again into the cache, worth it only where images are rebuilt. The
 *   secret that marks this machine's entries is `gvmconv/block-cache.key` under
 *   `$XDG_STATE_HOME`, else `~/.local/state`: outside any cache directory (block-cache.ts).
 * - `network`: timeouts and retries of every HTTP request, to either registry — the caller's
 *   `network`, else `GVMCONV_CONNECT_TIMEOUT`, `GVMCONV_HEADERS_TIMEOUT`, `GVMCONV_BODY_TIMEOUT`,
 *   `GVMCONV_RATE_WINDOW`, `GVMCONV_TOTAL_TIMEOUT`, `GVMCONV_RETRY_DELAY` (seconds, fractions
 *   allowed), `GVMCONV_MIN_RATE`
 *   (bytes per second, 0 for none), `GVMCONV_RETRIES`; what neither sets keeps each client's
 *   default (src/http/timeouts.ts, README "Network timeouts").
 * - `reporter`: the caller's reporter behind the warning policy. Every coded warning from any
 *   part (tar reader, layer merge, directory walk, image config, credentials) goes through its
 *   `warn()`, which records it and, under `strict`, throws it as a `StrictWarningError` instead.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { GvmconvError, UsageError, strictErrorCode } from "./errors.js";
import {
  silentReporter,
  type ProgressTask,
  type Reporter,
  type RetryNotice,
  type TaskOptions,
  type Warning,
} from "./reporter.js";
import { withDotenv, type DotenvApplied } from "./dotenv.js";
import type { Timeouts } from "./http/index.js";

/** An environment: variable names to values, as `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** What a caller may set for a run; everything else is resolved from these. */
export interface ContextOptions {
  /** The environment the run sees. Default: `process.env`. */
  env?: Env;
  /** Where progress and warnings go. Default: nowhere. */
  reporter?: Reporter;
  /** Turn every coded warning into an error (`--strict`). */
  strict?: boolean;
  /** Stops the run; the failure is the signal's reason. */
  signal?: AbortSignal;
  /** Filesystem time in seconds; overrides `SOURCE_DATE_EPOCH`. */
  mkfsTime?: number;
  /** Working directory (where `.env` is looked for). Default: `process.cwd()`. */
  cwd?: string;
  /**
   * Read `.env` from `cwd` or its parents into the environment, beneath `env` (default true, as
   * gvmkit-build; the CLI always does). Callers who pass a complete `env` can turn it off.
   */
  dotenv?: boolean;
  /** Timeouts and retries of HTTP requests; fields left out come from the environment, else the defaults. */
  network?: NetworkSettings;
}

/** What a run may change of its HTTP requests; absent fields keep each client's default. */
export interface NetworkSettings {
  timeouts?: Timeouts;
  /** Retries of a request (and of a blob download without progress). */
  retries?: number;
  /** First backoff step, ms. */
  retryDelayMs?: number;
}

export interface RunContext {
  /** The given environment with the `.env` variables it lacks. */
  readonly env: Env;
  readonly cwd: string;
  /** The `.env` file read and the variables taken from it; undefined when none was read. */
  readonly dotenv: DotenvApplied | undefined;
  /** The caller's reporter behind the warning policy (see the module comment). */
  readonly reporter: Reporter;
  readonly strict: boolean;
  readonly signal: AbortSignal | undefined;
  /** Seconds since the epoch, 0 … 2^32-1: what SquashFS stores. */
  readonly mkfsTime: number;
  /** Every warning reported so far, in order (under `strict`, the one that was thrown). */
  readonly warnings: readonly Warning[];
  /** Which liblzma encodes xz blocks; undefined: the system's when it loads, else the bundled one. */
  readonly xzBackend: "liblzma" | "lzma-native" | undefined;
  /** Which encoder writes gzip blocks; undefined: libdeflate when it loads, else Node's zlib. */
  readonly gzipBackend: "libdeflate" | "zlib" | undefined;
  /**
   * The block cache (`GVMCONV_BLOCK_CACHE`): undefined when off; else its directory (undefined:
   * `blocks/` in the cache root), its bound (`GVMCONV_BLOCK_CACHE_MAX`, MiB) and the file of the
   * secret that marks this machine's entries.
   */
  readonly blockCache: { dir: string | undefined; maxBytes: number; secretFile: string } | undefined;
  /** The run's HTTP settings: only the fields the caller or the environment set. */
  readonly network: NetworkSettings & { timeouts: Timeouts };
}

/** Default bound of the block cache: 4 GiB, a few re-converted images. */
export const DEFAULT_BLOCK_CACHE_MAX = 4 * 1024 * 1024 * 1024;

/** Options of a use case that runs in a context: the caller's own, or one made from these. */
export type RunOptions = ContextOptions & { context?: RunContext };

/** SquashFS stores times as u32 seconds. */
const MAX_TIME = 2 ** 32 - 1;

/** A coded warning raised as an error because the run is strict. Its code is the warning's, `E_` for `W_`. */
export class StrictWarningError extends GvmconvError {
  /** The warning this error stands for. */
  readonly warning: Warning;
  /** Image path concerned, when there is one. */
  readonly path: string | undefined;

  constructor(warning: Warning) {
    super(strictErrorCode(warning.code), warning.message, {
      hint: `--strict turns warning ${warning.code} into an error; run without --strict to accept it`,
    });
    this.warning = warning;
    this.path = warning.path;
  }
}

/**
 * The one rule for `SOURCE_DATE_EPOCH`: unset or empty means "not given"; otherwise it must be
 * a whole number of seconds that SquashFS can store (0 … 2^32-1). A malformed value is an error,
 * as the specification asks, rather than silently a different time.
 */
export function sourceDateEpoch(env: Env): number | undefined {
  const raw = env["SOURCE_DATE_EPOCH"];
  if (raw === undefined || raw === "") return undefined;
  return checkTime("SOURCE_DATE_EPOCH", raw);
}

/** A filesystem time given as text (`--mkfs-time`, `SOURCE_DATE_EPOCH`), checked. */
export function checkTime(name: string, text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) > MAX_TIME) {
    throw new UsageError(`${name} must be a whole number of seconds from 0 to ${MAX_TIME}, got '${text}'`);
  }
  return Number(text);
}

/** Environment variable → setting, and its unit (seconds become ms). */
const NETWORK_VARIABLES = [
  ["GVMCONV_CONNECT_TIMEOUT", "connectMs", "s"],
  ["GVMCONV_HEADERS_TIMEOUT", "headersMs", "s"],
  ["GVMCONV_BODY_TIMEOUT", "bodyMs", "s"],
  ["GVMCONV_MIN_RATE", "minBytesPerSecond", "B/s"],
  ["GVMCONV_RATE_WINDOW", "rateWindowMs", "s"],
  ["GVMCONV_TOTAL_TIMEOUT", "totalMs", "s"],
] as const;

/** A number from the environment: seconds (to ms) or a count; malformed is a usage error. */
function envNumber(env: Env, name: string, unit: "s" | "B/s" | "count"): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return undefined;
  const ok = unit === "s" ? /^\d+(\.\d+)?$/.test(raw) : /^\d+$/.test(raw);
  if (!ok || !Number.isFinite(Number(raw))) {
    throw new UsageError(
      `${name} must be ${unit === "s" ? "a number of seconds (e.g. 30 or 0.5)" : "a whole number"}, got '${raw}'`,
    );
  }
  return unit === "s" ? Math.round(Number(raw) * 1000) : Number(raw);
}

/** The run's network settings: the caller's, else the environment's (see the module comment). */
function networkSettings(env: Env, given: NetworkSettings = {}): NetworkSettings & { timeouts: Timeouts } {
  const timeouts: Timeouts = {};
  for (const [name, key, unit] of NETWORK_VARIABLES) {
    const v = given.timeouts?.[key] ?? envNumber(env, name, unit === "s" ? "s" : "B/s");
    if (v !== undefined) timeouts[key] = v;
  }
  const retries = given.retries ?? envNumber(env, "GVMCONV_RETRIES", "count");
  const retryDelayMs = given.retryDelayMs ?? envNumber(env, "GVMCONV_RETRY_DELAY", "s");
  return {
    timeouts,
    ...(retries !== undefined ? { retries } : {}),
    ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
  };
}

/** Resolves a run's context once; see the module comment for each decision. */
export function createContext(options: ContextOptions = {}): RunContext {
  const cwd = options.cwd ?? process.cwd();
  const given = options.env ?? process.env;
  const { env, dotenv } =
    options.dotenv === false ? { env: given, dotenv: undefined } : withDotenv(given, cwd);
  let mkfsTime: number;
  if (options.mkfsTime !== undefined) {
    if (!Number.isInteger(options.mkfsTime) || options.mkfsTime < 0 || options.mkfsTime > MAX_TIME) {
      throw new UsageError(
        `mkfsTime must be a whole number of seconds from 0 to ${MAX_TIME}, got ${options.mkfsTime}`,
      );
    }
    mkfsTime = options.mkfsTime;
  } else {
    mkfsTime = sourceDateEpoch(env) ?? 0;
  }
  const backend = env["GVMCONV_XZ_BACKEND"];
  if (backend !== undefined && backend !== "" && backend !== "liblzma" && backend !== "lzma-native") {
    throw new UsageError(`GVMCONV_XZ_BACKEND must be liblzma or lzma-native, got '${backend}'`);
  }
  const xzBackend = backend === "liblzma" || backend === "lzma-native" ? backend : undefined;
  const gzip = env["GVMCONV_GZIP_BACKEND"];
  if (gzip !== undefined && gzip !== "" && gzip !== "auto" && gzip !== "libdeflate" && gzip !== "zlib") {
    throw new UsageError(`GVMCONV_GZIP_BACKEND must be libdeflate, zlib or auto, got '${gzip}'`);
  }
  const gzipBackend = gzip === "libdeflate" || gzip === "zlib" ? gzip : undefined;
  const blockCache = blockCacheSetting(env);
  const strict = options.strict ?? false;
  const outer = options.reporter ?? silentReporter;
  const warnings: Warning[] = [];
  const reporter: Reporter = {
    warn(warning: Warning): void {
      warnings.push(warning);
      if (strict) throw new StrictWarningError(warning);
      outer.warn(warning);
    },
    info: (message: string): void => outer.info(message),
    task: (label: string, total?: number, opts?: TaskOptions): ProgressTask => outer.task(label, total, opts),
    retry: (event: RetryNotice): void => outer.retry?.(event),
  };
  const network = networkSettings(env, options.network);
  return {
    env,
    cwd,
    dotenv,
    reporter,
    strict,
    signal: options.signal,
    mkfsTime,
    warnings,
    xzBackend,
    gzipBackend,
    blockCache,
    network,
  };
}

/** `$XDG_CACHE_HOME/gvmconv`, else `~/.cache/gvmconv`: the blob cache's root, the block cache's default parent. */
export function defaultCacheDir(env: Env): string {
  const xdg = env["XDG_CACHE_HOME"];
  return join(xdg !== undefined && xdg !== "" ? xdg : join(homedir(), ".cache"), "gvmconv");
}

function blockCacheSetting(env: Env): RunContext["blockCache"] {
  const on = env["GVMCONV_BLOCK_CACHE"];
  if (on === undefined || on === "" || on === "0") return undefined;
  if (on !== "1" && !on.startsWith("/")) {
    throw new UsageError(`GVMCONV_BLOCK_CACHE must be 1, 0 or an absolute directory, got '${on}'`);
  }
  const state = env["XDG_STATE_HOME"];
  const secretFile = join(
    state !== undefined && state !== "" ? state : join(env["HOME"] || homedir(), ".local", "state"),
    "gvmconv",
    "block-cache.key",
  );
  return { dir: on === "1" ? undefined : on, maxBytes: blockCacheMaxBytes(env), secretFile };
}

/**
 * The block cache's bound from `GVMCONV_BLOCK_CACHE_MAX` (MiB), whether or not the cache is on:
 * `gvmconv cache ls` shows the bound a run with the cache on would keep.
 */
export function blockCacheMaxBytes(env: Env): number {
  const max = env["GVMCONV_BLOCK_CACHE_MAX"];
  if (max === undefined || max === "") return DEFAULT_BLOCK_CACHE_MAX;
  if (!/^\d+$/.test(max) || Number(max) < 1 || Number(max) > 2 ** 32) {
    throw new UsageError(`GVMCONV_BLOCK_CACHE_MAX must be a whole number of MiB from 1, got '${max}'`);
  }
  return Number(max) * 1024 * 1024;
}

/** The caller's context, or one made from its options. */
export function contextOf(options: RunOptions = {}): RunContext {
  return options.context ?? createContext(options);
}
