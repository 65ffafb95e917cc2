/** `gvmconv help [COMMAND]`: the same pages as `--help`, as docker and git users type it. */
import { Command, Option } from "clipanion";
import type { CommandHelp, ProgramContext } from "../command-spec.js";
import { reportError } from "../errors.js";
import { renderHelp } from "../help.js";
import { findCommand } from "../syntax.js";

export class HelpCommand extends Command<ProgramContext> {
  static override paths = [["help"]];
  static override usage = Command.Usage({
    description: "show the help of gvmconv or of one command",
    examples: [["The options of ls", "$0 help ls"]],
  });
  static help: CommandHelp = { choices: { COMMAND: [] } };

  topic = Option.String({ name: "COMMAND", required: false });

  async execute(): Promise<number> {
    const commands = this.context.commands ?? [];
    try {
      const main = commands.find((c) => c.isDefault);
      const command = this.topic === undefined ? main : findCommand(this.topic, commands);
      if (command === undefined) return 0;
      this.context.stdout.write(renderHelp(command, commands));
      return 0;
    } catch (err) {
      return reportError(err, this.context.stderr, false);
    }
  }
}
