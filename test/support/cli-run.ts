/** `gvmconv ARGV` run in-process, with PassThrough streams and exactly the given environment. */
import { PassThrough, Readable } from "node:stream";
import { createCli } from "../../src/cli/main.js";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  env?: Record<string, string | undefined>;
  /** Standard input: a string, or a stream (default: empty). */
  stdin?: string | Readable;
}

export async function runCli(argv: string[], opts: CliRunOptions = {}): Promise<CliRun> {
  const stdin =
    typeof opts.stdin === "string" ? Readable.from([opts.stdin]) : (opts.stdin ?? Readable.from([]));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (b: Buffer) => (out += b.toString()));
  stderr.on("data", (b: Buffer) => (err += b.toString()));
  const code = await createCli().run(argv, { stdin, stdout, stderr, env: opts.env ?? {} });
  return { code, stdout: out, stderr: err };
}
