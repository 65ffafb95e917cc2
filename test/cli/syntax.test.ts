import { test } from "node:test";
import assert from "node:assert/strict";
import { closest, editDistance } from "../../src/cli/suggest.js";
import { resolveCommandLine } from "../../src/cli/syntax.js";
import { commandTable } from "../../src/cli/main.js";
import { GvmconvError } from "../../src/errors.js";

test("editDistance counts an adjacent swap as one edit", () => {
  assert.equal(editDistance("outptu", "output"), 1);
  assert.equal(editDistance("insepct", "inspect"), 1);
  assert.equal(editDistance("lss", "ls"), 1);
  assert.equal(editDistance("nats", "cat"), 2);
  assert.equal(editDistance("", "abc"), 3);
});

test("closest: one edit in a short word, two in a long one, else a unique start", () => {
  assert.equal(closest("lss", ["ls", "cat"]), "ls");
  assert.equal(closest("nats", ["ls", "cat"]), undefined);
  assert.equal(closest("--outptu", ["--output", "--force"]), "--output");
  assert.equal(closest("--comp", ["--compression-method", "--compression", "--force"]), "--compression");
  assert.equal(closest("--zzz", ["--output"]), undefined);
});

/** The message of the UsageError `argv` is refused with. */
function refusal(argv: string[]): string {
  try {
    resolveCommandLine(argv, commandTable());
  } catch (err) {
    assert.ok(err instanceof GvmconvError, String(err));
    assert.equal(err.code, "E_USAGE");
    return err.message;
  }
  assert.fail(`accepted: ${argv.join(" ")}`);
}

test("an unknown option is named with the closest one the command has", () => {
  assert.equal(refusal(["alpine", "--outptu", "x"]), "unknown option --outptu; did you mean --output?");
  assert.equal(refusal(["ls", "f", "--recursive"]), "unknown option --recursive");
  assert.equal(
    refusal(["alpine", "--tls-verify=false"]),
    "unknown option --tls-verify; did you mean --insecure?",
  );
  assert.equal(refusal(["inspect", "--hash", "x", "f"]), "unknown option --hash for inspect");
  assert.equal(refusal(["alpine", "-ofile"]), "unknown option -ofile");
});

test("values: missing, bound to a flag, or starting with '-'", () => {
  assert.equal(refusal(["alpine", "--json-file"]), "option --json-file needs a value (--json-file FILE)");
  assert.equal(refusal(["alpine", "--force=yes"]), "option --force takes no value (got '--force=yes')");
  assert.match(
    refusal(["--mkfs-time", "-5", "alpine"]),
    /^option --mkfs-time needs a value .*got the option '-5'$/,
  );
});

test("commands: a near miss is not taken for an image; counts of arguments are checked", () => {
  assert.equal(refusal(["lss"]), "unknown command 'lss'; did you mean 'ls'?");
  assert.equal(refusal(["insepct", "f"]), "unknown command 'insepct'; did you mean 'inspect'?");
  assert.equal(refusal(["inspect"]), "missing FILE");
  assert.equal(refusal(["cat", "f"]), "missing PATH");
  assert.equal(refusal(["inspect", "a", "b"]), "unexpected argument 'b'");
  assert.equal(refusal(["squashfs", "dir"]), "missing option --output FILE");
});

test("accepted lines select the command clipanion will run", () => {
  const name = (argv: string[]) => {
    const r = resolveCommandLine(argv, commandTable());
    return `${r.kind}:${r.command.name}`;
  };
  assert.equal(name(["alpine:3.20", "-o", "x.gvmi", "--no-force"]), "run:convert");
  assert.equal(name(["convert", "alpine:3.20"]), "run:convert");
  assert.equal(name(["nats"]), "run:convert");
  assert.equal(name(["ls", "-lR", "f", "/etc"]), "run:ls");
  assert.equal(name(["--debug", "inspect", "f"]), "run:inspect");
  assert.equal(name(["alpine", "--help"]), "help:convert");
  assert.equal(name(["ls", "f", "-h"]), "help:ls");
  assert.equal(name(["help"]), "run:help");
  assert.equal(name(["version"]), "run:version");
  assert.equal(name(["--version"]), "run:version");
  assert.equal(name(["cat", "f", "--", "-odd-name"]), "run:cat");
});
