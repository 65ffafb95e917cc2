import { test } from "node:test";
import assert from "node:assert/strict";
import { run } from "./image-fixture.js";
import { commandTable } from "../../src/cli/main.js";

test("gvmconv --help: grouped options with value names and descriptions, and the commands", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.toString();
  assert.doesNotMatch(text, /#\d/, "clipanion's #0 placeholders");
  const headings = [...text.matchAll(/^(\S.*) options:$/gm)].map((m) => m[1]);
  assert.deepEqual(headings, ["Image creation", "Image source", "Upload", "Output"]);
  assert.match(text, /^ {2}-o, --output FILE +output file/m);
  assert.match(text, /^ {6}--push-to USER\/REPO:TAG +upload to the Golem registry/m);
  const convert = commandTable().find((c) => c.isDefault)!;
  for (const option of convert.options) {
    assert.ok(text.includes(option.description), `${option.name}'s description is shown`);
    assert.ok(text.includes(option.name), `${option.name} is shown`);
  }
  for (const command of commandTable().filter((c) => !c.isDefault && /^[a-z]/.test(c.name))) {
    assert.match(text, new RegExp(`^ {2}${command.name} +${escape(command.description)}$`, "m"));
  }
});

test("every option that takes a value has a value name, and every option a description", () => {
  for (const command of commandTable()) {
    for (const option of command.options) {
      assert.notEqual(option.description, "", `${command.name} ${option.name}`);
      if (option.arity > 0) assert.notEqual(option.value, "VALUE", `${command.name} ${option.name}`);
    }
  }
});

test("each command's --help, help COMMAND and COMMAND ARGS --help print the same page", async () => {
  for (const command of commandTable().filter((c) => /^[a-z]/.test(c.name))) {
    const page = await run([command.name, "--help"]);
    assert.equal(page.code, 0, `${command.name}: ${page.stderr}`);
    assert.equal(page.stderr, "");
    const text = page.stdout.toString();
    assert.match(text, /^Usage: gvmconv /);
    assert.ok(text.includes(command.description.slice(1)), `${command.name} shows its description`);
    const viaHelp = await run(["help", command.name]);
    assert.equal(viaHelp.stdout.toString(), text, `help ${command.name}`);
    const later = await run([command.name, "some-arg", "-h"]);
    assert.equal(later.stdout.toString(), text, `${command.name} some-arg -h`);
  }
  const main = (await run(["--help"])).stdout.toString();
  assert.equal((await run(["alpine:3.20", "--help"])).stdout.toString(), main);
  assert.equal((await run(["help"])).stdout.toString(), main);
  assert.equal((await run(["-h"])).stdout.toString(), main);
});

test("help and version are commands, never image names", async () => {
  const version = await run(["version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout.toString(), /^\d+\.\d+\.\d+\n$/);
  assert.equal((await run(["--version"])).stdout.toString(), version.stdout.toString());
  const help = await run(["help", "lss"]);
  assert.equal(help.code, 2);
  assert.match(help.stderr, /^gvmconv: error \[E_USAGE\]: unknown command 'lss'; did you mean 'ls'\?/);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
