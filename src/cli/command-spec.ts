/**
 * The command table as data: every registered command with its paths, positionals and options,
 * read from clipanion's own registrations (so help, argument checking and shell completion cannot
 * drift from what clipanion parses), plus what clipanion does not record — value names, option
 * groups and choices — from each command's static `help`.
 */
import { Cli, type BaseContext, type CommandClass } from "clipanion";

/** What a command adds to its clipanion declarations for help and completion. */
export interface CommandHelp {
  /** Option group headings, each starting at the named option (groups follow declaration order). */
  groups?: [heading: string, firstOption: string][];
  /** The value name (`FILE`, `N`, `SIZE`) of each option that takes one, by its longest name. */
  values?: Record<string, string>;
  /** Values offered by shell completion, by option name or positional name. */
  choices?: Record<string, string[]>;
  /** Positionals (by name) that are paths on disk, completed as file names. */
  files?: string[];
}

export interface OptionSpec {
  /** All names, e.g. `["-o", "--output"]`. */
  names: string[];
  /** The longest name: the one help and messages use. */
  name: string;
  /** 0 for a flag, 1 for an option with a value. */
  arity: number;
  description: string;
  required: boolean;
  hidden: boolean;
  /** The value's name in help (`--output FILE`); `VALUE` when the command does not say. */
  value: string;
  choices?: string[];
  /** Its group heading, or "" for the command's only group. */
  group: string;
}

export interface CommandSpec {
  /** The name (`inspect`); the default command's is its alias (`convert`). */
  name: string;
  /** Every path that selects it; `[]` is the default command (no name needed). */
  paths: string[][];
  isDefault: boolean;
  description: string;
  details: string;
  examples: [string, string][];
  options: OptionSpec[];
  /** Positionals: required ones first, then optional ones, then (rest) any number more. */
  required: string[];
  optional: string[];
  rest: boolean;
  /** Positional names completed as files, and positional choices. */
  files: string[];
  choices: Record<string, string[]>;
}

/** The view of clipanion's CommandBuilder this module reads (declared public in its core.d.ts). */
interface BuilderView {
  arity: { leading: string[]; extra: string[] | symbol; trailing: string[]; proxy: boolean };
  options: { names: string[]; description?: string; arity: number; hidden: boolean; required: boolean }[];
  paths: string[][];
}

/** clipanion keeps its registrations protected; this subclass only reads them. */
class RegistrationReader extends Cli<BaseContext> {
  builders(): [CommandClass<BaseContext>, BuilderView][] {
    return [...this.registrations].map(([klass, r]) => [klass, r.builder as unknown as BuilderView]);
  }
}

/** The spec of every command in `classes`, in registration order. */
export function commandSpecs(classes: CommandClass<BaseContext>[]): CommandSpec[] {
  const reader = new RegistrationReader({ binaryName: "gvmconv" });
  for (const klass of classes) reader.register(klass);
  return reader.builders().map(([klass, builder]) => specOf(klass, builder));
}

function specOf(klass: CommandClass<BaseContext>, builder: BuilderView): CommandSpec {
  const help = (klass as { help?: CommandHelp }).help ?? {};
  const paths = builder.paths.length > 0 ? builder.paths : [[]];
  const named = paths.find((p) => p.length > 0 && !p[0]!.startsWith("-"));
  const boundaries = new Map((help.groups ?? []).map(([heading, first]) => [first, heading]));
  let group = "";
  const options: OptionSpec[] = builder.options.map((o) => {
    const name = o.names.reduce((a, b) => (b.length > a.length ? b : a), "");
    group = o.names.map((n) => boundaries.get(n)).find((g) => g !== undefined) ?? group;
    const value = o.names.map((n) => help.values?.[n]).find((v) => v !== undefined) ?? "VALUE";
    const choices = o.names.map((n) => help.choices?.[n]).find((v) => v !== undefined);
    return {
      names: o.names,
      name,
      arity: o.arity,
      description: o.description ?? "",
      required: o.required,
      hidden: o.hidden,
      value,
      ...(choices ? { choices } : {}),
      group,
    };
  });
  const usage = klass.usage ?? {};
  const extra = builder.arity.extra;
  return {
    name: named?.join(" ") ?? "",
    paths,
    isDefault: paths.some((p) => p.length === 0),
    description: (usage.description ?? "").trim(),
    details: dedent(usage.details ?? ""),
    examples: (usage.examples ?? []).map(([what, how]) => [dedent(what), how]),
    options,
    required: [...builder.arity.leading, ...builder.arity.trailing],
    optional: Array.isArray(extra) ? extra : [],
    rest: !Array.isArray(extra),
    files: help.files ?? [],
    choices: Object.fromEntries(Object.entries(help.choices ?? {}).filter(([k]) => !k.startsWith("-"))),
  };
}

/** Template-literal text without its common indentation and surrounding blank lines. */
function dedent(text: string): string {
  const lines = text
    .replace(/^\s*\n/, "")
    .trimEnd()
    .split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(Number.isFinite(indent) ? indent : 0)).join("\n");
}

/** The context commands run with: clipanion's, plus the command table (for help and completion). */
export interface ProgramContext extends BaseContext {
  commands?: CommandSpec[];
  version?: string;
  /** Aborted on Ctrl-C (SIGINT/SIGTERM) once a command has said it honours it. */
  signal?: AbortSignal;
  /**
   * A command whose library call stops cleanly on `signal` calls this first: Ctrl-C then aborts
   * the run (one E_ABORTED line, nothing partial left) instead of exiting at once.
   */
  honourSignal?: () => void;
}
