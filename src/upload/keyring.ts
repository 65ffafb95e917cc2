/**
 * gvmkit-build's login in the OS keyring, so users who switch keep it.
 *
 * gvmkit-build 0.3.19 (`src/login.rs`) stores one entry through the Rust `keyring` crate 2.0:
 * service `gvmkit-build-rs`, account `default`, password `user:token`. On Linux that crate writes a
 * Secret Service item (D-Bus) with the attributes `service`, `username`, `target` = `default` and
 * `application` = `rust-keyring` in the default collection, and finds items by `service` and
 * `username` alone; on macOS a Keychain generic password, on Windows a Credential Manager entry.
 *
 * We reach the same entries through `@napi-rs/keyring`, a binding of that same crate family
 * (its Secret Service store finds items by the same two attributes), prebuilt for every platform
 * gvmconv runs on. It is an optional dependency: without it, or without a keyring, the keyring is
 * simply not a source. On Linux the entry is pinned to the Secret Service (gvmkit-build's store;
 * the binding would otherwise fall back to the kernel keyring, where gvmkit-build never wrote),
 * and is only tried when the run's environment names a session bus (`DBUS_SESSION_BUS_ADDRESS`):
 * headless machines and CI have none, and libdbus would otherwise try to autolaunch one.
 * `GVMCONV_KEYRING=0` turns the keyring off altogether.
 *
 * Every call has a timeout: a Secret Service that never answers must not hang a build.
 */
import type { Env } from "../context.js";

export const KEYRING_SERVICE = "gvmkit-build-rs";
export const KEYRING_ACCOUNT = "default";

/** How long one keyring call may take; a desktop keyring may first ask to be unlocked. */
export const KEYRING_TIMEOUT_MS = 20_000;

/** The one keyring entry gvmkit-build and gvmconv share. */
export interface KeyringEntry {
  /** The stored value (`user:token`), undefined when there is none. Rejects when the store fails. */
  get(): Promise<string | undefined>;
  set(value: string): Promise<void>;
  /** False when there was no entry. */
  delete(): Promise<boolean>;
}

/** The part of `@napi-rs/keyring` we use (typed here: the package is optional). */
interface AsyncEntryLike {
  getPassword(signal?: AbortSignal): Promise<string | null | undefined>;
  setPassword(password: string, signal?: AbortSignal): Promise<void>;
  deleteCredential(signal?: AbortSignal): Promise<boolean>;
}
interface KeyringModule {
  AsyncEntry: new (service: string, account: string, options?: unknown) => AsyncEntryLike;
}

/** Whether the run's environment lets us try the OS keyring at all (see the module comment). */
export function keyringAllowed(env: Env, platform: NodeJS.Platform = process.platform): boolean {
  const setting = (env["GVMCONV_KEYRING"] ?? "").toLowerCase();
  if (setting === "0" || setting === "off" || setting === "false" || setting === "no") return false;
  if (platform === "linux" || platform === "freebsd") return Boolean(env["DBUS_SESSION_BUS_ADDRESS"]);
  return platform === "darwin" || platform === "win32";
}

/** The shared entry, or undefined when no keyring can be reached (never an error). */
export async function openKeyring(
  env: Env,
  options: { timeoutMs?: number } = {},
): Promise<KeyringEntry | undefined> {
  if (!keyringAllowed(env)) return undefined;
  const timeoutMs = options.timeoutMs ?? KEYRING_TIMEOUT_MS;
  let entry: AsyncEntryLike;
  try {
    // A variable specifier: the package is optional, and its absence is not a build error.
    const name = "@napi-rs/keyring";
    const mod = (await import(name)) as KeyringModule;
    entry = new mod.AsyncEntry(KEYRING_SERVICE, KEYRING_ACCOUNT, { linux: { store: "secret-service" } });
  } catch {
    return undefined; // not installed, or no Secret Service on this bus
  }
  const signal = (): AbortSignal => AbortSignal.timeout(timeoutMs);
  return {
    get: async () => (await entry.getPassword(signal())) ?? undefined,
    set: (value) => entry.setPassword(value, signal()),
    delete: () => entry.deleteCredential(signal()),
  };
}

/**
 * gvmkit-build's value, `user:token`, split at the first `:` (it splits on every `:` and keeps
 * the first two parts; tokens have none, so both read the same). Undefined unless both are there.
 */
export function parseKeyringLogin(value: string): { user: string; token: string } | undefined {
  const colon = value.indexOf(":");
  if (colon <= 0 || colon === value.length - 1) return undefined;
  return { user: value.slice(0, colon), token: value.slice(colon + 1) };
}

/** The value gvmkit-build stores for a login. */
export function formatKeyringLogin(credentials: { user: string; token: string }): string {
  return `${credentials.user}:${credentials.token}`;
}
