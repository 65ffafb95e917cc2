/**
 * `gvmconv login [--check]` and `gvmconv logout`: the Golem registry login, stored in a file only
 * the user can read and in gvmkit-build's OS keyring entry where one is reachable (see
 * src/upload/credentials.ts). On a terminal the user name and token are asked for (the token
 * without echo); piped, standard input gives the user and token lines
 * (`printf '%s\n%s\n' me "$TOKEN" | gvmconv login`), or the token line alone with `--user`, or all
 * of it is the token with `--password-stdin` (as `docker login --password-stdin`). The token is
 * never printed.
 */
import { Command, Option, type BaseContext } from "clipanion";

import { UsageError } from "../../errors.js";
import type { CommandHelp } from "../command-spec.js";
import { reportError } from "../errors.js";
import { library } from "../library.js";
import { isTerminal, StdinLines } from "../prompt.js";
import { CliReporter } from "../reporter.js";

export class LoginCommand extends Command<BaseContext> {
  static override paths = [["login"]];
  static override usage = Command.Usage({
    description: "log in to the Golem image registry (or check the stored login)",
    details: `
      Asks for the user name and a personal access token made in the registry portal, checks them
      with the registry and stores them in a file only you can read, and in the OS keyring entry
      gvmkit-build uses when a keyring is reachable. REGISTRY_USER and REGISTRY_TOKEN (environment
      or .env) take precedence over the stored login, which takes precedence over gvmkit-build's
      keyring login. REGISTRY_URL selects another registry.

      Piped, standard input gives a user line and a token line, or only the token line with
      --user. With --password-stdin all of standard input is the token.
    `,
    examples: [
      ["Log in on a terminal", "$0 login"],
      ["Log in from CI", 'printf %s "$TOKEN" | $0 login --user me --password-stdin'],
    ],
  });

  static help: CommandHelp = { values: { "--user": "NAME" } };

  user = Option.String("-u,--user,--username", {
    description: "registry user name (asked when missing)",
  });
  passwordStdin = Option.Boolean("--password-stdin", false, {
    description: "read the token from standard input (all of it)",
  });
  check = Option.Boolean("--check", false, { description: "only check the login in use" });
  json = Option.Boolean("--json", false, { description: "with --check: print one JSON document" });
  debug = Option.Boolean("--debug", false, { description: "show stacks of errors" });

  async execute(): Promise<number> {
    const reporter = await CliReporter.forStream(this.context.stderr, this.context.env, false);
    try {
      if (this.json && !this.check)
        throw new UsageError("--json goes with --check", { hint: "gvmconv login --check --json" });
      if (this.check) return await runLoginCheck(this.context, reporter, this.json);
      return await runLogin(this.context, reporter, this.user, { passwordStdin: this.passwordStdin });
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
    const reporter = await CliReporter.forStream(this.context.stderr, this.context.env, false);
    try {
      return await runLogout(this.context, reporter);
    } catch (err) {
      return reportError(err, this.context.stderr, this.debug);
    }
  }
}

export async function runLogin(
  context: BaseContext,
  reporter: CliReporter,
  user?: string,
  options: { passwordStdin?: boolean } = {},
): Promise<number> {
  const credentials = await askLogin(context, { user, passwordStdin: options.passwordStdin });
  const { login } = await library();
  const result = await login(credentials, { env: context.env, reporter });
  reporter.info(
    `logged in to ${result.registryUrl} as ${credentials.user}; login stored in ${result.path}` +
      (result.keyring ? " and in the OS keyring" : ""),
  );
  return 0;
}

/**
 * Before a build that pushes (`--push`, `--push-to`), on a terminal: make sure there is a login
 * the registry takes, asking for one when there is none, as gvmkit-build does (the user name
 * defaults to the push target's; the login is checked and stored). Returns the credentials to
 * push with, or undefined to leave it to the library (not a terminal, or a login that works; a
 * rejected REGISTRY_TOKEN fails there, as gvmkit-build stops on it rather than asking).
 */
export async function loginBeforePush(
  context: BaseContext,
  reporter: CliReporter,
  targetUser: string,
): Promise<{ user: string; token: string } | undefined> {
  if (!isTerminal(context.stdin)) return undefined;
  const lib = await library();
  const found = await lib.checkLogin({ env: context.env, reporter });
  if (found.found && (found.valid || found.source === "env" || found.source === "dotenv")) return undefined;
  reporter.info(
    found.found
      ? `the registry rejected the login of ${found.user} (from ${found.source}); log in again to push`
      : `no login for ${found.registryUrl}; log in to push (or pass --nologin)`,
  );
  const credentials = await askLogin(context, { defaultUser: targetUser });
  const result = await lib.login(credentials, { env: context.env, reporter });
  reporter.info(`logged in as ${credentials.user}; login stored in ${result.path}`);
  return credentials;
}

/** The user name and token, from the terminal or standard input (see the module comment). */
async function askLogin(
  context: BaseContext,
  options: { user?: string; defaultUser?: string; passwordStdin?: boolean },
): Promise<{ user: string; token: string }> {
  const lines = new StdinLines(context);
  let user = options.user;
  let token: string;
  if (options.passwordStdin) {
    if (user === undefined) {
      throw new UsageError("--password-stdin needs --user", {
        hint: 'printf %s "$TOKEN" | gvmconv login --user NAME --password-stdin',
      });
    }
    token = (await lines.rest()).replace(/\r?\n$/, "");
  } else {
    if (user === undefined) {
      const question = options.defaultUser ? `registry user [${options.defaultUser}]: ` : "registry user: ";
      user = (await lines.next(question, false)) || options.defaultUser || "";
    }
    if (user === "") throw new UsageError("no user name given");
    token = await lines.next(`personal access token for ${user}: `, true);
  }
  if (token === "") throw new UsageError("no token given");
  return { user, token };
}

export async function runLoginCheck(
  context: BaseContext,
  reporter: CliReporter,
  json = false,
): Promise<number> {
  const { checkLogin } = await library();
  const result = await checkLogin({ env: context.env, reporter });
  if (json) {
    // The check's result holds no token: user, registry, where the login came from, and whether it works.
    context.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return result.found && result.valid ? 0 : 1;
  }
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
