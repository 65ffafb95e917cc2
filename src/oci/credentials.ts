/**
 * Where image-registry credentials come from, first match wins:
 *   1. explicit credentials passed by the caller (CLI `--creds`, library `image.credentials`);
 *   2. environment: `GVMCONV_REGISTRY_USER` + `GVMCONV_REGISTRY_PASSWORD`, for the registry named by
 *      `GVMCONV_REGISTRY_HOST` or, when that is unset, for whichever registry the image comes from;
 *   3. the files podman and skopeo read, in their order (see `credentialFiles`): `--authfile` or
 *      `REGISTRY_AUTH_FILE` alone when given; else `$XDG_RUNTIME_DIR/containers/auth.json` (without
 *      XDG_RUNTIME_DIR `/run/containers/$UID/auth.json`), `$XDG_CONFIG_HOME/containers/auth.json`,
 *      `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), `~/.dockercfg`.
 *   In each file: `credHelpers[host]`, then `auths` (base64 `user:password` in `auth`, or
 *   `identitytoken`; keys may be `host/namespace`, longest wins), then `credsStore`; helpers run as
 *   `docker-credential-<name> get` with the server URL on stdin.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Env } from "../context.js";
import { GvmconvError } from "../errors.js";
import { CredentialHelperError } from "./errors.js";
import { DOCKER_HUB, DOCKER_HUB_CONFIG_KEY, DOCKER_HUB_ENDPOINT } from "./reference.js";

export interface Credentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token (Docker's `identitytoken`), used instead of the password with token servers. */
  identityToken?: string;
}

export interface CredentialSource {
  /** Credentials for `registry` (normalized host, e.g. `docker.io`), `repository` for per-namespace keys. */
  lookup(registry: string, repository?: string): Promise<Credentials | undefined>;
}

export interface CredentialOptions {
  /** Credentials to use for every registry (e.g. from `--creds user:password`). */
  explicit?: Credentials;
  /** Environment to read (a run context's; see context.ts). */
  env: Env;
  /** Home directory; defaults to `os.homedir()`. */
  home?: string;
  /** Set false to ignore config files and helpers (tests, hermetic CI). */
  useConfigFiles?: boolean;
  /** A Docker/Podman auth file to read instead of the default files (`--authfile`); must exist. */
  authFile?: string;
  /** Directory holding `containers/$UID/auth.json` when XDG_RUNTIME_DIR is unset; default `/run`. */
  runDir?: string;
  /** User id for that path; default `process.getuid()`. */
  uid?: number;
}

/** Keys under which a registry may appear in a Docker/Podman config file. */
function configKeys(registry: string): string[] {
  if (registry === DOCKER_HUB || registry === DOCKER_HUB_ENDPOINT || registry === "index.docker.io") {
    return [
      DOCKER_HUB_CONFIG_KEY,
      "index.docker.io",
      DOCKER_HUB,
      DOCKER_HUB_ENDPOINT,
      "https://index.docker.io/v1",
    ];
  }
  return [
    registry,
    `https://${registry}`,
    `http://${registry}`,
    `https://${registry}/v1/`,
    `https://${registry}/v2/`,
  ];
}

/** Strip scheme and path from a config key: `https://index.docker.io/v1/` → `index.docker.io`. */
function normalizeKey(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//, "")
    .replace(/\/(v1|v2)\/?$/, "")
    .replace(/\/$/, "");
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}
interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

async function readJson(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null ? (v as ConfigFile) : undefined;
  } catch {
    return undefined; // a broken config file is not ours to fail on; Docker itself would complain
  }
}

function decodeEntry(entry: AuthEntry | undefined): Credentials | undefined {
  if (entry === undefined) return undefined;
  let username = entry.username ?? "";
  let password = entry.password ?? "";
  if (typeof entry.auth === "string" && entry.auth.length > 0) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon >= 0) {
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
  }
  const identityToken =
    typeof entry.identitytoken === "string" && entry.identitytoken.length > 0
      ? entry.identitytoken
      : undefined;
  if (username === "" && password === "" && identityToken === undefined) return undefined;
  return identityToken !== undefined ? { username, password, identityToken } : { username, password };
}

