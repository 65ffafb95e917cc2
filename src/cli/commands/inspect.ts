/** `gvmconv inspect`: what a .gvmi (or plain SquashFS) holds, without unpacking it. */
import { Command, Option, type BaseContext } from "clipanion";
import { sha3File } from "../../gvmi/index.js";
import { reportError } from "../errors.js";
import { openImageFile } from "../image-file.js";

export class InspectCommand extends Command<BaseContext> {
  static override paths = [["inspect"]];
  static override usage = Command.Usage({
    description: "show the metadata, hash and SquashFS facts of a .gvmi",
    details: `
      Prints the container config stored in the trailer, the SHA3-224 of the whole file (the hash
      Golem providers check), and the SquashFS compression, block size, sizes, inode count and
      creation time. A plain SquashFS image (no trailer) is accepted too.
    `,
    examples: [["Inspect an image", "$0 inspect app.gvmi"], ["As JSON", "$0 inspect app.gvmi --json"]],
  });

  file = Option.String({ name: "FILE" });
  json = Option.Boolean("--json", false, { description: "print one JSON object" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const { stdout, stderr } = this.context;
    try {
      const image = await openImageFile(this.file);
      const { reader, gvmi } = image;
      const sb = reader.superblock;
      await reader.close();
      const { sha3 } = await sha3File(this.file);
      const info = {
        file: this.file,
        format: image.kind,
        sha3_224: sha3,
        fileSize: image.fileSize,
        squashfs: {
          compression: reader.compression,
          blockSize: sb.blockSize,
          bytesUsed: sb.bytesUsed,
          partSize: gvmi?.squashfsSize ?? image.fileSize,
          inodes: sb.inodeCount,
          fragments: sb.fragmentCount,
          ids: sb.idCount,
          mkfsTime: sb.modificationTime,
          exportable: sb.exportTableStart !== null,
          xattrs: sb.xattrIdTableStart !== null,
        },
        config: gvmi?.config ?? null,
        issues: gvmi?.issues ?? [],
      };
      if (this.json) {
        stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        return 0;
      }
      const lines = [
        `file:        ${this.file}`,
        `format:      ${image.kind === "gvmi" ? "gvmi (SquashFS + container config trailer)" : "plain SquashFS (no .gvmi trailer)"}`,
        `sha3-224:    ${sha3}`,
        `file size:   ${image.fileSize} bytes`,
        `squashfs:    ${sb.bytesUsed} bytes used${gvmi ? ` (${gvmi.squashfsSize} with padding)` : ""}`,
        `compression: ${reader.compression}`,
        `block size:  ${sb.blockSize}`,
        `inodes:      ${sb.inodeCount}`,
        `fragments:   ${sb.fragmentCount}`,
        `mkfs time:   ${new Date(sb.modificationTime * 1000).toISOString()} (${sb.modificationTime})`,
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
