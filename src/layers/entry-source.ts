/**
 * Opens what the `squashfs` command (and library callers) name as input: a directory, a tar file
 * (plain, gzip or zstd, sniffed by src/decompress.ts through `readTar`), or a stream standing for
 * `-` (stdin).
 */
import { stat } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { Transform, type Readable } from "node:stream";
import type { Entry } from "../squashfs/index.js";
import { silentReporter, type Reporter } from "../reporter.js";
import { readTar } from "./tar-reader.js";
import { readDirectory, SourceReadError } from "./directory-source.js";

export interface OpenEntrySourceOptions {
  reporter?: Reporter;
  /** The stream `-` stands for. */
  stdin?: Readable;
}

/** Entries of `input`: `-` → a tar on `stdin`; a directory → its tree; a file → a tar. */
export async function openEntrySource(
  input: string,
  opts: OpenEntrySourceOptions = {},
): Promise<AsyncIterable<Entry>> {
  const reporter = opts.reporter ?? silentReporter;
  if (input === "-") {
    if (!opts.stdin) throw new SourceReadError("-", "no standard input to read the tar from");
    return readTar(opts.stdin, { reporter });
  }
  let st;
  try {
    st = await stat(input);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    throw new SourceReadError(
      input,
      missing ? `${input} does not exist` : `cannot stat ${input}: ${(err as Error).message}`,
      {
        cause: err,
        hint: missing ? "give a directory, a tar file, or - for a tar on standard input" : undefined,
      },
    );
  }
  if (st.isDirectory()) return readDirectory(input, { reporter });
  const task = reporter.task(`reading ${input}`, st.size);
  // 256 KiB reads rather than 64: fewer turns of the extractor and this transform for the same
  // bytes (on a 100k-file tar: 2.6% less CPU, +2 MiB peak RSS; 1 MiB saved 5% for +18 MiB).
  const counted = createReadStream(input, { highWaterMark: 256 * 1024 }).pipe(
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        task.advance(chunk.length);
        cb(null, chunk);
      },
    }),
  );
  return (async function* () {
    try {
      yield* readTar(counted, { reporter });
    } finally {
      task.done();
    }
  })();
}
