/**
 * The .gvmi trailer: what follows the SquashFS image.
 *
 *   ┌──────────────┬───────────────┬─────────────┬──────────────────────────────┐
 *   │ SquashFS …   │ CRC32 (u32 LE)│ JSON (N B)  │ N as 8 ASCII decimal digits  │
 *   └──────────────┴───────────────┴─────────────┴──────────────────────────────┘
 *
 * Read by ya-runtime-vm runtime/src/deploy.rs (`Deployment::try_from_input`): it seeks to the last
 * 8 bytes and parses them with Rust's `str::parse::<u32>` (so no spaces; a leading `+` would pass),
 * reads the u32 LE CRC at `end - (4 + N + 8)`, reads the N JSON bytes as a UTF-8 `String`, checks
 * `crc32::checksum_ieee(json)` and deserializes a bollard `ContainerConfig`. Written by
 * gvmkit-build-rs src/metadata.rs (`add_metadata_outside`) as `{meta_size:08}`.
 */
import { crc32 } from "./crc32.js";
import { GvmiChecksumError, GvmiConfigTooLargeError, GvmiTrailerError } from "./errors.js";

/** Size of the CRC32 field (u32 little-endian). */
export const CRC_SIZE = 4;
/** Size of the length field (ASCII decimal, zero-padded). */
export const LENGTH_SIZE = 8;
/** Largest JSON length the 8-digit field can record. */
export const MAX_JSON_LENGTH = 99_999_999;

/** Encode the trailer for `json` (the exact bytes the runtime will CRC and parse). */
export function encodeTrailer(json: Uint8Array): Uint8Array {
  if (json.length > MAX_JSON_LENGTH) throw new GvmiConfigTooLargeError(json.length);
  const out = new Uint8Array(CRC_SIZE + json.length + LENGTH_SIZE);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, crc32(json), true);
  out.set(json, CRC_SIZE);
  out.set(new TextEncoder().encode(String(json.length).padStart(LENGTH_SIZE, "0")), CRC_SIZE + json.length);
  return out;
}

/**
 * Parse the length field (the file's last 8 bytes) as the runtime does. We accept exactly what
 * Rust's `u32::from_str` accepts on 8 bytes: an optional `+` and decimal digits.
 */
export function decodeTrailerLength(last8: Uint8Array, path?: string): number {
  if (last8.length !== LENGTH_SIZE) {
    throw new GvmiTrailerError(`length field must be ${LENGTH_SIZE} bytes, got ${last8.length}`, { path });
  }
  const text = String.fromCharCode(...last8);
  if (!/^\+?[0-9]+$/.test(text)) {
    throw new GvmiTrailerError(`trailer length field ${JSON.stringify(text)} is not a decimal number`, {
      path,
    });
  }
  return Number(text);
}

export interface DecodedTrailer {
  /** Bytes before the trailer (the SquashFS image, including its padding). */
  squashfsSize: number;
  /** CRC32 stored in the trailer (already verified against `json`). */
  crc: number;
  /** The JSON bytes. */
  json: Uint8Array;
  /** The JSON decoded as UTF-8 (the runtime reads it into a Rust `String`, so it must be valid). */
  text: string;
}

/**
 * Decode the trailer from `tail`, the last bytes of a file of `fileSize` bytes (`tail` may be the
 * whole file). Throws when the tail is too short, the length or UTF-8 is invalid, or the CRC differs.
 */
export function decodeTrailer(
  tail: Uint8Array,
  fileSize: number = tail.length,
  path?: string,
): DecodedTrailer {
  if (tail.length > fileSize) throw new RangeError("tail longer than the file");
  if (fileSize < CRC_SIZE + LENGTH_SIZE || tail.length < LENGTH_SIZE) {
    throw new GvmiTrailerError(`file is ${fileSize} bytes, too small for a .gvmi trailer`, { path });
  }
  const length = decodeTrailerLength(tail.subarray(tail.length - LENGTH_SIZE), path);
  const trailerSize = CRC_SIZE + length + LENGTH_SIZE;
  if (trailerSize > fileSize) {
    throw new GvmiTrailerError(
      `trailer claims ${length} bytes of JSON but the file is only ${fileSize} bytes`,
      {
        path,
      },
    );
  }
  if (trailerSize > tail.length) {
    throw new RangeError(`need the last ${trailerSize} bytes of the file, got ${tail.length}`);
  }
  const start = tail.length - trailerSize;
  const view = new DataView(tail.buffer, tail.byteOffset + start, CRC_SIZE);
  const crc = view.getUint32(0, true);
  const json = tail.subarray(start + CRC_SIZE, start + CRC_SIZE + length);
  const actual = crc32(json);
  if (actual !== crc) throw new GvmiChecksumError(crc, actual, path);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(json);
  } catch (cause) {
    throw new GvmiTrailerError("container config is not valid UTF-8", { path, cause });
  }
  return { squashfsSize: fileSize - trailerSize, crc, json, text };
}
