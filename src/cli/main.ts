#!/usr/bin/env node
/** The `gvmconv` executable: parses argv, runs a command, sets the exit code. */
import { Cli, type BaseContext, type CommandClass } from "clipanion";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { UsageError } from "../errors.js";
import { commandSpecs, type CommandSpec, type ProgramContext } from "./command-spec.js";
import { reportError } from "./errors.js";
import { renderHelp } from "./help.js";
import { loadedLibrary } from "./library.js";
import { resolveCommandLine, selectCommand } from "./syntax.js";
import { SquashfsCommand } from "./commands/squashfs.js";
import { InspectCommand } from "./commands/inspect.js";
import { LsCommand } from "./commands/ls.js";
import { CatCommand } from "./commands/cat.js";
import { VerifyCommand } from "./commands/verify.js";
import { CacheCommand } from "./commands/cache.js";
import { ConvertCommand } from "./commands/convert.js";
import { LoginCommand, LogoutCommand } from "./commands/login.js";
import { HelpCommand } from "./commands/help.js";
import { VersionCommand } from "./commands/version.js";
import { CompletionCommand } from "./commands/completion.js";

/** Every command, in the order help lists them. */
const COMMANDS: CommandClass<BaseContext>[] = [
  ConvertCommand,
  SquashfsCommand,
  InspectCommand,
  LsCommand,
  CatCommand,
  VerifyCommand,
  CacheCommand,
  LoginCommand,
  LogoutCommand,
  CompletionCommand,
  HelpCommand,
  VersionCommand,
];

/** The command table, built once from the registrations (see command-spec.ts). */
let table: CommandSpec[] | undefined;
export function commandTable(): CommandSpec[] {
  if (table !== undefined) return table;
  table = commandSpecs(COMMANDS);
  const help = table.find((c) => c.name === "help");
  if (help !== undefined)
    help.choices.COMMAND = table.filter((c) => /^[a-z]/.test(c.name)).map((c) => c.name);
  return table;
}

/**
 * clipanion itself prints parse errors to stdout with usage text and exits 1; ours go to stderr
 * as one line and exit 2 (stdout stays for output a script might capture). The line is checked
 * (syntax.ts) before clipanion sees it, so the error names the token at fault.
 */
export class GvmconvCli {
  /** Runs one command line; resolves to the exit code. */
  async run(argv: string[], context: Partial<ProgramContext> = {}): Promise<number> {
    const version = packageVersion();
    const full: ProgramContext = { ...Cli.defaultContext, ...context, commands: commandTable(), version };
    const tty = (full.stdout as { isTTY?: boolean }).isTTY === true;
    // Colour only on a terminal and without NO_COLOR (https://no-color.org).
    const clipanion = new Cli<BaseContext>({
      binaryLabel: "gvmconv",
      binaryName: "gvmconv",
      binaryVersion: version,
      enableColors: tty && (full.env.NO_COLOR ?? "") === "",
    });
    for (const command of COMMANDS) clipanion.register(command);
    let command;
    try {
      argv = jsonArguments(argv, commandTable());
      const resolution = resolveCommandLine(argv, commandTable());
      if (resolution.kind === "help") {
        full.stdout.write(renderHelp(resolution.command, commandTable()));
        return 0;
      }
      command = clipanion.process(argv, full);
    } catch (err) {
      const usage = err instanceof UsageError ? err : clipanionError(err);
      return reportError(usage, full.stderr, false);
    }
    return clipanion.run(command, full);
  }
}

/**
 * convert's `--json` used to take a file; it is now the switch every command has. `--json -` and
 * `--json=-` mean standard output (never a file named `-`); a file after it (`--json=FILE`,
 * `--json out.json`) is refused before any work, naming --json-file. Only for convert:
 * elsewhere `-` may be an input (squashfs -).
 */
function jsonArguments(argv: string[], commands: CommandSpec[]): string[] {
  let command;
  try {
    command = selectCommand(argv, commands).command;
  } catch {
    return argv;
  }
  if (!command.isDefault) return argv;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      out.push(...argv.slice(i));
      break;
    }
    if (token === "--json" && argv[i + 1] === "-") {
      out.push("--json");
      i++;
    } else if (token === "--json=-") out.push("--json");
    else if (token.startsWith("--json=") || (token === "--json" && /\.json$/i.test(argv[i + 1] ?? ""))) {
      const file = token === "--json" ? argv[i + 1]! : token.slice("--json=".length);
      throw new UsageError(`option --json takes no file (got '${file}')`, {
        hint: `--json prints the document on standard output; to write it to a file: --json-file ${file}`,
      });
    } else out.push(token);
  }
  return out;
}

/**
 * clipanion's parse error as one line, for a line syntax.ts let through (which would be a gap
 * in syntax.ts): its first line, without the candidate list.
 */
function clipanionError(err: unknown): UsageError {
  const message = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
  return new UsageError(message.replace(/[.:;]\s*$/, ""), { hint: "see gvmconv --help" });
}

export function createCli(): GvmconvCli {
  return new GvmconvCli();
}

/** The version in our package.json (dist/cli/ and, for tests, build/src/cli/ sit at different depths). */
function packageVersion(): string {
  for (let url = new URL("./", import.meta.url); url.pathname !== "/"; url = new URL("../", url)) {
    const candidate = new URL("package.json", url);
    if (!existsSync(candidate)) continue;
    const pkg = JSON.parse(readFileSync(candidate, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "gvmconv" && pkg.version) return pkg.version;
  }
  return "0.0.0";
}

/** True when this module is the process's entry point (npm installs bins as symlinks). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

/** How long an aborted run may take to clean up after Ctrl-C before the process exits anyway. */
const ABORT_GRACE_MS = 3_000;

if (isEntryPoint()) {
  const interrupt = new AbortController();
  let honoured = false;
  let stoppedBy: NodeJS.Signals | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      const exit = (): never => {
        // Without the library no command has started writing, so no output is pending.
        loadedLibrary()?.removePendingOutputsSync();
        process.exit(signal === "SIGINT" ? 130 : 143);
      };
      // A command that honours the signal stops cleanly and reports one E_ABORTED line; a second
      // Ctrl-C, or one that takes too long, exits at once.
      if (!honoured || interrupt.signal.aborted) exit();
      stoppedBy = signal;
      interrupt.abort();
      setTimeout(exit, ABORT_GRACE_MS).unref();
    });
  }
  // `gvmconv ls -R IMG | head`: once the reader has gone, the rest of the output has nowhere to
  // go. Exit quietly with status 0, as ripgrep and fd do: node ignores SIGPIPE, so the 141 of
  // ls(1) would only come from us killing ourselves, and under `set -o pipefail` it would fail a
  // script for a listing its reader chose to cut short.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    loadedLibrary()?.removePendingOutputsSync();
    process.exit(0);
  });
  const code = await createCli().run(process.argv.slice(2), {
    signal: interrupt.signal,
    honourSignal: () => {
      honoured = true;
    },
  });
  // A run stopped by SIGTERM reports E_ABORTED too, with the status a shell expects for it.
  process.exitCode = code === 130 && stoppedBy === "SIGTERM" ? 143 : code;
}
