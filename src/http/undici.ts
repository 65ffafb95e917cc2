/**
 * undici, loaded on first use (src/lazy-module.ts): ~80 ms of the library's start-up (of ~185),
 * which the commands that never make a request (`squashfs`, `ls`, `cat`, `inspect` of a file) and
 * library callers that only write images should not pay.
 */
import { lazyModule } from "../lazy-module.js";

export const undici = lazyModule<typeof import("undici")>("undici");
