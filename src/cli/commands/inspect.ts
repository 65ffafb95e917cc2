/** `gvmconv inspect`: what a .gvmi (or plain SquashFS) holds, without unpacking it. */
import { Command, Option, type BaseContext } from "clipanion";
import type { CommandHelp } from "../command-spec.js";
import { reportError } from "../errors.js";
import { library } from "../library.js";

export class InspectCommand extends Command<BaseContext> {
  static override paths = [["inspect"]];
  static override usage = Command.Usage({
    description: "show the metadata, hash and SquashFS facts of a .gvmi",
    details: `
      Prints the container config stored in the trailer, the SHA3-224 of the whole file (the hash
      Golem providers check), and the SquashFS compression, block size, sizes, inode count and
      creation time. A plain SquashFS image (no trailer) is accepted too.
    `,
    examples: [
      ["Inspect an image", "$0 inspect app.gvmi"],
      ["As JSON", "$0 inspect app.gvmi --json"],
    ],
  });

  static help: CommandHelp = { files: ["FILE"] };

  file = Option.String({ name: "FILE" });
  json = Option.Boolean("--json", false, { description: "print one JSON object" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const { stdout, stderr } = this.context;
    try {
      const { inspectImage } = await library();
      const info = await inspectImage(this.file);
      const sb = info.squashfs;
      const gvmi = info.format === "gvmi" ? { config: info.config, issues: info.issues } : null;
      if (this.json) {
        stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        return 0;
      }
      const lines = [
        `file:        ${this.file}`,
        `format:      ${info.format === "gvmi" ? "gvmi (SquashFS + container config trailer)" : "plain SquashFS (no .gvmi trailer)"}`,
        `sha3-224:    ${info.sha3_224}`,
        `file size:   ${info.fileSize} bytes`,
        `squashfs:    ${sb.bytesUsed} bytes used${gvmi ? ` (${sb.partSize} with padding)` : ""}`,
        `compression: ${sb.compression}`,
        ...(sb.compression === "gzip"
          ? [
              `encoder:     ${sb.encoder === null ? "not reproduced by this machine's libdeflate or zlib (another encoder, e.g. mksquashfs's)" : `${sb.encoder.backend}, level ${sb.encoder.levels.join(" or ")}`}`,
            ]
          : []),
        `block size:  ${sb.blockSize}`,
        `inodes:      ${sb.inodes}`,
        `fragments:   ${sb.fragments}`,
        `mkfs time:   ${new Date(sb.mkfsTime * 1000).toISOString()} (${sb.mkfsTime})`,
      ];
      if (gvmi) {
        lines.push("config:");
        for (const line of JSON.stringify(gvmi.config, null, 2).split("\n")) lines.push(`  ${line}`);
        for (const issue of gvmi.issues) lines.push(`issue ${issue.code}: ${issue.message}`);
      }
      stdout.write(`${lines.join("\n")}\n`);
      return 0;
    } catch (err) {
      return reportError(err, stderr, this.debug);
    }
  }
}
