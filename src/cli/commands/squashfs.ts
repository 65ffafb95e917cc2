/** `gvmconv squashfs`: a directory or a tar (file or stdin) → a SquashFS image. */
import { Command, Option, type BaseContext } from "clipanion";
import type { CommandHelp, ProgramContext } from "../command-spec.js";
import { CliReporter, formatBytes } from "../reporter.js";
import { checkImageOutput, parseMkfsTime, parseWriterOptions } from "../parse-options.js";
import { reportError } from "../errors.js";
import { library } from "../library.js";

export class SquashfsCommand extends Command<BaseContext> {
  static override paths = [["squashfs"]];
  static override usage = Command.Usage({
    description: "build a SquashFS image from a directory or a tar",
    details: `
      INPUT is a directory (ownership, modes, mtimes and xattrs are copied as they are on disk),
      a tar file (plain, gzip or zstd), or \`-\` for a tar on standard input.

      The image is written to a temporary file beside OUT and renamed into place only when it is
      complete. An existing OUT that gvmconv built from the same tar file with the same options is
      kept; one it built otherwise (or from a directory or stdin) is rebuilt; any other file is
      replaced only with --force. What OUT was built from is recorded in .OUT.gvmconv.json beside it.
    `,
    examples: [
      ["Image a directory", "$0 squashfs ./rootfs -o rootfs.squashfs"],
      [
        "Image a tar from a pipe, xz-compressed",
        "docker export c | $0 squashfs - -o out.sqfs --compression xz",
      ],
    ],
  });

  static help: CommandHelp = {
    values: {
      "--output": "FILE",
      "--compression": "NAME",
      "--level": "N",
      "--block-size": "SIZE",
      "--workers": "N",
      "--mkfs-time": "SECONDS",
    },
    choices: { "--compression": ["gzip", "xz", "lzo", "lz4"] },
    files: ["DIR | TAR | -"],
  };

  input = Option.String({ name: "DIR | TAR | -" });
  output = Option.String("-o,--output", { required: true, description: "the image to write" });
  compression = Option.String("--compression", { description: "gzip (default), xz, lzo or lz4" });
  level = Option.String("--level", {
    description: "compression level (gzip 1–12, 10–12 with libdeflate; xz 0–9, lzo 1–9, lz4 0 plain / 1 HC)",
  });
  blockSize = Option.String("--block-size", { description: "data block size: 4K … 1M (default 128K)" });
  workers = Option.String("--workers", { description: "compression threads (0: in-process)" });
  mkfsTime = Option.String("--mkfs-time", {
    description: "superblock creation time, seconds (default SOURCE_DATE_EPOCH or 0)",
  });
  alwaysCompress = Option.Boolean("--always-compress", false, {
    description: "compress every block, even those whose bytes look random (slower; see README)",
  });
  force = Option.Boolean("--force", false, {
    description: "replace OUT whatever it is (default: only a SquashFS gvmconv wrote)",
  });
  json = Option.Boolean("--json", false, { description: "print one JSON document" });
  strict = Option.Boolean("--strict", false, { description: "treat warnings about the input as errors" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });
  quiet = Option.Boolean("--quiet", false, { description: "print warnings and errors only" });

  async execute(): Promise<number> {
    const { stderr, env } = this.context;
    const reporter = await CliReporter.forStream(stderr, env, this.quiet);
    try {
      const writer = parseWriterOptions({
        compression: { option: "--compression", value: this.compression },
        level: { option: "--level", value: this.level },
        blockSize: this.blockSize,
        workers: this.workers,
        alwaysCompress: this.alwaysCompress,
      });
      const mkfsTime = parseMkfsTime(this.mkfsTime);
      checkImageOutput("-o", this.output);
      const program = this.context as ProgramContext;
      program.honourSignal?.();
      const { buildSquashfs } = await library();
      const result = await buildSquashfs(this.input, this.output, {
        writer,
        force: this.force,
        stdin: this.context.stdin,
        env,
        reporter,
        strict: this.strict,
        mkfsTime,
        signal: program.signal,
      });
      if (this.json) {
        this.context.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return 0;
      }
      reporter.info(`${result.kept ? "kept" : "wrote"} ${this.output} (${formatBytes(result.size)})`);
      return 0;
    } catch (err) {
      // The progress frame comes off the screen before the error line (and shows the cursor).
      reporter.close();
      return reportError(err, stderr, this.debug);
    }
  }
}
