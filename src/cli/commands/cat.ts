/** `gvmconv cat`: a file of the image to standard output, byte for byte. */
import { Command, Option, type BaseContext } from "clipanion";
import type { CommandHelp } from "../command-spec.js";
import type { Writable } from "node:stream";
import { reportError } from "../errors.js";
import { library } from "../library.js";

export class CatCommand extends Command<BaseContext> {
  static override paths = [["cat"]];
  static override usage = Command.Usage({
    description: "write a file inside a .gvmi or SquashFS image to standard output",
    details: `
      PATH is an image path to a regular file; symlinks are not followed.

      cat prints the file's bytes as they are, so it takes no --json: for a file's metadata as
      JSON, use \`gvmconv ls FILE PATH -l --json\`.
    `,
    examples: [["Show /etc/os-release", "$0 cat app.gvmi /etc/os-release"]],
  });

  static help: CommandHelp = { files: ["FILE"] };

  file = Option.String({ name: "FILE" });
  imagePath = Option.String({ name: "PATH" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const { stdout, stderr } = this.context;
    try {
      const { readImageFile } = await library();
      for await (const chunk of readImageFile(this.file, this.imagePath)) await write(stdout, chunk);
      return 0;
    } catch (err) {
      return reportError(err, stderr, this.debug);
    }
  }
}

/** Writes one chunk, waiting for 'drain' when the stream asks us to (a slow pipe). */
function write(stream: Writable, chunk: Uint8Array): Promise<void> {
  if (stream.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.off("drain", onDrain);
      stream.off("error", done);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    stream.once("drain", onDrain);
    stream.once("error", done);
  });
}