function findEntry<T>(
  map: Record<string, T> | undefined,
  registry: string,
  repository?: string,
): T | undefined {
  if (map === undefined) return undefined;
  // Podman allows `host/namespace/repo` keys; the most specific one wins.
  if (repository !== undefined) {
    const parts = repository.split("/");
    for (let n = parts.length; n >= 1; n--) {
      const key = `${registry}/${parts.slice(0, n).join("/")}`;
      if (map[key] !== undefined) return map[key];
    }
  }
  for (const k of configKeys(registry)) if (map[k] !== undefined) return map[k];
  const want = normalizeKey(configKeys(registry)[0] ?? registry);
  for (const [k, v] of Object.entries(map)) if (normalizeKey(k) === want) return v;
  return undefined;
}

/**
 * How long a credential helper may take to answer. Long enough for a keychain or a desktop app to
 * wake, and a person to type a passphrase into a pinentry; bounded, because a helper that waits
 * for a prompt nobody can see (a CI job, a container without a TTY) would otherwise hold the run
 * for ever.
 */
export const CREDENTIAL_HELPER_TIMEOUT_MS = 120_000;

/** Run `docker-credential-<helper> get`; `undefined` when it knows nothing about the server or is not installed. */
export async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number = CREDENTIAL_HELPER_TIMEOUT_MS,
): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) throw new CredentialHelperError(helper, "invalid helper name");
  return await new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, ["get"], { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ENOENT")
        resolve(undefined); // helper configured but not installed: as if absent
      else reject(new CredentialHelperError(helper, e.message, { cause: e }));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new CredentialHelperError(
            helper,
            `gave no answer within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}`,
            {
              hint: "if it waits for a passphrase or a desktop app, unlock that first; or give credentials with --creds or --authfile",
            },
          ),
        );
        return;
      }
      const stdout = Buffer.concat(out).toString("utf8").trim();
      if (code !== 0) {
        // Helpers report an unknown server as "credentials not found in native keychain".
        if (/not found/i.test(stdout + Buffer.concat(err).toString("utf8"))) resolve(undefined);
        else
          reject(
            new CredentialHelperError(
              helper,
              `exited with ${code}: ${(stdout || Buffer.concat(err).toString("utf8")).trim()}`,
            ),
          );
        return;
      }
      try {
        const v = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (typeof v.Secret !== "string" || v.Secret === "") return resolve(undefined);
        // A Username of "<token>" marks the secret as an identity (refresh) token.
        if (v.Username === "<token>") resolve({ username: "", password: "", identityToken: v.Secret });
        else resolve({ username: v.Username ?? "", password: v.Secret });
      } catch (e) {
        reject(new CredentialHelperError(helper, "printed something that is not JSON", { cause: e }));
      }
    });
    child.stdin.on("error", () => {});
    child.stdin.end(serverUrl);
  });
}

/** An `--authfile` (or `REGISTRY_AUTH_FILE`) that is missing or is not a Docker/Podman auth file. */
export class AuthFileError extends GvmconvError {
  readonly path: string;
  constructor(path: string, message: string) {
    // Never the file's text nor JSON.parse's message: both can quote a secret.
    super("E_OCI_AUTHFILE", `auth file ${path}: ${message}`, {
      hint: 'give the auth.json that "podman login" or "skopeo login" writes (or Docker\'s config.json), or drop --authfile / unset REGISTRY_AUTH_FILE',
    });
    this.path = path;
  }
}

