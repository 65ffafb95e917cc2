/** `gvmconv version` / `--version`: the bare version, `X.Y.Z`, as it always printed (scripts compare it). */
import { Command } from "clipanion";
import type { ProgramContext } from "../command-spec.js";

export class VersionCommand extends Command<ProgramContext> {
  static override paths = [["version"], ["--version"], ["-V"], ["-v"]];
  static override usage = Command.Usage({ description: "print the version of gvmconv" });

  async execute(): Promise<number> {
    this.context.stdout.write(`${this.context.version ?? "0.0.0"}\n`);
    return 0;
  }
}
