/**
 * The library, loaded when a command runs rather than when the CLI starts: `gvmconv --help` and
 * usage errors need none of it (HTTP client, compressors, workers). Commands import values only
 * through `library()`, and types and errors from the package's public entry points.
 */
export type Library = typeof import("../index.js");

let loaded: Library | undefined;

export async function library(): Promise<Library> {
  loaded ??= await import("../index.js");
  return loaded;
}

/** The library if a command has loaded it (for the signal handler: no library, no outputs pending). */
export function loadedLibrary(): Library | undefined {
  return loaded;
}
