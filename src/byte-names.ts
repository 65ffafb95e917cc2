/**
 * File names are bytes (POSIX: anything but NUL and '/'); gvmconv's paths are strings. This is the
 * one mapping between the two, used wherever a name crosses that line: tar headers and PAX
 * records, directory listings on disk, SquashFS directory entries and symlink targets.
 *
 * The mapping is Python's `surrogateescape` (PEP 383, what `os.fsdecode` does): valid UTF-8
 * decodes as UTF-8, and each byte that is not part of a valid sequence becomes the lone surrogate
 * U+DC80 … U+DCFF. So every byte string has exactly one string form and comes back byte for byte
 * (`encodeName(decodeName(b))` is `b`): two different Latin-1 names stay two names, where a lossy
 * decode would turn both into U+FFFD and make one image path of them. The string forms of valid
 * UTF-8 names are the names themselves, so nothing changes for them.
 *
 * For people, `escapeName` prints a name the way a terminal can show it and `unescapeName` reads it
 * back: invalid bytes and control characters as `\xNN`, a backslash as `\\`. Command-line
 * arguments cannot carry the bytes themselves (Node decodes argv as UTF-8, invalid bytes lost), so
 * `gvmconv cat IMAGE 'caf\xe9'` names the Latin-1 file `ls` printed as `caf\xe9`.
 */
import { isUtf8 } from "node:buffer";

/** Code units U+DC80 … U+DCFF stand for the bytes 0x80 … 0xFF that are not valid UTF-8. */
const ESCAPE_BASE = 0xdc00;
const SURROGATE = /[\ud800-\udfff]/;

/** The string form of a name's bytes (see the module comment). */
export function decodeName(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return buf.toString("utf8");
  let out = "";
  let i = 0;
  while (i < buf.length) {
    const n = validSequenceLength(buf, i);
    if (n === 0) {
      out += String.fromCharCode(ESCAPE_BASE + buf[i]!);
      i++;
    } else {
      out += buf.toString("utf8", i, i + n);
      i += n;
    }
  }
  return out;
}

/**
 * The length of the valid UTF-8 sequence at `i` (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), or 0 when the byte at `i` does not start one.
 */
function validSequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const x = b[i + k];
    return x !== undefined && x >= lo && x <= hi;
  };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/**
 * The bytes of a name's string form. A lone surrogate outside U+DC80 … U+DCFF (which no decoded
 * name holds, only a string made by hand) is written as U+FFFD, as `Buffer.from` would.
 */
export function encodeName(name: string): Buffer {
  if (!SURROGATE.test(name)) return Buffer.from(name, "utf8");
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    if (u < 0xd800 || u > 0xdfff) continue;
    if (u <= 0xdbff) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a surrogate pair: an ordinary astral character
        continue;
      }
    }
    if (u >= 0xdc80 && u <= 0xdcff) {
      parts.push(Buffer.from(name.slice(start, i), "utf8"), Buffer.of(u - ESCAPE_BASE));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(name.slice(start), "utf8"));
  return Buffer.concat(parts);
}

/** The byte length of a name's string form (`encodeName(name).length`, without building it). */
export function nameByteLength(name: string): number {
  if (!SURROGATE.test(name)) return Buffer.byteLength(name, "utf8");
  return encodeName(name).length;
}

/** Whether `name` holds bytes that are not UTF-8 (so its host path must be given as a Buffer). */
export function hasEscapedBytes(name: string): boolean {
  return SURROGATE.test(name) && /[\udc80-\udcff]/.test(name);
}

/**
 * Whether `name` is printable ASCII only. Such a name is its own string form however its bytes
 * were decoded (UTF-8 or latin1), and its code-unit order is its byte order: the fast path for the
 * names nearly every tree holds. (A rare control character takes the general path too.)
 */
export function isPlainAscii(name: string): boolean {
  return !NOT_PLAIN_ASCII.test(name);
}

const NOT_PLAIN_ASCII = /[^ -~]/;

/** A host path for `fs` calls: the string itself, or its bytes when they are not UTF-8. */
export function hostPath(path: string): string | Buffer {
  return SURROGATE.test(path) ? encodeName(path) : path;
}

/** Characters a terminal does not show as they are: C0 controls, DEL, C1 controls, escaped bytes. */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const NEEDS_ESCAPE = /[\x00-\x1f\x7f\u0080-\u009f\\\ud800-\udfff]/;

/**
 * A name (or path) as text a terminal shows safely and `unescapeName` reads back: bytes that are
 * not UTF-8 and control characters (C0, DEL, C1) as `\xNN` (per byte of their encoding), a
 * backslash as `\\`; everything else as it is. A name needing none of this is returned unchanged.
 */
export function escapeName(name: string): string {
  return NEEDS_ESCAPE.test(name) ? escaped(name, true) : name;
}

/** `text` with unprintable characters as `\xNN` per byte, and backslashes doubled when asked. */
function escaped(text: string, backslashes: boolean): string {
  let out = "";
  for (const ch of text) {
    const u = ch.codePointAt(0)!;
    if (backslashes && ch === "\\") out += "\\\\";
    else if (u < 0x20 || u === 0x7f || (u >= 0x80 && u <= 0x9f) || (u >= 0xd800 && u <= 0xdfff)) {
      for (const byte of encodeName(ch)) out += `\\x${byte.toString(16).padStart(2, "0")}`;
    } else out += ch;
  }
  return out;
}

/**
 * Text that carries names or what a server said (a warning, an error line) made safe to print as
 * one line: the bytes of a name that are not UTF-8 (lone surrogates, see `decodeName`) and control
 * characters — a newline or an escape sequence in a file name — as `\xNN`, as `ls` prints them.
 * Backslashes stay as they are: the text is for reading, not for pasting back as a PATH.
 */
export function printableText(text: string): string {
  return UNPRINTABLE.test(text) ? escaped(text, false) : text;
}
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/;

/**
 * The name `escapeName` printed: `\xNN` is the byte NN, `\\` a backslash; any other backslash is
 * taken literally, so a path without escapes means itself. Bytes given this way that form valid
 * UTF-8 (`\xc3\xa9`) are that character, as the file system would have it.
 */
export function unescapeName(text: string): string {
  if (!text.includes("\\")) return text;
  const parts: Buffer[] = [];
  let literal = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "\\") {
      const next = text[i + 1];
      if (next === "\\") {
        literal += "\\";
        i++;
        continue;
      }
      const hex = next === "x" || next === "X" ? text.slice(i + 2, i + 4) : "";
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        parts.push(encodeName(literal), Buffer.of(parseInt(hex, 16)));
        literal = "";
        i += 3;
        continue;
      }
    }
    literal += ch;
  }
  parts.push(encodeName(literal));
  return decodeName(Buffer.concat(parts));
}

/**
 * An image path quoted for a message: escaped as `gvmconv ls` prints names (byte-names.ts), and
 * only its end when it is very long (a tree thousands of levels deep).
 */
export function quotePath(path: string): string {
  const MAX = 512;
  if (path.length <= MAX) return `"${escapeName(path)}"`;
  return `"…${escapeName(path.slice(-MAX / 2))}" (a path of ${path.length} characters)`;
}
