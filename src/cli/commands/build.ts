/** `gvmconv build [FILE]`: every image of a build file, with a lock, in parallel, then a summary. */
import { Command, Option, type BaseContext } from "clipanion";
import type { CommandHelp } from "../command-spec.js";
import type { BuildImageResult, BuildResult } from "../../index.js";
import { UsageError } from "../../errors.js";
import { reportError } from "../errors.js";
import { library } from "../library.js";
import { CliReporter, formatBytes } from "../reporter.js";
import { parseInteger, parseMkfsTime } from "../parse-options.js";

export class BuildCommand extends Command<BaseContext> {
  static override paths = [["build"]];
  static override usage = Command.Usage({
    description: "build every image of a build file (gvmconv.yaml), skipping what has not changed",
    details: `
      FILE (default \`gvmconv.yaml\` in the current directory) lists images by name, each from a
      source or a parent image, with files added, config changed, outputs and publish targets; its
      JSON Schema is schema/gvmconv-build.schema.json. \`gvmconv.lock\` beside it records what each
      image was built from and its output hashes: a later build uses the locked digests and skips
      an image whose inputs, added files and settings are unchanged and whose outputs still have
      the locked hashes.

      The exit status is 0 when every selected image was built or skipped, 1 when one failed.
    `,
    examples: [
      ["Build everything in ./gvmconv.yaml", "$0 build"],
      ["Re-resolve the tags of one image and its children", "$0 build --update web"],
      ["One CI matrix job of four", "$0 build --shard 2/4"],
    ],
  });

  static help: CommandHelp = {
    values: {
      "--output-dir": "DIR",
      "--lock-file": "FILE",
      "--update": "NAME",
      "--only": "NAME",
      "--shard": "I/N",
      "--jobs": "N",
      "--workers": "N",
      "--cache-dir": "DIR",
      "--mkfs-time": "SECONDS",
    },
    files: ["FILE"],
  };

  file = Option.String({ name: "FILE", required: false });
  outputDir = Option.String("-o,--output-dir", { description: "where outputs go (default: beside FILE)" });
  lockFile = Option.String("--lock-file", {
    description: "the lock file (default gvmconv.lock beside FILE)",
  });
  update = Option.Array("--update", {
    description: "re-resolve the source of NAME (and its children); repeatable",
  });
  updateAll = Option.Boolean("--update-all", false, { description: "re-resolve every source" });
  force = Option.Boolean("--force", false, { description: "rebuild even what is unchanged" });
  only = Option.Array("--only", { description: "build only NAME; repeatable" });
  shard = Option.String("--shard", { description: "build the I-th of N shards of the images (CI matrix)" });
  jobs = Option.String("-j,--jobs", { description: "images built at once (default: CPUs, at most 4)" });
  failFast = Option.Boolean("--fail-fast", false, { description: "start no image after a failure" });
  workers = Option.String("--workers", { description: "compression threads per image" });
  cacheDir = Option.String("--cache-dir", {
    description: "cache directory: blobs, and blocks/ with GVMCONV_BLOCK_CACHE=1 (default ~/.cache/gvmconv)",
  });
  insecure = Option.Boolean("--insecure", false, { description: "allow plain HTTP registries" });
  mkfsTime = Option.String("--mkfs-time", {
    description: "filesystem time (default SOURCE_DATE_EPOCH or 0)",
  });
  json = Option.Boolean("--json", false, { description: "print the summary as JSON on standard output" });
  strict = Option.Boolean("--strict", false, { description: "treat warnings as errors" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });
  quiet = Option.Boolean("--quiet", false, { description: "print warnings and errors only" });

  async execute(): Promise<number> {
    const { stderr, stdout, env } = this.context;
    const reporter = await CliReporter.forStream(stderr, env, this.quiet || this.json);
    try {
      const shard = this.shard === undefined ? undefined : parseShard(this.shard);
      const jobs = this.jobs === undefined ? undefined : parseInteger("--jobs", this.jobs, 1, 64);
      const workers =
        this.workers === undefined ? undefined : parseInteger("--workers", this.workers, 0, 256);
      const { build } = await library();
      const result = await build(this.file ?? "gvmconv.yaml", {
        env,
        reporter,
        strict: this.strict,
        mkfsTime: parseMkfsTime(this.mkfsTime),
        ...(this.outputDir !== undefined ? { outputDir: this.outputDir } : {}),
        ...(this.lockFile !== undefined ? { lockFile: this.lockFile } : {}),
        update: this.updateAll ? true : (this.update ?? []),
        force: this.force,
        only: this.only ?? [],
        ...(shard !== undefined ? { shard } : {}),
        ...(jobs !== undefined ? { jobs } : {}),
        ...(workers !== undefined ? { workers } : {}),
        failFast: this.failFast,
        image: { cacheDir: this.cacheDir, insecure: this.insecure },
      });
      for (const image of result.images) {
        if (image.error !== undefined) reportError(image.error, stderr, this.debug);
      }
      if (this.json) stdout.write(JSON.stringify(summaryJson(result), null, 2) + "\n");
      else stdout.write(summaryTable(result));
      return result.ok ? 0 : 1;
    } catch (err) {
      return reportError(err, stderr, this.debug);
    }
  }
}

function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || index < 1 || count < 1 || index > count) {
    throw new UsageError(`--shard expects I/N with 1 ≤ I ≤ N, got '${text}'`, { hint: "e.g. --shard 1/4" });
  }
  return { index, count };
}

/** The per-image summary, as `--json` prints it. */
export function summaryJson(result: BuildResult): unknown {
  return {
    ok: result.ok,
    lockFile: result.lockFile,
    outputDir: result.outputDir,
    images: result.images.map((i: BuildImageResult) => ({
      name: i.name,
      status: i.status,
      source: i.source,
      digest: i.digest ?? null,
      outputs: i.outputs.map((o) => ({ format: o.format, path: o.path, size: o.size, sha3: o.sha3 })),
      published: i.published.map((p) => ({ kind: p.kind, target: p.target, location: p.location })),
      error:
        i.error === undefined
          ? null
          : { code: (i.error as { code?: string }).code ?? "internal", message: i.error.message },
      warnings: i.warnings.map((w) => w.code),
      ms: i.ms,
    })),
  };
}

/** One row per output (an image without outputs gets one row), columns padded. */
function summaryTable(result: BuildResult): string {
  const rows: string[][] = [["IMAGE", "STATUS", "SOURCE DIGEST", "OUTPUT", "SIZE", "SHA3-224", "PUBLISHED"]];
  for (const i of result.images) {
    const digest = i.digest === undefined ? "-" : i.digest.replace(/^sha256:/, "").slice(0, 12);
    const published = i.published.map((p) => p.location).join(", ") || "-";
    const outputs = i.outputs.length > 0 ? i.outputs : [undefined];
    for (const [n, o] of outputs.entries()) {
      rows.push([
        n === 0 ? i.name : "",
        n === 0 ? i.status : "",
        n === 0 ? digest : "",
        o?.file ?? "-",
        o === undefined ? "-" : formatBytes(o.size),
        o?.sha3 ?? "-",
        n === 0 ? published : "",
      ]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd(),
  );
  const counts = ["built", "skipped", "failed"].map(
    (s) => `${result.images.filter((i) => i.status === s).length} ${s}`,
  );
  return `${lines.join("\n")}\n${counts.join(", ")}\n`;
}
