/** `gvmconv completion bash|zsh|fish`: a completion script for the shell, on standard output. */
import { Command, Option } from "clipanion";
import type { CommandHelp, ProgramContext } from "../command-spec.js";
import { completionScript, SHELLS, type Shell } from "../completion.js";
import { reportError } from "../errors.js";
import { UsageError } from "../../errors.js";

export class CompletionCommand extends Command<ProgramContext> {
  static override paths = [["completion"]];
  static override usage = Command.Usage({
    description: "print a shell completion script (bash, zsh or fish)",
    details: `
      The script completes commands, options, option values with a fixed set (--format,
      --compression) and file names. Load it in the shell's start-up file.
    `,
    examples: [
      ["bash (~/.bashrc)", "source <($0 completion bash)"],
      ["zsh (~/.zshrc)", "source <($0 completion zsh)"],
      ["fish", "$0 completion fish > ~/.config/fish/completions/gvmconv.fish"],
    ],
  });
  static help: CommandHelp = { choices: { SHELL: [...SHELLS] } };

  shell = Option.String({ name: "SHELL" });

  async execute(): Promise<number> {
    try {
      if (!(SHELLS as readonly string[]).includes(this.shell)) {
        throw new UsageError(`unknown shell '${this.shell}'`, { hint: `use one of ${SHELLS.join(", ")}` });
      }
      this.context.stdout.write(completionScript(this.shell as Shell, this.context.commands ?? []));
      return 0;
    } catch (err) {
      return reportError(err, this.context.stderr, false);
    }
  }
}
