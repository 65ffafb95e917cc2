/**
 * Registry credentials: a user name and a personal access token from the registry portal.
 *
 * Sources, first match wins per field: `REGISTRY_USER`/`REGISTRY_TOKEN` in the run's environment —
 * which already holds the variables of the nearest `.env` (the run context reads it as
 * gvmkit-build's dotenv does, beneath the real environment; see src/dotenv.ts) — then the login
 * stored by `gvmconv login`, then gvmkit-build's login in the OS keyring (see keyring.ts): the
 * incumbent's order (environment, then keyring) with our own file in between. We keep a JSON file
 * at `$XDG_CONFIG_HOME/gvmconv/credentials.json` (or
 * `~/.config/gvmconv/…`), mode 0600 in a 0700 directory, which works the same on CI machines and
 * headless servers; `gvmconv login` also writes the keyring entry where a keyring is reachable, so
 * gvmkit-build sees the same login, and `gvmconv logout` removes both, as gvmkit-build --logout
 * removes its entry. The token is held where `JSON.stringify` and `util.inspect` cannot see it.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { inspect } from "node:util";
import type { Env } from "../context.js";
import type { Reporter } from "../reporter.js";
import { silentReporter } from "../reporter.js";
import type { GolemRegistryClient } from "./client.js";
import { CredentialsError, RegistryAuthError } from "./errors.js";
import { formatKeyringLogin, openKeyring, parseKeyringLogin, type KeyringEntry } from "./keyring.js";

export type CredentialsSource = "env" | "dotenv" | "stored" | "keyring";

/** A user name and token. The token is a private field: logging the object shows `***`. */
export class RegistryCredentials {
  readonly user: string;
  readonly source: CredentialsSource | "given";
  readonly #token: string;

  constructor(user: string, token: string, source: CredentialsSource | "given" = "given") {
    this.user = user;
    this.#token = token;
    this.source = source;
  }

  get token(): string {
    return this.#token;
  }

  toJSON(): { user: string; token: string; source: string } {
    return { user: this.user, token: "***", source: this.source };
  }

