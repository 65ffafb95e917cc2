/** `gvmconv squashfs`: a directory or a tar (file or stdin) → a SquashFS image. */
import { Command, Option, type BaseContext } from "clipanion";
import { writeSquashfs, type WriterOptions } from "../../squashfs/index.js";
import { UsageError } from "../../errors.js";
import { writeAtomically } from "../../atomic-output.js";
import { openEntrySource } from "../../layers/index.js";
import { CliReporter, formatBytes } from "../reporter.js";
import { reportError } from "../errors.js";
import { stat } from "node:fs/promises";

export class SquashfsCommand extends Command<BaseContext> {
  static override paths = [["squashfs"]];
  static override usage = Command.Usage({
    description: "build a SquashFS image from a directory or a tar",
    details: `
      INPUT is a directory (ownership, modes, mtimes and xattrs are copied as they are on disk),
      a tar file (plain or gzip), or \`-\` for a tar on standard input.

      The image is written to a temporary file beside OUT and renamed into place only when it is
      complete. An existing OUT is kept unless --force is given.
    `,
    examples: [
      ["Image a directory", "$0 squashfs ./rootfs -o rootfs.squashfs"],
      [
        "Image a tar from a pipe, xz-compressed",
        "docker export c | $0 squashfs - -o out.sqfs --compression xz",
      ],
    ],
  });

  input = Option.String({ name: "DIR | TAR | -" });
  output = Option.String("-o,--output", { required: true, description: "the image to write" });
  compression = Option.String("--compression", { description: "gzip (default) or xz" });
  level = Option.String("--level", { description: "compression level (gzip 1–9, xz 0–9)" });
  blockSize = Option.String("--block-size", { description: "data block size: 4K … 1M (default 128K)" });
  workers = Option.String("--workers", { description: "compression threads (0: in-process)" });
  mkfsTime = Option.String("--mkfs-time", {
    description: "superblock creation time, seconds (default SOURCE_DATE_EPOCH or 0)",
  });
  force = Option.Boolean("--force", false, { description: "overwrite OUT if it exists" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });
  quiet = Option.Boolean("--quiet", false, { description: "print warnings and errors only" });

  async execute(): Promise<number> {
    const { stderr, env } = this.context;
    const reporter = CliReporter.forStream(stderr, env, this.quiet);
    try {
      const options = this.#writerOptions();
      const entries = await openEntrySource(this.input, { reporter, stdin: this.context.stdin });
      await writeAtomically(this.output, { force: this.force }, (temp) =>
        writeSquashfs(entries, temp, options),
      );
      const { size } = await stat(this.output);
      reporter.info(`wrote ${this.output} (${formatBytes(size)})`);
      return 0;
    } catch (err) {
      return reportError(err, stderr, this.debug);
    }
  }

  #writerOptions(): WriterOptions {
    const options: WriterOptions = {};
    if (this.compression !== undefined) {
      if (this.compression !== "gzip" && this.compression !== "xz") {
        throw new UsageError(`unknown compression '${this.compression}'`, { hint: "use gzip or xz" });
      }
      options.compression = this.compression;
    }
    if (this.level !== undefined) options.level = parseInteger("--level", this.level, 0, 9);
    if (this.blockSize !== undefined) options.blockSize = parseSize("--block-size", this.blockSize);
    if (this.workers !== undefined) options.workers = parseInteger("--workers", this.workers, 0, 1024);
    if (this.mkfsTime !== undefined)
      options.mkfsTime = parseInteger("--mkfs-time", this.mkfsTime, 0, 2 ** 32 - 1);
    return options;
  }
}

function parseInteger(option: string, text: string, min: number, max: number): number {
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
  return Number(match[1]) * unit;
}
