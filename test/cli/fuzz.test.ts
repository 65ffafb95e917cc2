/**
 * Every command fed wrong arguments, generated from the command table: unknown and misspelt
 * flags, missing values, values on flags, bad numbers, missing / directory / image-reference
 * files, missing and extra positionals, and the help variants. Whatever the line, there is no
 * stack without --debug, a usage error exits 2, and a failure is exactly one line on stderr.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./image-fixture.js";
import { commandTable } from "../../src/cli/main.js";
import type { CommandSpec } from "../../src/cli/command-spec.js";

const ERROR_LINE = /^gvmconv: error \[(E_[A-Z0-9_]+)\]: [^\n]+\n$/;

/** A SOURCE that fails at once and locally, should a wrong line ever get as far as converting. */
const LOCAL_SOURCE = "oci:/nonexistent/gvmconv-fuzz";

interface Case {
  argv: string[];
  /** The code the line must fail with; undefined = any coded error. */
  code?: string;
}

/** Arguments that satisfy `command`'s positionals and required options (all pointing nowhere). */
function minimal(command: CommandSpec, dir: string): string[] {
  const positionals = command.required.map((p) =>
    p === "SHELL" ? "bash" : p.startsWith("DIR") ? join(dir, "missing-input") : join(dir, "missing.gvmi"),
  );
  if (command.isDefault) positionals.push(LOCAL_SOURCE);
  const options = command.options.filter((o) => o.required).flatMap((o) => [o.name, join(dir, "out")]);
  return [...(command.isDefault ? [] : command.name.split(" ")), ...positionals, ...options];
}

/** `--outptu` for `--output`: two different adjacent letters swapped, or undefined. */
function misspell(name: string): string | undefined {
  for (let i = 3; i + 1 < name.length; i++) {
    const [a, b] = [name[i]!, name[i + 1]!];
    if (a !== b && /[a-z]/.test(a) && /[a-z]/.test(b))
      return `${name.slice(0, i)}${b}${a}${name.slice(i + 2)}`;
  }
  return undefined;
}

function cases(dir: string): Case[] {
  const all: Case[] = [];
  const usage = (argv: string[]) => all.push({ argv, code: "E_USAGE" });
  for (const command of commandTable().filter((c) => /^[a-z]/.test(c.name))) {
    const base = minimal(command, dir);
    const path = command.isDefault ? [] : command.name.split(" ");
    usage([...base, "--bogus-flag"]);
    usage([...base, "-Z"]);
    usage([...base, "--tls-verify=false"]);
    usage([...base, "--debug=1"].filter(() => command.options.some((o) => o.name === "--debug")));
    for (const option of command.options) {
      const long = option.names.find((n) => n.startsWith("--"));
      const typo = long === undefined ? undefined : misspell(long);
      if (typo !== undefined) usage([...base, typo]);
      if (option.arity > 0) {
        usage([...base, option.name]);
        usage([...base, option.name, "--debug"]);
        if (/^(N|SIZE|SECONDS)$/.test(option.value)) {
          usage([...base, option.name, "abc"]);
          usage([...base, `${option.name}=-1`]);
          usage([...base, option.name, "99999999999999999999"]);
        }
      } else if (long !== undefined) {
        usage([...base, `${long}=yes`]);
      }
    }
    const max = command.required.length + command.optional.length;
    if (!command.rest) usage([...path, ...base.slice(path.length), ...Array<string>(max + 1).fill("extra")]);
    if (command.required.length > 0) usage([...path]);
  }
  // Files where a file is expected: missing, a directory, an image reference.
  for (const name of ["inspect", "ls", "cat", "verify"]) {
    const extra = name === "cat" ? ["/etc/hostname"] : [];
    all.push({ argv: [name, join(dir, "missing.gvmi"), ...extra], code: "E_INPUT_NOT_FOUND" });
    all.push({ argv: [name, dir, ...extra], code: "E_INPUT_NOT_A_FILE" });
    // inspect describes an image named by reference instead (a missing archive: its source's error).
    if (name === "inspect")
      all.push({ argv: [name, `docker-archive:${join(dir, "missing.tar")}`], code: "E_OCI_LOCAL_SOURCE" });
    else all.push({ argv: [name, "alpine:3.20", ...extra], code: "E_INPUT_NOT_FOUND" });
  }
  all.push({ argv: ["-d", join(dir, "missing.gvmi"), "--push-to", "me/app:1"], code: "E_INPUT_NOT_FOUND" });
  all.push({ argv: ["-d", dir, "--push-to", "me/app:1"], code: "E_INPUT_NOT_A_FILE" });
  all.push({ argv: ["-d", join(dir, "missing.gvmi")], code: "E_INPUT_NOT_FOUND" });
  all.push({
    argv: ["squashfs", join(dir, "missing"), "-o", join(dir, "out.sqfs")],
    code: "E_INPUT_READ",
  });
  all.push({ argv: ["lss"], code: "E_USAGE" });
  all.push({ argv: ["help", "nope"], code: "E_USAGE" });
  all.push({ argv: ["completion", "tcsh"], code: "E_USAGE" });
  return all.filter((c) => c.argv.length > 0);
}

test("fuzz: wrong arguments to every command give one coded line, no stack, exit 2 for usage", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-fuzz-"));
  try {
    const all = cases(dir);
    assert.ok(all.length > 150, `only ${all.length} cases`);
    for (const { argv, code } of all) {
      const what = `gvmconv ${argv.join(" ")}`;
      const r = await run(argv);
      assert.equal(r.stdout.length, 0, `${what}: nothing on stdout`);
      const line = ERROR_LINE.exec(r.stderr);
      assert.ok(line, `${what}: one error line, got:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at |internal error/, `${what}: no stack`);
      if (code !== undefined) assert.equal(line[1], code, what);
      assert.equal(r.code, line[1] === "E_USAGE" ? 2 : 1, `${what}: exit status`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("fuzz: every help variant of every command prints a page on stdout and exits 0", async () => {
  for (const command of commandTable().filter((c) => /^[a-z]/.test(c.name))) {
    const path = command.isDefault ? [] : command.name.split(" ");
    for (const argv of [
      [...path, "--help"],
      [...path, "-h"],
      [...path, "x", "--help"],
      [...path, "--bogus", "-h"],
      ["help", command.name],
    ]) {
      const r = await run(argv);
      assert.equal(r.code, 0, `gvmconv ${argv.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr, "");
      assert.match(r.stdout.toString(), /^Usage: gvmconv /);
    }
  }
});

test("--debug keeps the stack of a coded error, after its one line", async () => {
  const r = await run(["inspect", "/nonexistent/gvmconv.gvmi", "--debug"]);
  assert.equal(r.code, 1);
  const [first, ...rest] = r.stderr.trimEnd().split("\n");
  assert.match(first!, /^gvmconv: error \[E_INPUT_NOT_FOUND\]: /);
  assert.ok(
    rest.some((l) => /^\s+at /.test(l)),
    "a stack follows",
  );
});
