/**
 * The command line checked against the command table before clipanion parses it and before any
 * work starts: which command it selects, whether it asks for help, and — for a line clipanion
 * would refuse — ONE sentence naming the token at fault and the closest thing that exists
 * (`unknown option --outptu; did you mean --output?`). clipanion's own messages name the state
 * its machine stopped in ("Command not found; did you mean one of: …"), and it finds `--help`
 * only directly after a command's path; the rules below are its rules (core.js: `--name=value`
 * only for options with a value, `--no-flag`, `-abc` bundles of flags, no value that starts with
 * `-` unless bound with `=`), so whatever passes here it parses.
 */
import { UsageError } from "../errors.js";
import type { CommandSpec, OptionSpec } from "./command-spec.js";
import { closest } from "./suggest.js";

export type Resolution =
  /** Run this command (clipanion parses the line). */
  | { kind: "run"; command: CommandSpec }
  /** Print help: for a command, or the overview (the default command and the command list). */
  | { kind: "help"; command: CommandSpec };

const HELP = /^(-h|--help)$/;

/**
 * Flags of the tools gvmconv users come from (skopeo, crane, docker, mksquashfs), with the
 * gvmconv option that does that job.
 */
const PEER_FLAGS: Record<string, string> = {
  "--tls-verify": "--insecure",
  "--src-tls-verify": "--insecure",
  "--override-os": "--platform",
  "--override-arch": "--platform",
  "--override-variant": "--platform",
  "--arch": "--platform",
  "--os": "--platform",
  "--verbose": "--debug",
  "--comp": "--compression-method",
  "-comp": "--compression-method",
  "--noappend": "--force",
  "-noappend": "--force",
};

/** The command `argv` selects and the tokens left for it (its path removed). */
export function selectCommand(
  argv: readonly string[],
  commands: readonly CommandSpec[],
): { command: CommandSpec; tokens: string[] } {
  let best: { command: CommandSpec; at: number; length: number } | undefined;
  for (const command of commands) {
    for (const path of command.paths) {
      if (path.length === 0) continue;
      // clipanion accepts a command's options before its path (`gvmconv --debug inspect F`).
      const at = path[0]!.startsWith("-") ? 0 : skipOptions(argv, command);
      if (!path.every((word, k) => argv[at + k] === word)) continue;
      if (best === undefined || at < best.at || (at === best.at && path.length > best.length)) {
        best = { command, at, length: path.length };
      }
    }
  }
  if (best !== undefined) {
    const tokens = [...argv.slice(0, best.at), ...argv.slice(best.at + best.length)];
    return { command: best.command, tokens };
  }
  const fallback = commands.find((c) => c.isDefault);
  if (fallback === undefined) throw new UsageError("no command given", { hint: "see gvmconv --help" });
  return { command: fallback, tokens: [...argv] };
}

/** Index of the first token that is not one of `command`'s options (or an option's value). */
function skipOptions(argv: readonly string[], command: CommandSpec): number {
  let i = 0;
  while (i < argv.length) {
    const token = argv[i]!;
    if (!token.startsWith("-") || token === "-" || token === "--") break;
    const option = findOption(command, token.split("=")[0]!);
    if (option === undefined) break;
    i += option.arity > 0 && !token.includes("=") ? 2 : 1;
  }
  return i;
}

/**
 * What `argv` asks for, or a `UsageError` (exit status 2) naming what is wrong with it. Only the
 * syntax is checked here; option values (numbers, sizes, names) are the commands' to parse, and
 * they do so before any work.
 */
