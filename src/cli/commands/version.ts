/** `gvmconv version` / `--version`: the bare version, `X.Y.Z`, as it always printed (scripts compare it). */
import { Command, Option } from "clipanion";
import type { ProgramContext } from "../command-spec.js";

export class VersionCommand extends Command<ProgramContext> {
  static override paths = [["version"], ["--version"], ["-V"], ["-v"]];
  static override usage = Command.Usage({ description: "print the version of gvmconv" });

  json = Option.Boolean("--json", false, { description: 'print {"version": "X.Y.Z", "node": …}' });

  async execute(): Promise<number> {
    const version = this.context.version ?? "0.0.0";
    if (this.json) {
      this.context.stdout.write(`${JSON.stringify({ version, node: process.versions.node }, null, 2)}\n`);
      return 0;
    }
    this.context.stdout.write(`${version}\n`);
    return 0;
  }
}
