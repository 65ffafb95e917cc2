/**
 * `.env` files, found and applied the way gvmkit-build does it: its `main` starts with
 * `dotenv::dotenv().ok()` (gvmkit-build-rs src/main.rs), and the dotenv crate (0.15,
 * dotenv-rs `dotenv/src/find.rs` and `iter.rs`)
 *
 * - looks for a regular file named `.env` in the working directory, then in each parent up to the
 *   root, and reads the first one found (a directory named `.env` is passed over; any error other
 *   than "not found" ends the search, and `.ok()` then drops it: no variable is loaded);
 * - sets every variable it holds that the real environment does not already have (`env::var`
 *   failing means unset; a variable set to the empty string counts as set and wins).
 *
 * So `REGISTRY_URL`, `SOURCE_DATE_EPOCH` and every other variable in `.env` reach the whole run,
 * not just the login. The run context (src/context.ts) does this once per run.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

import type { Env } from "./context.js";

/**
 * Parse a dotenv file: `KEY=VALUE` lines, optional `export `, `#` comments, single or double quotes
 * (double quotes understand `\n`). Lines that are not assignments are skipped. Not a shell: no
 * `${VAR}` substitution.
 */
export function parseDotenv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    } else {
      value = value.replace(/\s+#.*$/, "").trim();
    }
    out.set(m[1]!, value);
  }
  return out;
}

/** The `.env` file the incumbent would read from `cwd`: the nearest regular file, walking up. */
export function findDotenv(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, ".env");
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch (err) {
      // As find.rs: only "not found" moves on to the parent.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") return undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** What a `.env` file added to an environment. */
export interface DotenvApplied {
  /** The file read. */
  path: string;
  /** The variables taken from it (those the given environment did not set). */
  keys: ReadonlySet<string>;
}

/**
 * `env` with the variables of the `.env` found from `cwd` added beneath it (the given environment
 * wins). An unreadable file is ignored, as the incumbent ignores it.
 */
export function withDotenv(env: Env, cwd: string): { env: Env; dotenv: DotenvApplied | undefined } {
  const path = findDotenv(cwd);
  if (path === undefined) return { env, dotenv: undefined };
  let values: Map<string, string>;
  try {
    values = parseDotenv(readFileSync(path, "utf8"));
  } catch {
    return { env, dotenv: undefined };
  }
  const merged: Record<string, string | undefined> = { ...env };
  const keys = new Set<string>();
  for (const [key, value] of values) {
    if (env[key] !== undefined) continue;
    merged[key] = value;
    keys.add(key);
  }
  return { env: merged, dotenv: { path, keys } };
}
