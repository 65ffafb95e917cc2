/** A SquashFS image from a directory or a tar (file or stream): `gvmconv squashfs` as a function. */
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { checkOutputPath, writeAtomically } from "../atomic-output.js";
import { contextOf, type RunOptions } from "../context.js";
import { openEntrySource } from "../layers/index.js";
import { checkWriterOptions, writeSquashfs, type WriteResult } from "../squashfs/index.js";
import { warnGzipFallback, writerOptions, type ConvertWriterOptions } from "./convert.js";

export interface BuildSquashfsOptions extends RunOptions {
  /** SquashFS settings; the filesystem time is the run context's (`mkfsTime`). */
  writer?: ConvertWriterOptions;
  /** Replace an existing output (otherwise it is an error). */
  force?: boolean;
  /** The stream `-` stands for (a tar). */
  stdin?: Readable;
}

export interface BuildSquashfsResult extends WriteResult {
  outputPath: string;
  /** Size of the output file in bytes. */
  size: number;
}

/**
 * Writes `output` from `input`: a directory (ownership, modes, times and xattrs as on disk), a
 * tar file (plain, gzip or zstd), or `-` for a tar on `options.stdin`. The image appears complete
 * or not at all.
 */
export async function buildSquashfs(
  input: string,
  output: string,
  options: BuildSquashfsOptions = {},
): Promise<BuildSquashfsResult> {
  const context = contextOf(options);
  warnGzipFallback(checkWriterOptions(writerOptions(options.writer, context)), context);
  // Before the input is opened: nothing is touched when the output would damage it.
  await checkOutputPath(output, [input]);
  const entries = await openEntrySource(input, { reporter: context.reporter, stdin: options.stdin });
  const written = await writeAtomically(output, { force: options.force ?? false, inputs: [input] }, (temp) =>
    writeSquashfs(entries, temp, writerOptions(options.writer, context)),
  );
  const { size } = await stat(output);
  return { ...written, outputPath: output, size };
}
