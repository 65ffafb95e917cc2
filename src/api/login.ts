/**
 * The Golem registry login: checked with the registry and stored in a file only the user can
 * read, and in gvmkit-build's OS keyring entry where a keyring is reachable (see
 * upload/credentials.ts, upload/keyring.ts). Asking for the user name and token is the caller's job.
 */
import { contextOf, type RunOptions } from "../context.js";
import {
  GolemRegistryClient,
  checkLogin as checkStoredLogin,
  login as storeLogin,
  logout as removeLogin,
  registryUrlFromEnv,
} from "../upload/index.js";

export interface LoginOptions extends RunOptions {
  /** Registry URL. Default: `REGISTRY_URL` from the run's environment, else Golem's registry. */
  registryUrl?: string;
}

export interface LoginResult {
  registryUrl: string;
  user: string;
  /** The file the login is stored in. */
  path: string;
  /** Whether it was also stored in the OS keyring (gvmkit-build's entry). */
  keyring: boolean;
}

/** Checks `credentials` with the registry and stores them; a rejected token stores nothing. */
export async function login(
  credentials: { user: string; token: string },
  options: LoginOptions = {},
): Promise<LoginResult> {
  const context = contextOf(options);
  const client = new GolemRegistryClient({
    url: options.registryUrl ?? registryUrlFromEnv(context.env),
    timeouts: context.network.timeouts,
  });
  try {
    const { path, keyring } = await storeLogin(client, credentials, {
      env: context.env,
      reporter: context.reporter,
    });
    return { registryUrl: client.url, user: credentials.user, path, keyring };
  } finally {
    await client.close();
  }
}

export type LoginCheck =
  | { found: false; registryUrl: string }
  | { found: true; registryUrl: string; user: string; source: string; valid: boolean };

/**
 * Whether the login in use (environment, `.env`, stored, or gvmkit-build's keyring entry) is
 * accepted by the registry. `source` says which: `env`, `dotenv`, `stored` or `keyring`.
 */
export async function checkLogin(options: LoginOptions = {}): Promise<LoginCheck> {
  const context = contextOf(options);
  const client = new GolemRegistryClient({
    url: options.registryUrl ?? registryUrlFromEnv(context.env),
    timeouts: context.network.timeouts,
  });
  try {
    const result = await checkStoredLogin(client, {
      env: context.env,
      dotenvKeys: context.dotenv?.keys,
      reporter: context.reporter,
    });
    return { ...result, registryUrl: client.url };
  } finally {
    await client.close();
  }
}

/** Forgets the stored login and the keyring entry; false when there was neither. */
export async function logout(options: RunOptions = {}): Promise<boolean> {
  const context = contextOf(options);
  return await removeLogin({ env: context.env, reporter: context.reporter });
}
