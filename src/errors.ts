/**
 * Typed errors with stable codes (after undici's lib/core/errors.js and berry's MessageName).
 *
 * Every failure a user can cause or fix is a `GvmconvError` subclass with a stable `code`;
 * `hint` says what to do about it. The CLI prints `error <code>: <message> (<hint>)` as one line,
 * and a stack only under --debug. Anything that is not a GvmconvError is a bug and keeps its stack.
 */
export class GvmconvError extends Error {
  /** Stable, greppable code, e.g. `E_SQUASHFS_NAME_TOO_LONG`. Never reworded once released. */
  readonly code: string;
  /** What the user can do about it, one short sentence; empty when nothing helps. */
  readonly hint: string;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint ?? "";
  }
}

/** Bad command-line usage or option values. */
export class UsageError extends GvmconvError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super("E_USAGE", message, options);
  }
}

/** True when `err` is one of ours (a user-facing failure rather than a bug). */
export function isGvmconvError(err: unknown): err is GvmconvError {
  return err instanceof GvmconvError;
}
