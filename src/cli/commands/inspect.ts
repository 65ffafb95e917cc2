/**
 * `gvmconv inspect`: what a .gvmi (or plain SquashFS) holds, without unpacking it; or, for an
 * image reference, what converting it would produce (the plan `--dry-run` prints).
 */
import { Command, Option, type BaseContext } from "clipanion";
import type { CommandHelp } from "../command-spec.js";
import { reportError } from "../errors.js";
import { library } from "../library.js";
import { formatPlan } from "./convert.js";

export class InspectCommand extends Command<BaseContext> {
  static override paths = [["inspect"]];
  static override usage = Command.Usage({
    description: "show the metadata, hash and SquashFS facts of a .gvmi, or what an image would become",
    details: `
      For a file: prints the container config stored in the trailer, the SHA3-224 of the whole
      file (the hash Golem providers check), and the SquashFS compression, block size, sizes,
      inode count and creation time. A plain SquashFS image (no trailer) is accepted too.

      For an image reference that names no file (\`alpine:3.20\`, \`docker://…\`, \`oci:DIR\`,
      \`docker-archive:FILE\`): resolves it — manifest and config only, no layer is downloaded —
      and prints the digest, the platforms on offer, the config a .gvmi's trailer would carry,
      the mount points that would be added and the warnings. Nothing is written. To see the
      effect of --env, --volume and the other conversion options, use \`gvmconv SOURCE … --dry-run\`.
    `,
    examples: [
      ["Inspect an image", "$0 inspect app.gvmi"],
      ["As JSON", "$0 inspect app.gvmi --json"],
      ["What an image on Docker Hub would become", "$0 inspect docker.io/library/alpine:3.20"],
    ],
  });

  static help: CommandHelp = {
    files: ["FILE"],
    values: { "--platform": "OS/ARCH[/VARIANT]", "--cache-dir": "DIR", "--authfile": "FILE" },
  };

  file = Option.String({ name: "FILE" });
  json = Option.Boolean("--json", false, { description: "print one JSON object" });
  platform = Option.String("--platform", {
    description: "REF: platform to pick from a multi-arch image (default linux/amd64)",
  });
  cacheDir = Option.String("--cache-dir", { description: "REF: cache directory (default ~/.cache/gvmconv)" });
  insecure = Option.Boolean("--insecure", false, {
    description: "REF: allow plain HTTP and untrusted TLS for the registry",
  });
  authfile = Option.String("--authfile", {
    description: "REF: registry credentials from this auth.json only",
  });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const { stdout, stderr } = this.context;
    try {
      const lib = await library();
      if (await lib.isImageReference(this.file)) {
        // Warnings are part of the plan (printed with it, or in the JSON): the reporter stays quiet.
        const plan = await lib.planConvert(this.file, {
          env: this.context.env,
          reporter: lib.silentReporter,
          image: {
            platform: this.platform,
            cacheDir: this.cacheDir,
            insecure: this.insecure,
            authFile: this.authfile,
          },
        });
        stdout.write(this.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
        return 0;
      }
      const info = await lib.inspectImage(this.file);
      const sb = info.squashfs;
      const gvmi = info.format === "gvmi" ? { config: info.config, issues: info.issues } : null;
      if (this.json) {
        stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        return 0;
      }
      const lines = [
        `file:        ${this.file}`,
        `format:      ${info.format === "gvmi" ? "gvmi (SquashFS + container config trailer)" : "plain SquashFS (no .gvmi trailer)"}`,
        `sha3-224:    ${info.sha3}`,
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
