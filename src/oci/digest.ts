/**
 * Content digests (image-spec descriptor.md): `<algorithm>:<encoded>`; sha256 and sha512 are
 * the registered algorithms, lowercase hex. Streams that hash what passes through them.
 */
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { DigestMismatchError, InvalidDigestError } from "./errors.js";

const HEX_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  readonly digest: string;
  readonly algorithm: "sha256" | "sha512";
  readonly hex: string;
}

/** Validate `sha256:<64 lowercase hex>` (or sha512); `opts.hint` says what to do when it is not. */
export function parseDigest(digest: string, opts: { hint?: string } = {}): ParsedDigest {
  const colon = digest.indexOf(":");
  if (colon < 0) throw new InvalidDigestError(digest, "expected <algorithm>:<hex>", opts);
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const len = HEX_LENGTH[algorithm];
  if (len === undefined)
    throw new InvalidDigestError(digest, `unsupported algorithm "${algorithm}" (sha256 or sha512)`, opts);
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex))
    throw new InvalidDigestError(digest, `expected ${len} lowercase hex digits`, opts);
  return { digest, algorithm: algorithm as "sha256" | "sha512", hex };
}

export function isDigest(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

export function digestOf(data: Uint8Array, algorithm: "sha256" | "sha512" = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

/** Throw `DigestMismatchError` unless `data` hashes to `expected`. */
export function verifyBytes(data: Uint8Array, expected: string, what: string): void {
  const { algorithm } = parseDigest(expected);
  const actual = digestOf(data, algorithm);
  if (actual !== expected) throw new DigestMismatchError(expected, actual, what);
}

/**
 * A pass-through that hashes its data and, when `expected` is given, fails at the end of the
 * stream if the digest (or `expectedSize`) differs. Consumers must treat that final error as
 * fatal: the bytes they already saw are not what was promised.
 */
export class DigestingStream extends Transform {
  readonly #hash: Hash;
  readonly #algorithm: string;
  readonly #expected: string | undefined;
  readonly #expectedSize: number | undefined;
  readonly #what: string;
  readonly #mismatch: ((actual: string) => Error) | undefined;
  #size = 0;
  #digest: string | undefined;

  constructor(opts: {
    expected?: string;
    expectedSize?: number;
    algorithm?: "sha256" | "sha512";
    what?: string;
    /** Build the error thrown on a digest mismatch (e.g. a DiffIdMismatchError). */
    mismatch?: (actual: string) => Error;
  }) {
    super();
    const algorithm =
      opts.expected !== undefined ? parseDigest(opts.expected).algorithm : (opts.algorithm ?? "sha256");
    this.#algorithm = algorithm;
    this.#hash = createHash(algorithm);
    this.#expected = opts.expected;
    this.#expectedSize = opts.expectedSize;
    this.#what = opts.what ?? "content";
    this.#mismatch = opts.mismatch;
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }
  /** The digest, once the stream has ended. */
  get digest(): string | undefined {
    return this.#digest;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#size += chunk.length;
    if (this.#expectedSize !== undefined && this.#size > this.#expectedSize) {
      cb(
        new DigestMismatchError(
          this.#expected ?? "?",
          `more than ${this.#expectedSize} bytes`,
          `${this.#what} is longer than its descriptor says`,
        ),
      );
      return;
    }
    this.#hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.#digest = `${this.#algorithm}:${this.#hash.digest("hex")}`;
    if (this.#expectedSize !== undefined && this.#size !== this.#expectedSize) {
      cb(
        new DigestMismatchError(
          this.#expected ?? "?",
          `${this.#size} bytes`,
          `${this.#what} is ${this.#size} bytes, its descriptor says ${this.#expectedSize}`,
        ),
      );
      return;
    }
    if (this.#expected !== undefined && this.#digest !== this.#expected) {
      cb(
        this.#mismatch?.(this.#digest) ??
          new DigestMismatchError(this.#expected, this.#digest, `${this.#what} does not match its digest`),
      );
      return;
    }
    cb();
  }
}
