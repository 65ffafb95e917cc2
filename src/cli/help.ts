/**
 * Help pages, laid out as docker, skopeo and crane users read them: a usage line, the
 * description, options in groups with their value names (`-o, --output FILE`) and one-line
 * descriptions, the details, examples. clipanion's printer lists the main command's ~30 options
 * on one line with `#0` for every value and prints no description for them, so the pages are
 * ours; their text is the commands' `Command.Usage` and option `description`s.
 */
import type { CommandSpec, OptionSpec } from "./command-spec.js";

const BINARY = "gvmconv";
/** Option names wider than this put their description on the next line. */
const MAX_LEFT = 34;

/**
 * The help page of `command`. The default command's page is the overview: its options, then
 * every other command, as `gvmconv --help` shows.
 */
export function renderHelp(command: CommandSpec, commands: readonly CommandSpec[]): string {
  const out: string[] = [];
  const name = command.isDefault ? `${BINARY} [${command.name}]` : `${BINARY} ${command.name}`;
  out.push(`Usage: ${name}${positionalUsage(command)}${command.options.length > 0 ? " [OPTIONS]" : ""}`);
  if (command.isDefault) out.push(`       ${BINARY} COMMAND [ARGS] [OPTIONS]`);
  out.push("");
  if (command.description !== "") out.push(sentence(command.description), "");

  if (command.isDefault) {
    out.push("Commands:");
    const listed = commands.filter((c) => /^[a-z]/.test(c.name));
    const width = Math.max(...listed.map((c) => c.name.length)) + 2;
    for (const c of listed) out.push(`  ${c.name.padEnd(width)}${c.description}`);
    out.push("");
  }

  const visible = command.options.filter((o) => !o.hidden);
  const lefts = visible.map(optionLeft);
  const width = Math.min(MAX_LEFT, Math.max(0, ...lefts.map((l) => l.length))) + 2;
  let group: string | undefined;
  visible.forEach((option, k) => {
    if (option.group !== group) {
      if (group !== undefined) out.push("");
      group = option.group;
      out.push(group === "" ? "Options:" : `${capitalize(group)} options:`);
    }
    const left = `  ${lefts[k]!}`;
    if (left.length + 2 > width + 2) out.push(left, `${" ".repeat(width + 2)}${option.description}`);
    else out.push(`${left.padEnd(width + 2)}${option.description}`);
  });
  if (visible.length > 0) out.push("");

  if (command.details !== "") out.push(command.details, "");
  if (command.examples.length > 0) {
    out.push("Examples:");
    for (const [what, how] of command.examples) {
      out.push(`  ${what.replace(/\n/g, " ")}`, `    $ ${how.replace(/\$0/g, BINARY)}`);
    }
    out.push("");
  }
  out.push(
    command.isDefault
      ? `Run '${BINARY} COMMAND --help' for more on a command.`
      : `Run '${BINARY} --help' for the commands and the conversion options.`,
  );
  return `${out.join("\n")}\n`;
}

/** `-o, --output FILE`: short names first, then long ones, then the value name. */
export function optionLeft(option: OptionSpec): string {
  const names = [...option.names].sort((a, b) => shortFirst(a) - shortFirst(b) || 0);
  const value = option.arity > 0 ? ` ${option.value}` : "";
  const indent = names[0]!.startsWith("--") ? "    " : "";
  return `${indent}${names.join(", ")}${value}`;
}

function shortFirst(name: string): number {
  return name.startsWith("--") ? 1 : 0;
}

function positionalUsage(command: CommandSpec): string {
  const parts = [...command.required, ...command.optional.map((p) => `[${p}]`)];
  if (command.rest) parts.push("[ARGS…]");
  return parts.length === 0 ? "" : ` ${parts.join(" ")}`;
}

function sentence(text: string): string {
  const one = capitalize(text.replace(/\s+/g, " ").trim());
  return /[.!?]$/.test(one) ? one : `${one}.`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
