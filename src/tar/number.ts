/**
 * Numeric header fields: ASCII octal (POSIX ustar), or GNU/star base-256 for values that do not
 * fit (sizes of 8 GiB and more, uids past 2097151, mtimes before 1970).
 */
import { TarFormatError } from "./errors.js";

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Decodes one numeric field. Octal: optional leading spaces, digits, then NUL or space; an empty
 * (all-NUL or all-space) field is 0. Base-256: the top bit of the first byte is the marker, the
 * rest is a big-endian two's complement number (0xff first: negative). A value past 2^53-1 in
 * either direction is refused rather than rounded.
 */
export function decodeNumber(field: Uint8Array): number {
  const first = field[0] ?? 0;
  if (first & 0x80) return decodeBase256(field);
  let end = field.indexOf(0);
  if (end < 0) end = field.length;
  const text = Buffer.from(field.subarray(0, end)).toString("latin1").trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad number field "${text}"`);
  const value = parseInt(text, 8);
  if (!Number.isSafeInteger(value)) throw new TarFormatError(`number field ${text} (octal) is beyond 2^53-1`);
  return value;
}

function decodeBase256(field: Uint8Array): number {
  const negative = field[0] === 0xff;
  // Positive: the marker bit is not part of the value. Negative: the whole field is the value.
  let v = BigInt((field[0] ?? 0) & (negative ? 0xff : 0x7f));
  for (let i = 1; i < field.length; i++) v = (v << 8n) | BigInt(field[i] ?? 0);
  if (negative) v -= 1n << BigInt(8 * field.length);
  if (v > MAX || v < -MAX) throw new TarFormatError(`base-256 number field ${v} is beyond 2^53-1`);
  return Number(v);
}
