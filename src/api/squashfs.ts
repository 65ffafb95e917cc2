/** A SquashFS image from a directory or a tar (file or stream): `gvmconv squashfs` as a function. */
import { realpath, stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { checkOutputPath, writeAtomically } from "../atomic-output.js";
import { contextOf, type RunOptions } from "../context.js";
import { AbortedError } from "../errors.js";
import { openEntrySource } from "../layers/index.js";
import { checkWriterOptions, writeSquashfs, type WriteResult } from "../squashfs/index.js";
import { warnGzipFallback, writerOptions, type ConvertWriterOptions } from "./writer-options.js";
import { byteOptions, decideOutput, fingerprint, recordOutput } from "./output-policy.js";

export interface BuildSquashfsOptions extends RunOptions {
  /** SquashFS settings; the filesystem time is the run context's (`mkfsTime`). */
  writer?: ConvertWriterOptions;
  /**
   * Replace an existing output whatever it is. Without it, an output gvmconv built from the same
   * tar file (same size, mtime and inode) with the same options is kept, one it built otherwise is
   * rebuilt (a directory or stdin is always rebuilt: its contents cannot be compared without
   * reading them), and any other file is refused (`E_OUTPUT_NOT_OURS`; see output-policy.ts).
   */
  force?: boolean;
  /** The stream `-` stands for (a tar). */
  stdin?: Readable;
}

export interface BuildSquashfsResult extends Partial<WriteResult> {
  outputPath: string;
  /** Size of the output file in bytes. */
  size: number;
  /** True when an existing output built from the same input with the same options was kept; the WriteResult figures are then absent. */
  kept: boolean;
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
  const writer = writerOptions(options.writer, context);
  warnGzipFallback(checkWriterOptions(writer), context);
  // Before the input is opened: nothing is touched when the output would damage it.
  await checkOutputPath(output, [input]);
  const identity = await inputIdentity(input);
  const expectation = {
    format: "squashfs" as const,
    fingerprint:
      identity === undefined
        ? undefined
        : fingerprint({ v: 1, format: "squashfs", input: identity, writer: byteOptions(writer) }),
    writer,
  };
  const decision = await decideOutput(output, expectation, options.force ?? false);
  if (decision.action === "keep") {
    context.reporter.info(
      `${output} was already built from ${input} with these options; kept (pass --force to rebuild)`,
    );
    return { outputPath: output, size: (await stat(output)).size, kept: true };
  }
  const entries = await openEntrySource(input, { reporter: context.reporter, stdin: options.stdin });
  const signal = context.signal;
  let written;
  try {
    written = await writeAtomically(
      output,
      { force: decision.action === "replace", inputs: [input] },
      (temp) => writeSquashfs(signal === undefined ? entries : untilAborted(entries, signal), temp, writer),
    );
  } catch (err) {
    throw signal?.aborted === true && !(err instanceof AbortedError) ? new AbortedError(err) : err;
  }
  await recordOutput(output, expectation.fingerprint);
  const { size } = await stat(output);
  return { ...written, outputPath: output, size, kept: false };
}

/** The entries, stopping with the signal's reason at the next entry once it is aborted. */
async function* untilAborted<T>(
  entries: AsyncIterable<T> | Iterable<T>,
  signal: AbortSignal,
): AsyncGenerator<T> {
  for await (const entry of entries) {
    signal.throwIfAborted();
    yield entry;
  }
}

/**
 * What identifies a tar file's contents without reading it: where it is and its size, mtime and
 * inode. A directory or stdin has no such identity (undefined): its output is always rebuilt.
 */
async function inputIdentity(input: string): Promise<Record<string, unknown> | undefined> {
  if (input === "-") return undefined;
  const st = await stat(input).catch(() => undefined);
  if (st === undefined || !st.isFile()) return undefined;
  return { path: await realpath(input), size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev };
}