  toString(): string {
    return `RegistryCredentials(${this.user}, ***)`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** The one `.env` parser (the run context reads `.env`; see src/dotenv.ts). */
export { parseDotenv } from "../dotenv.js";

/** `$XDG_CONFIG_HOME/gvmconv/credentials.json`, or `~/.config/gvmconv/credentials.json`. */
export function credentialsPath(env: Env): string {
  const base =
    env["XDG_CONFIG_HOME"] && env["XDG_CONFIG_HOME"].startsWith("/")
      ? env["XDG_CONFIG_HOME"]
      : join(homedir(), ".config");
  return join(base, "gvmconv", "credentials.json");
}

export interface CredentialsLookup {
  /** Environment to read (a run context's, `.env` included; see context.ts). */
  env: Env;
  /** The variables of `env` that came from `.env` (a context's `dotenv.keys`): reported as such. */
  dotenvKeys?: ReadonlySet<string>;
  /** Stored-credentials file (default `credentialsPath(env)`). */
  path?: string;
  reporter?: Reporter;
  /** The OS keyring entry; `false`: do not use the keyring. Default: `openKeyring(env)`. */
  keyring?: KeyringEntry | false;
}

/**
 * Credentials from the environment, `.env`, the stored login, or gvmkit-build's keyring entry;
 * undefined when none is complete.
 */
export async function resolveCredentials(
  lookup: CredentialsLookup,
): Promise<RegistryCredentials | undefined> {
  const user = lookup.env["REGISTRY_USER"];
  const token = lookup.env["REGISTRY_TOKEN"];
  if (user && token) {
    const fromFile = lookup.dotenvKeys?.has("REGISTRY_USER") || lookup.dotenvKeys?.has("REGISTRY_TOKEN");
    return new RegistryCredentials(user, token, fromFile ? "dotenv" : "env");
  }
  return (await readStoredCredentials(lookup)) ?? (await readKeyringCredentials(lookup));
}

/**
 * gvmkit-build's login from the OS keyring, if one is reachable and holds it. A keyring that fails
 * (locked, timed out) is passed over with an info line: it is a convenience, never a requirement.
 */
export async function readKeyringCredentials(
  lookup: Pick<CredentialsLookup, "env" | "reporter" | "keyring">,
): Promise<RegistryCredentials | undefined> {
  const keyring = await keyringOf(lookup);
  if (keyring === undefined) return undefined;
  let value: string | undefined;
  try {
    value = await keyring.get();
  } catch (err) {
    (lookup.reporter ?? silentReporter).info(
      `the OS keyring could not be read (${errorText(err)}); not using it`,
    );
    return undefined;
  }
  const login = value === undefined ? undefined : parseKeyringLogin(value);
  return login && new RegistryCredentials(login.user, login.token, "keyring");
}

async function keyringOf(
  lookup: Pick<CredentialsLookup, "env" | "keyring">,
): Promise<KeyringEntry | undefined> {
  if (lookup.keyring === false) return undefined;
  return lookup.keyring ?? (await openKeyring(lookup.env));
}

/** A keyring error's message, which never holds the secret (we only pass it in `set`). */
function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The stored login, if any. Warns `W_GOLEM_CREDENTIALS_PERMISSIONS` when others can read the file. */
export async function readStoredCredentials(
  lookup: Pick<CredentialsLookup, "env" | "path" | "reporter">,
): Promise<RegistryCredentials | undefined> {
  const path = lookup.path ?? credentialsPath(lookup.env);
  const reporter = lookup.reporter ?? silentReporter;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CredentialsError(path, `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (process.platform !== "win32" && ((await stat(path)).mode & 0o077) !== 0) {
    reporter.warn({
      code: "W_GOLEM_CREDENTIALS_PERMISSIONS",
      message: `${path} is readable by other users; run chmod 600 on it`,
      path,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // No `cause`: a JSON syntax error message quotes the file's text, token included.
    throw new CredentialsError(path, `${path} is not valid JSON`, {
      hint: "run `gvmconv logout` and log in again",
    });
  }
  const o = parsed as Record<string, unknown> | null;
  if (!o || typeof o["user"] !== "string" || typeof o["token"] !== "string" || !o["user"] || !o["token"]) {
    throw new CredentialsError(path, `${path} does not hold a user and a token`, {
      hint: "run `gvmconv logout` and log in again",
    });
  }
  return new RegistryCredentials(o["user"], o["token"], "stored");
}

/**
 * Store a login (replacing any previous one, as the incumbent keeps a single login). Written to a
 * temporary file created 0600 and renamed, so the token is never briefly world-readable and a
 * crash never leaves half a file.
 */
export async function saveCredentials(
  credentials: { user: string; token: string },
  lookup: Pick<CredentialsLookup, "env" | "path">,
): Promise<string> {
  const path = lookup.path ?? credentialsPath(lookup.env);
  const dir = dirname(path);
  const tmp = join(dir, `.credentials.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const body = JSON.stringify({ user: credentials.user, token: credentials.token }, null, 2) + "\n";
    await writeFile(tmp, body, { mode: 0o600, flag: "wx" });
    await chmod(tmp, 0o600); // the umask may have narrowed it; never widened, but make it exact
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CredentialsError(path, `cannot store credentials in ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return path;
}

/** Forget the stored login. Returns false when there was none. */
export async function removeCredentials(lookup: Pick<CredentialsLookup, "env" | "path">): Promise<boolean> {
  const path = lookup.path ?? credentialsPath(lookup.env);
  try {
    await rm(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new CredentialsError(path, `cannot remove ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Check the user name and token with the registry, then store them: in our file, and in the OS
 * keyring entry gvmkit-build reads when a keyring is reachable (`keyring: true`; a keyring that
 * fails is reported and passed over). A rejected login throws `RegistryAuthError` and stores
 * nothing. (Prompting is the CLI's job.)
 */
export async function login(
  client: GolemRegistryClient,
  credentials: { user: string; token: string },
  lookup: Pick<CredentialsLookup, "env" | "path" | "keyring" | "reporter">,
): Promise<{ path: string; keyring: boolean; credentials: RegistryCredentials }> {
  if (!(await client.checkLogin(credentials.user, credentials.token))) {
    throw new RegistryAuthError(
      credentials.user,
      `the registry at ${client.url} rejected the token for ${credentials.user}`,
      401,
    );
  }
  const path = await saveCredentials(credentials, lookup);
  let inKeyring = false;
  const keyring = await keyringOf(lookup);
  if (keyring !== undefined) {
    try {
      await keyring.set(formatKeyringLogin(credentials));
      inKeyring = true;
    } catch (err) {
      (lookup.reporter ?? silentReporter).info(`the OS keyring could not be written (${errorText(err)})`);
    }
  }
  return {
    path,
    keyring: inKeyring,
    credentials: new RegistryCredentials(credentials.user, credentials.token, "stored"),
  };
}

const SOURCE_TEXT: Record<CredentialsSource | "given", string> = {
  env: "REGISTRY_USER/REGISTRY_TOKEN in the environment",
  dotenv: "REGISTRY_USER/REGISTRY_TOKEN in .env",
  stored: "the login stored by gvmconv login",
  keyring: "gvmkit-build's login in the OS keyring",
  given: "the credentials given",
};

/**
 * Checks a login with the registry (`POST /auth/pat/login`) before any work, as gvmkit-build
 * checks REGISTRY_USER/REGISTRY_TOKEN before building and stops when they fail ("Login to golem
 * registry: URL failed"). A rejected login throws `RegistryAuthError` naming where it came from.
 */
export async function verifyCredentials(
  client: GolemRegistryClient,
  credentials: { user: string; token: string; source?: CredentialsSource | "given" },
): Promise<void> {
  if (await client.checkLogin(credentials.user, credentials.token)) return;
  const from = SOURCE_TEXT[credentials.source ?? "given"];
  throw new RegistryAuthError(
    credentials.user,
    `the registry at ${client.url} rejected the login of ${credentials.user} (from ${from})`,
    401,
  );
}

/** `--login-check`: are the resolved credentials accepted? */
export async function checkLogin(
  client: GolemRegistryClient,
  lookup: CredentialsLookup,
): Promise<{ found: false } | { found: true; user: string; source: string; valid: boolean }> {
  const creds = await resolveCredentials(lookup);
  if (!creds) return { found: false };
  return {
    found: true,
    user: creds.user,
    source: creds.source,
    valid: await client.checkLogin(creds.user, creds.token),
  };
}

/** `--logout`: forgets the stored login and the keyring entry. False when there was neither. */
export async function logout(
  lookup: Pick<CredentialsLookup, "env" | "path" | "keyring" | "reporter">,
): Promise<boolean> {
  const removed = await removeCredentials(lookup);
  const keyring = await keyringOf(lookup);
  if (keyring === undefined) return removed;
  try {
    return (await keyring.delete()) || removed;
  } catch (err) {
    (lookup.reporter ?? silentReporter).info(`the OS keyring entry could not be removed (${errorText(err)})`);
    return removed;
  }
}
