/** Parsing of option values shared by the commands; every bad value is a one-line UsageError. */
import { UsageError } from "../errors.js";
import type { ConvertWriterOptions } from "../index.js";

export function parseInteger(option: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${option} expects a whole number, got '${text}'`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${option} must be between ${min} and ${max}, got ${text}`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2 };

/** `131072`, `128K`, `128KiB`, `1M`. Range and power-of-two checks are the writer's. */
export function parseSize(option: string, text: string): number {
  const match = /^(\d+)([a-z]*)$/i.exec(text.trim());
  const unit = SIZE_UNITS[(match?.[2] ?? "").toLowerCase()];
  if (!match || unit === undefined) {
    throw new UsageError(`${option} expects a size such as 131072, 128K or 1M, got '${text}'`);
  }
  const size = Number(match[1]) * unit;
  if (!Number.isSafeInteger(size)) throw new UsageError(`${option} ${text} is too large`);
  return size;
}

/**
 * `--block-size`: the writer checks the range too, but only once it starts; here a bad value is
 * a usage error before any download.
 */
function parseBlockSize(text: string): number {
  const size = parseSize("--block-size", text);
  if (size < 4096 || size > 1 << 20 || (size & (size - 1)) !== 0) {
    throw new UsageError(`--block-size must be a power of two from 4K to 1M, got ${text}`);
  }
  return size;
}

/** Compressions mksquashfs (and gvmkit-build) offer that gvmconv does not write, and why. */
const UNSUPPORTED_COMPRESSION: Record<string, string> = {
  zstd: "Golem VMs cannot read zstd SquashFS (their kernel is built without it); use xz for compact images",
};
/** What gvmconv writes; each is one the Golem VM kernel reads (Alpine linux-virt: zlib, xz, lzo, lz4). */
const COMPRESSIONS = ["gzip", "xz", "lzo", "lz4"] as const;

/** The writer options as typed on the command line (undefined = not given). */
export interface WriterOptionTexts {
  compression?: { option: string; value: string | undefined };
  level?: { option: string; value: string | undefined };
  blockSize?: string;
  workers?: string;
  /** --always-compress: run the compressor on every block, random-looking ones included. */
  alwaysCompress?: boolean;
}

/** Writer options from command-line texts. */
export function parseWriterOptions(texts: WriterOptionTexts): ConvertWriterOptions {
  const options: ConvertWriterOptions = {};
  const compression = texts.compression;
  if (compression?.value !== undefined) {
    const why = UNSUPPORTED_COMPRESSION[compression.value];
    if (why !== undefined) throw new UsageError(`${compression.option} ${compression.value}: ${why}`);
    const name = COMPRESSIONS.find((c) => c === compression.value);
    if (name === undefined) {
      throw new UsageError(`unknown compression '${compression.value}'`, {
        hint: "use gzip, xz, lzo or lz4",
      });
    }
    options.compression = name;
  }
  if (texts.level?.value !== undefined)
    // 0–12 covers every compressor (gzip reaches 12 with libdeflate); the library checks each range.
    options.level = parseInteger(texts.level.option, texts.level.value, 0, 12);
  if (texts.blockSize !== undefined) options.blockSize = parseBlockSize(texts.blockSize);
  if (texts.workers !== undefined) options.workers = parseInteger("--workers", texts.workers, 0, 1024);
  if (texts.alwaysCompress === true) options.skipIncompressible = false;
  return options;
}

/**
 * `--mkfs-time N`; undefined when not given, and the run context then applies SOURCE_DATE_EPOCH
 * (see context.ts: the one place that reads it).
 */
export function parseMkfsTime(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseInteger("--mkfs-time", text, 0, 2 ** 32 - 1);
}

/**
 * Refuses `-` as an image's output path. `-` means standard output everywhere else, and would
 * otherwise be taken as a file named `-`; a SquashFS cannot go to a pipe anyway: its superblock,
 * first in the file, is written last.
 */
export function checkImageOutput(option: string, text: string | undefined): void {
  if (text === "-") {
    throw new UsageError(`${option} - is not supported: an image needs a seekable file`, {
      hint: "give a file path",
    });
  }
}
