/**
 * A CommonJS dependency loaded on first use rather than when the module that names it is
 * imported: the library's entry point imports every module, so a package only one use case needs
 * (undici, tar-stream, yaml, ajv, aws4, fast-xml-parser) would otherwise be start-up that every
 * run pays. `require` of a CommonJS package returns the instance an `import` elsewhere gets (a
 * test's MockAgent, say); types still come from `import type`, which costs nothing at run time.
 */
import { createRequire } from "node:module";

const requireHere = createRequire(import.meta.url);

/** A getter that loads `specifier` the first time it is called and returns it ever after. */
export function lazyModule<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(specifier) as T);
}