export function resolveCommandLine(argv: readonly string[], commands: readonly CommandSpec[]): Resolution {
  const { command, tokens } = selectCommand(argv, commands);
  const dashDash = tokens.indexOf("--");
  const options = dashDash === -1 ? tokens : tokens.slice(0, dashDash);
  if (options.some((t) => HELP.test(t))) return { kind: "help", command };

  const see = { hint: `see gvmconv ${command.isDefault ? "" : `${command.name} `}--help` };
  const positionals: string[] = [];
  let optionError: UsageError | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (i >= dashDash && dashDash !== -1) {
      if (i > dashDash) positionals.push(token);
      continue;
    }
    if (token === "-" || !token.startsWith("-")) {
      positionals.push(token);
      continue;
    }
    if (optionError !== undefined) continue;
    const eq = token.indexOf("=");
    const name = eq > 0 ? token.slice(0, eq) : token;
    const option = findOption(command, name);
    if (option === undefined) {
      if (eq < 0 && (isNegatedFlag(command, name) || isFlagBundle(command, name))) continue;
      optionError = unknownOption(command, commands, name, see);
      continue;
    }
    if (option.arity === 0) {
      if (eq > 0) optionError = new UsageError(`option ${name} takes no value (got '${token}')`, see);
      continue;
    }
    if (eq > 0) continue;
    const value = tokens[i + 1];
    if (value === undefined || (i + 1 === dashDash && dashDash !== -1)) {
      optionError = new UsageError(`option ${name} needs a value (${name} ${option.value})`, see);
    } else if (value.startsWith("-") && value !== "-") {
      optionError = new UsageError(
        `option ${name} needs a value (${name} ${option.value}), got the option '${value}'`,
        { hint: `a value that starts with '-' is written ${name}=${value}` },
      );
    }
    i++;
  }

  const first = positionals[0];
  if (command.isDefault && first !== undefined && /^[a-z][a-z0-9-]*$/.test(first)) {
    const names = commands.filter((c) => !c.isDefault && /^[a-z]/.test(c.name)).map((c) => c.name);
    const meant = closest(first, names);
    if (meant !== undefined) {
      throw new UsageError(`unknown command '${first}'; did you mean '${meant}'?`, {
        hint: `to convert an image named ${first}, write ${first}:latest`,
      });
    }
  }
  if (optionError !== undefined) throw optionError;

  const max = command.rest ? Infinity : command.required.length + command.optional.length;
  if (positionals.length < command.required.length) {
    const missing = command.required.slice(positionals.length).join(" and ");
    throw new UsageError(`missing ${missing}`, see);
  }
  if (positionals.length > max) {
    const extra = positionals[max]!;
    throw new UsageError(`unexpected argument '${extra}'`, {
      hint: `${command.isDefault ? "gvmconv" : `gvmconv ${command.name}`} takes ${describeArity(command)}; see --help`,
    });
  }
  for (const option of command.options) {
    if (option.required && !tokens.some((t) => option.names.includes(t.split("=")[0]!))) {
      throw new UsageError(`missing option ${option.name} ${option.value}`, see);
    }
  }
  return { kind: "run", command };
}

/** A command by the name `help NAME` gives, or a UsageError naming the closest one. */
export function findCommand(name: string, commands: readonly CommandSpec[]): CommandSpec {
  const found = commands.find((c) => c.paths.some((p) => p.join(" ") === name));
  if (found !== undefined) return found;
  const names = commands.filter((c) => /^[a-z]/.test(c.name)).map((c) => c.name);
  const meant = closest(name, names);
  throw new UsageError(`unknown command '${name}'${meant ? `; did you mean '${meant}'?` : ""}`, {
    hint: `the commands are: ${names.join(", ")}`,
  });
}

function findOption(command: CommandSpec, name: string): OptionSpec | undefined {
  return command.options.find((o) => o.names.includes(name));
}

/** `-lR`: single-letter flags bundled, as clipanion allows. */
function isFlagBundle(command: CommandSpec, name: string): boolean {
  return (
    /^-[a-zA-Z]{2,}$/.test(name) && [...name.slice(1)].every((l) => findOption(command, `-${l}`)?.arity === 0)
  );
}

/** `--no-force` for the flag `--force`, as clipanion allows. */
function isNegatedFlag(command: CommandSpec, name: string): boolean {
  if (!name.startsWith("--no-")) return false;
  return findOption(command, `--${name.slice(5)}`)?.arity === 0;
}

function unknownOption(
  command: CommandSpec,
  commands: readonly CommandSpec[],
  name: string,
  see: { hint: string },
): UsageError {
  // `-lR` is two flags; `-ofile` is -o with its value glued on, which clipanion does not read.
  if (/^-[a-zA-Z]{2,}$/.test(name)) {
    const head = findOption(command, name.slice(0, 2));
    if (head !== undefined && head.arity > 0) {
      return new UsageError(`unknown option ${name}`, {
        hint: `to give ${name.slice(0, 2)} a value, separate it: ${name.slice(0, 2)} ${name.slice(2)}`,
      });
    }
  }
  const names = command.options.filter((o) => !o.hidden).flatMap((o) => o.names);
  const meant = closest(name, names) ?? PEER_FLAGS[name];
  if (meant !== undefined && findOption(command, meant) !== undefined) {
    return new UsageError(`unknown option ${name}; did you mean ${meant}?`, see);
  }
  const elsewhere = commands.find((c) => c !== command && findOption(c, name) !== undefined);
  if (elsewhere !== undefined) {
    const where = elsewhere.isDefault ? "gvmconv SOURCE (convert)" : `gvmconv ${elsewhere.name}`;
    return new UsageError(`unknown option ${name} for ${command.isDefault ? "convert" : command.name}`, {
      hint: `${name} is an option of ${where}`,
    });
  }
  return new UsageError(`unknown option ${name}`, see);
}

function describeArity(command: CommandSpec): string {
  const parts = [...command.required, ...command.optional.map((p) => `[${p}]`)];
  if (command.rest) parts.push("…");
  return parts.length === 0 ? "no arguments" : parts.join(" ");
}
