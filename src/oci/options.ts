/** Options of `openImage`, and their resolved form the sources receive. */
import { tmpdir } from "node:os";
import type { Env } from "../context.js";
import type { Timeouts } from "../http/index.js";
import type { Reporter } from "../reporter.js";
import { silentReporter } from "../reporter.js";
import { BlobCache, defaultCacheDir } from "./blob-cache.js";
import { defaultCredentialSource, type CredentialSource, type Credentials } from "./credentials.js";
import { parsePlatform, type Platform } from "./manifest.js";
import { TokenCache } from "./token-cache.js";

export interface OpenImageOptions {
  /** `os/arch[/variant]` or a Platform; default `linux/amd64` (what Golem VMs run). */
  platform?: string | Platform;
  /** Blob cache directory; default `$XDG_CACHE_HOME/gvmconv` or `~/.cache/gvmconv`. */
  cacheDir?: string;
  reporter?: Reporter;
  /** Allow plain HTTP and unverified TLS for the registry (loopback registries get HTTP fallback anyway). */
  insecure?: boolean;
  /**
   * Credentials: a `{ username, password }` pair used for the image's registry, or a full
   * `CredentialSource`. Default: env vars, Docker and Podman config files (see credentials.ts).
   */
  credentials?: Credentials | CredentialSource;
  /**
   * A Docker/Podman `auth.json` to read instead of the default files (podman's and skopeo's
   * `--authfile`). A missing or malformed file fails `openImage` before any request. Ignored when
   * `credentials` is a full `CredentialSource`.
   */
  authFile?: string;
  signal?: AbortSignal;
  /** Parallel layer downloads (default 4). */
  concurrency?: number;
  /** Retries per request / per download without progress (default 5). */
  retries?: number;
  /** First retry delay in ms (default 500). */
  retryDelayMs?: number;
  /** Registry request timeouts and minimum body rate (src/http/timeouts.ts; headers default 120 s here). */
  timeouts?: Timeouts;
  /** Max decompressed/compressed ratio before a layer is refused (default 1100). */
  maxDecompressionRatio?: number;
  /** Where temporary files go (docker-daemon exports, gunzipped archives); default os.tmpdir(). */
  tmpDir?: string;
  /**
   * Look a plain reference up in a local Docker/Podman engine before the registry (default true;
   * see engine.ts). `docker://REF` never asks the engine; image ids and `docker-daemon:` always do.
   */
  engine?: boolean;
  /** Environment for credential lookup, the cache directory and DOCKER_HOST (a run context's; see context.ts). */
  env: Env;
}

export interface ResolvedOptions {
  platform: Platform;
  cache: BlobCache;
  reporter: Reporter;
  insecure: boolean;
  credentials: CredentialSource;
  signal: AbortSignal | undefined;
  concurrency: number;
  retries: number;
  retryDelayMs: number;
  timeouts: Timeouts;
  maxRatio: number | undefined;
  tmpDir: string;
  env: Env;
  tokenCache: TokenCache;
  engine: boolean;
}

/** One token cache per process: tokens outlive a single image. */
const sharedTokens = new TokenCache();

export function resolveOptions(opts: OpenImageOptions): ResolvedOptions {
  const env = opts.env;
  const c = opts.credentials;
  const credentials: CredentialSource =
    c !== undefined && "lookup" in c
      ? c
      : defaultCredentialSource({ env, explicit: c, authFile: opts.authFile });
  return {
    platform:
      typeof opts.platform === "string"
        ? parsePlatform(opts.platform)
        : (opts.platform ?? { os: "linux", architecture: "amd64" }),
    cache: new BlobCache(opts.cacheDir ?? defaultCacheDir(env)),
    reporter: opts.reporter ?? silentReporter,
    insecure: opts.insecure ?? false,
    credentials,
    signal: opts.signal,
    concurrency: opts.concurrency ?? 4,
    retries: opts.retries ?? 5,
    retryDelayMs: opts.retryDelayMs ?? 500,
    timeouts: opts.timeouts ?? {},
    maxRatio: opts.maxDecompressionRatio,
    tmpDir: opts.tmpDir ?? tmpdir(),
    env,
    tokenCache: sharedTokens,
    engine: opts.engine ?? true,
  };
}
