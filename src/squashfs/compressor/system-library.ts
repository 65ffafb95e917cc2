/**
 * Loading a system library through koffi (FFI), once per thread: the compressors that call the
 * system's liblzma, liblzo2 and liblz4 share this. Each worker thread binds its own copy (koffi's
 * handles do not cross threads), so the memo is per module instance, which is per thread.
 */
import { createRequire } from "node:module";

/** Library file names to try, per platform, in order (a soname, then Homebrew's paths on macOS). */
export type LibraryNames = Partial<Record<NodeJS.Platform, string[]>>;

/** A koffi-bound C function. */
export interface KoffiFn {
  (...args: unknown[]): unknown;
}

export type Koffi = typeof import("koffi");

/** koffi itself, loaded on first use (it is a native addon; gzip-only runs never load it). */
export function koffi(): Koffi {
  return createRequire(import.meta.url)("koffi") as Koffi;
}

export interface SystemLibrary<T> {
  /** The bound library, or null when koffi or every candidate failed to load or bind. */
  get(): T | null;
  /** Why get() returned null: the last loader error, for an error message. */
  failure(): string;
}

/** A lazily loaded, memoized system library: the first of `names` that `bind` accepts. */
export function systemLibrary<T>(names: LibraryNames, bind: (name: string) => T): SystemLibrary<T> {
  let cached: T | null | undefined;
  let failure = "";
  return {
    get(): T | null {
      if (cached === undefined) {
        cached = null;
        for (const name of names[process.platform] ?? []) {
          try {
            cached = bind(name);
            break;
          } catch (err) {
            // Not installed, too old, or koffi has no binary for this platform: try the next.
            failure = err instanceof Error ? err.message : String(err);
          }
        }
      }
      return cached;
    },
    failure: () => failure,
  };
}
