/** `gvmconv verify`: read the whole image the way a provider and the VM kernel would. */
import { Command, Option, type BaseContext } from "clipanion";
import type { CommandHelp } from "../command-spec.js";
import { UsageError } from "../../errors.js";
import { reportError } from "../errors.js";
import { library } from "../library.js";

export class VerifyCommand extends Command<BaseContext> {
  static override paths = [["verify"]];
  static override usage = Command.Usage({
    description: "check a .gvmi end to end: trailer, CRC, every inode and data block, hash",
    details: `
      Checks the trailer and its CRC32 as the Golem runtime does, then walks every inode and
      decompresses every data and fragment block, checking each has the size the image promises.
      With --hash, also compares the file's SHA3-224. Exits non-zero with one line on any problem.
    `,
    examples: [["Verify against a published hash", "$0 verify app.gvmi --hash 1b2c…"]],
  });

  static help: CommandHelp = { files: ["FILE"], values: { "--hash": "SHA3" } };

  file = Option.String({ name: "FILE" });
  hash = Option.String("--hash", { description: "expected SHA3-224 (56 hex digits)" });
  json = Option.Boolean("--json", false, { description: "print one JSON document" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const { stdout, stderr } = this.context;
    try {
      const expected = this.hash === undefined ? undefined : parseHash(this.hash);
      const { verifyImage } = await library();
      const result = await verifyImage(this.file, { sha3: expected });
      if (this.json) {
        stdout.write(`${JSON.stringify({ file: this.file, ok: true, ...result }, null, 2)}\n`);
        return 0;
      }
      const what = result.kind === "gvmi" ? "gvmi: trailer and CRC ok" : "plain SquashFS (no .gvmi trailer)";
      stdout.write(
        `${this.file}: ok — ${what}; ${result.inodes} inodes (${result.files} files, ${result.directories} directories), ` +
          `${result.fileBytes} bytes of file data, ${result.fragmentBlocks} fragment blocks; ` +
          `sha3-224 ${result.sha3}${result.hashChecked ? " (matches)" : ""}\n`,
      );
      return 0;
    } catch (err) {
      return reportError(err, stderr, this.debug);
    }
  }
}

function parseHash(text: string): string {
  const hex = text
    .trim()
    .toLowerCase()
    .replace(/^sha3:/, "");
  if (!/^[0-9a-f]{56}$/.test(hex))
    throw new UsageError(`--hash expects a SHA3-224 of 56 hex digits, got '${text}'`);
  return hex;
}
