#!/usr/bin/env node
/** The `gvmconv` executable: parses argv, runs a command, sets the exit code. */
import { Builtins, Cli, type BaseContext, type CommandClass } from "clipanion";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { UsageError } from "../errors.js";
import { reportError } from "./errors.js";
import { loadedLibrary } from "./library.js";
import { SquashfsCommand } from "./commands/squashfs.js";
import { InspectCommand } from "./commands/inspect.js";
import { LsCommand } from "./commands/ls.js";
import { CatCommand } from "./commands/cat.js";
import { VerifyCommand } from "./commands/verify.js";
import { ConvertCommand } from "./commands/convert.js";
import { LoginCommand, LogoutCommand } from "./commands/login.js";

/**
 * clipanion itself prints parse errors to stdout with usage text and exits 1; ours go to stderr
 * as one line and exit 2 (stdout stays for output a script might capture).
 */
export class GvmconvCli {
  /** Runs one command line; resolves to the exit code. */
  async run(argv: string[], context: Partial<BaseContext> = {}): Promise<number> {
    const full: BaseContext = { ...Cli.defaultContext, ...context };
    const tty = (full.stdout as { isTTY?: boolean }).isTTY === true;
    // Colour only on a terminal and without NO_COLOR (https://no-color.org).
    const clipanion = new Cli<BaseContext>({
      binaryLabel: "gvmconv",
      binaryName: "gvmconv",
      binaryVersion: packageVersion(),
      enableColors: tty && (full.env.NO_COLOR ?? "") === "",
    });
    const commands: CommandClass<BaseContext>[] = [
      ConvertCommand,
      SquashfsCommand,
      LoginCommand,
      LogoutCommand,
      InspectCommand,
      LsCommand,
      CatCommand,
      VerifyCommand,
      Builtins.HelpCommand,
      Builtins.VersionCommand,
    ];
    for (const command of commands) clipanion.register(command);
    let command;
    try {
      command = clipanion.process(argv, full);
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
      return reportError(new UsageError(message, { hint: "see gvmconv --help" }), full.stderr, false);
    }
    return clipanion.run(command, full);
  }
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

if (isEntryPoint()) {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      // Without the library no command has started writing, so no output is pending.
      loadedLibrary()?.removePendingOutputsSync();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
  process.exitCode = await createCli().run(process.argv.slice(2));
}
