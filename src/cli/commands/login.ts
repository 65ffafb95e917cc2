/**
 * `gvmconv login [--check]` and `gvmconv logout`: the Golem registry login, stored in a file only
 * the user can read (see src/upload/credentials.ts). The token is read without echo on a terminal,
 * or as one line from standard input otherwise (`echo "$TOKEN" | gvmconv login --user me`), and is
 * never printed.
 */
import { Command, Option, type BaseContext } from "clipanion";
import type { Readable, Writable } from "node:stream";

import { UsageError } from "../../errors.js";
import type { CommandHelp } from "../command-spec.js";
import { reportError } from "../errors.js";
import { library } from "../library.js";
import { CliReporter } from "../reporter.js";

export class LoginCommand extends Command<BaseContext> {
  static override paths = [["login"]];
  static override usage = Command.Usage({
    description: "log in to the Golem image registry (or check the stored login)",
    details: `
      Asks for the user name and a personal access token made in the registry portal, checks them
      with the registry and stores them in a file only you can read. REGISTRY_USER and
      REGISTRY_TOKEN (environment or .env) take precedence over the stored login. REGISTRY_URL
      selects another registry.
    `,
  });

  static help: CommandHelp = { values: { "--user": "NAME" } };

  user = Option.String("-u,--user", { description: "registry user name (asked when missing)" });
  check = Option.Boolean("--check", false, { description: "only check the login in use" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const reporter = CliReporter.forStream(this.context.stderr, this.context.env, false);
    try {
      if (this.check) return await runLoginCheck(this.context, reporter);
      return await runLogin(this.context, reporter, this.user);
    } catch (err) {
      return reportError(err, this.context.stderr, this.debug);
    }
  }
}

export class LogoutCommand extends Command<BaseContext> {
  static override paths = [["logout"]];
  static override usage = Command.Usage({ description: "forget the stored Golem registry login" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const reporter = CliReporter.forStream(this.context.stderr, this.context.env, false);
    try {
      return await runLogout(this.context, reporter);
    } catch (err) {
      return reportError(err, this.context.stderr, this.debug);
    }
  }
}

export async function runLogin(context: BaseContext, reporter: CliReporter, user?: string): Promise<number> {
  const name = user ?? (await prompt(context, "registry user: ", false));
  if (name === "") throw new UsageError("no user name given");
  const token = await prompt(context, `personal access token for ${name}: `, true);
  if (token === "") throw new UsageError("no token given");
  const { login } = await library();
  const result = await login({ user: name, token }, { env: context.env, reporter });
  reporter.info(`logged in to ${result.registryUrl} as ${name}; login stored in ${result.path}`);
  return 0;
}

export async function runLoginCheck(context: BaseContext, reporter: CliReporter): Promise<number> {
  const { checkLogin } = await library();
  const result = await checkLogin({ env: context.env, reporter });
  if (!result.found) {
    context.stdout.write(`not logged in to ${result.registryUrl}\n`);
    return 1;
  }
  context.stdout.write(
    `${result.valid ? "valid" : "rejected"}: ${result.user} at ${result.registryUrl} (from ${result.source})\n`,
  );
  return result.valid ? 0 : 1;
}

export async function runLogout(context: BaseContext, reporter: CliReporter): Promise<number> {
  const { logout } = await library();
  const removed = await logout({ env: context.env, reporter });
  reporter.info(removed ? "stored login removed" : "no stored login");
  return 0;
}

/**
 * One line from the context's stdin. On a terminal, `secret` turns echo off (raw mode) so the token
 * never shows; elsewhere the line is read as it comes (a pipe, a CI secret).
 */
async function prompt(context: BaseContext, question: string, secret: boolean): Promise<string> {
  const stdin = context.stdin as Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
  const tty = stdin.isTTY === true && typeof stdin.setRawMode === "function";
  if (tty) (context.stderr as Writable).write(question);
  if (tty && secret) stdin.setRawMode!(true);
  try {
    return await readLine(stdin, tty && secret);
  } finally {
    if (tty && secret) {
      stdin.setRawMode!(false);
      (context.stderr as Writable).write("\n");
    }
  }
}

function readLine(stdin: Readable, raw: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let line = "";
    const finish = (value: string) => {
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.off("error", reject);
      stdin.pause();
      resolve(value.trim());
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === "\n" || ch === "\r") return finish(line);
        if (raw && ch === "\u0003") {
          stdin.off("data", onData);
          return reject(new UsageError("login cancelled"));
        }
        if (raw && (ch === "\u007f" || ch === "\b")) line = line.slice(0, -1);
        else line += ch;
      }
    };
    const onEnd = () => finish(line);
    stdin.on("data", onData);
    stdin.once("end", onEnd);
    stdin.once("error", reject);
    stdin.resume();
  });
}
