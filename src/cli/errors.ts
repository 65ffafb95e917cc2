/**
 * How the CLI reports a failure. A `GvmconvError` is something the user can fix: ONE line,
 * `gvmconv: error [CODE]: message — hint`, exit 1 (2 for usage errors, 130 when stopped), its stack only with
 * --debug. Anything else is a bug in gvmconv: its full stack, always.
 */
import type { Writable } from "node:stream";
import { isGvmconvError, printableText, redactSecrets } from "../errors.js";

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** A run stopped by Ctrl-C: what a shell reports for SIGINT (128 + 2). */
export const EXIT_INTERRUPTED = 130;

/** Prints `err` to `stderr` and returns the exit code. */
export function reportError(err: unknown, stderr: Writable, debug: boolean): number {
  // Messages are redacted when built; causes from below (undici, Node) and bugs are not, so
  // everything printed goes through the same rule once more (src/redact.ts).
  if (isGvmconvError(err)) {
    // One line: a file name's unprintable bytes (a newline, an escape sequence, Latin-1) as \xNN.
    const message = printableText(err.message.split("\n")[0] ?? "");
    const hint = printableText(err.hint);
    stderr.write(redactSecrets(`gvmconv: error [${err.code}]: ${message}${hint ? ` — ${hint}` : ""}`) + "\n");
    if (debug && err.stack) stderr.write(`${redactSecrets(stackWithCauses(err))}\n`);
    if (err.code === "E_ABORTED") return EXIT_INTERRUPTED;
    return err.code === "E_USAGE" ? EXIT_USAGE : EXIT_FAILURE;
  }
  stderr.write(`gvmconv: internal error (a bug in gvmconv; please report it with this output):\n`);
  stderr.write(`${redactSecrets(err instanceof Error ? stackWithCauses(err) : String(err))}\n`);
  return EXIT_FAILURE;
}

function stackWithCauses(err: Error): string {
  let text = err.stack ?? String(err);
  let cause = err.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    text += `\nCaused by: ${cause instanceof Error ? (cause.stack ?? String(cause)) : String(cause)}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return text;
}