/** Read and check a file the user named: it must exist and be a JSON object (`auths` an object when present). */
export function readAuthFileSync(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AuthFileError(path, code === "ENOENT" ? "no such file" : `cannot be read (${code ?? "error"})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new AuthFileError(path, "is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new AuthFileError(path, "is not a JSON object");
  const auths = (v as ConfigFile).auths;
  if (auths !== undefined && (typeof auths !== "object" || auths === null || Array.isArray(auths))) {
    throw new AuthFileError(path, '"auths" is not an object');
  }
  return v as ConfigFile;
}

/** One file of the lookup: an auth.json/config.json, or the legacy `~/.dockercfg` (host keys at the top). */
interface LookupFile {
  path: string;
  legacy?: boolean;
}

/**
 * The files podman, skopeo and buildah read (containers-auth.json(5), containers/image
 * `getAuthFilePaths`), in their order: an override (`--authfile`, else `REGISTRY_AUTH_FILE`, the
 * default of podman's `--authfile`) replaces the whole list; otherwise the primary file,
 * `$XDG_RUNTIME_DIR/containers/auth.json` or, without XDG_RUNTIME_DIR, `/run/containers/$UID/auth.json`
 * (what root's `podman login` writes), then `$XDG_CONFIG_HOME/containers/auth.json` (default
 * `~/.config`), Docker's `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), `~/.dockercfg`.
 */
export function credentialFiles(opts: CredentialOptions): LookupFile[] {
  const env = opts.env;
  const home = opts.home ?? homedir();
  const override = opts.authFile ?? (env.REGISTRY_AUTH_FILE === "" ? undefined : env.REGISTRY_AUTH_FILE);
  if (override !== undefined) return [{ path: override }];
  const files: LookupFile[] = [];
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime !== "") files.push({ path: join(runtime, "containers", "auth.json") });
  else {
    const uid = opts.uid ?? process.getuid?.();
    if (uid !== undefined)
      files.push({ path: join(opts.runDir ?? "/run", "containers", String(uid), "auth.json") });
  }
  const configHome =
    env.XDG_CONFIG_HOME === undefined || env.XDG_CONFIG_HOME === ""
      ? join(home, ".config")
      : env.XDG_CONFIG_HOME;
  files.push({ path: join(configHome, "containers", "auth.json") });
  const dockerDir =
    env.DOCKER_CONFIG === undefined || env.DOCKER_CONFIG === "" ? join(home, ".docker") : env.DOCKER_CONFIG;
  files.push({ path: join(dockerDir, "config.json") });
  files.push({ path: join(home, ".dockercfg"), legacy: true });
  return files;
}

/** Credentials for `registry` in one config file: `credHelpers[host]`, then `auths`, then `credsStore`. */
async function lookupInFile(
  cfg: ConfigFile,
  registry: string,
  repository: string | undefined,
  env: Env,
): Promise<Credentials | undefined> {
  const serverUrl = configKeys(registry)[0] ?? registry;
  const helper = findEntry(cfg.credHelpers, registry);
  if (typeof helper === "string" && helper !== "") {
    const c = await runCredentialHelper(helper, serverUrl, env);
    if (c !== undefined) return c;
  }
  const c = decodeEntry(findEntry(cfg.auths, registry, repository));
  if (c !== undefined) return c;
  if (typeof cfg.credsStore === "string" && cfg.credsStore !== "") {
    return await runCredentialHelper(cfg.credsStore, serverUrl, env);
  }
  return undefined;
}

/**
 * The default credential lookup chain (see the file comment). A file given as `authFile` (or by
 * `REGISTRY_AUTH_FILE`) is read and checked here, at once, so a missing or broken one fails
 * before any work, as podman's `--authfile` does.
 */
export function defaultCredentialSource(opts: CredentialOptions): CredentialSource {
  const env = opts.env;
  const useFiles = opts.useConfigFiles ?? true;
  const files = useFiles ? credentialFiles(opts) : [];
  const overrideFile = opts.authFile ?? (env.REGISTRY_AUTH_FILE === "" ? undefined : env.REGISTRY_AUTH_FILE);
  const checked = useFiles && overrideFile !== undefined ? readAuthFileSync(overrideFile) : undefined;
  return {
    async lookup(registry, repository) {
      if (opts.explicit !== undefined) return opts.explicit;
      const user = env.GVMCONV_REGISTRY_USER;
      const password = env.GVMCONV_REGISTRY_PASSWORD;
      if (user !== undefined && password !== undefined && user !== "") {
        const host = env.GVMCONV_REGISTRY_HOST;
        if (
          host === undefined ||
          host === "" ||
          normalizeKey(configKeys(host)[0] ?? host) === normalizeKey(configKeys(registry)[0] ?? registry)
        ) {
          return { username: user, password };
        }
      }
      if (checked !== undefined) return await lookupInFile(checked, registry, repository, env);
      for (const f of files) {
        const cfg = await readJson(f.path);
        if (cfg === undefined) continue;
        const c = await lookupInFile(
          f.legacy === true ? { auths: cfg as Record<string, AuthEntry> } : cfg,
          registry,
          repository,
          env,
        );
        if (c !== undefined) return c;
      }
      return undefined;
    },
  };
}
