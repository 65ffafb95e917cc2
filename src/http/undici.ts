/**
 * undici, loaded on first use rather than when the library is imported: it is ~80 ms of the
 * library's start-up (of ~185), which the commands that never make a request (`squashfs`, `ls`,
 * `cat`, `inspect` of a file) and library callers that only write images should not pay. Types
 * come from `import type`, which costs nothing at run time. undici is CommonJS, so `require`
 * returns the same instance an `import` elsewhere (a test's MockAgent) gets.
 */
import { createRequire } from "node:module";

const lazyRequire = createRequire(import.meta.url);
let loaded: typeof import("undici") | undefined;

export function undici(): typeof import("undici") {
  return (loaded ??= lazyRequire("undici") as typeof import("undici"));
}
