import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./image-fixture.js";

/** Installed by scripts/test-deps.txt; absent tools make the test fail, not skip. */
function script(shell: string): Promise<string> {
  return run(["completion", shell]).then((r) => {
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.toString();
  });
}

/** Runs bash's completion function on a command line the way readline would (cursor at the end). */
function bashComplete(file: string, words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(" ");
  const r = spawnSync(
    "bash",
    [
      "-c",
      `source ${file}; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _gvmconv; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: "utf8", cwd: tmpdir() },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l !== "");
}

test("bash: complete -p registers it; commands, options, choices and files complete", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-completion-"));
  try {
    const file = join(dir, "gvmconv.bash");
    writeFileSync(file, await script("bash"));
    const p = spawnSync("bash", ["-c", `source ${file} && complete -p gvmconv`], { encoding: "utf8" });
    assert.equal(p.stdout.trim(), "complete -o filenames -F _gvmconv gvmconv");
    assert.deepEqual(bashComplete(file, ["gvmconv", "ins"]), ["inspect"]);
    assert.deepEqual(bashComplete(file, ["gvmconv", "inspect", "--j"]), ["--json"]);
    assert.deepEqual(bashComplete(file, ["gvmconv", "--outp"]), ["--output"]);
    assert.deepEqual(bashComplete(file, ["gvmconv", "alpine", "--format", ""]), ["gvmi", "squashfs"]);
    assert.deepEqual(bashComplete(file, ["gvmconv", "completion", ""]), ["bash", "zsh", "fish"]);
    assert.deepEqual(bashComplete(file, ["gvmconv", "ls", "-"]).sort(), [
      "--debug",
      "--help",
      "--json",
      "-R",
      "-l",
    ]);
    // An option of another command is not offered; a file name is, for a FILE argument.
    assert.deepEqual(bashComplete(file, ["gvmconv", "inspect", "--ha"]), []);
    writeFileSync(join(dir, "app.gvmi"), "");
    assert.deepEqual(bashComplete(file, ["gvmconv", "inspect", join(dir, "app")]), [join(dir, "app.gvmi")]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("zsh: the script parses and registers _gvmconv with compdef", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-completion-"));
  try {
    const file = join(dir, "_gvmconv");
    writeFileSync(file, await script("zsh"));
    const syntax = spawnSync("zsh", ["-n", file], { encoding: "utf8" });
    assert.equal(syntax.status, 0, syntax.stderr);
    const r = spawnSync(
      "zsh",
      [
        "-f",
        "-c",
        `autoload -U compinit; compinit -u -d ${dir}/zcd; source ${file}; print -- $_comps[gvmconv]`,
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.stdout.trim(), "_gvmconv", r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("fish: complete -C offers commands, options and choices", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gvmconv-completion-"));
  try {
    const file = join(dir, "gvmconv.fish");
    writeFileSync(file, await script("fish"));
    const complete = (line: string): string[] => {
      const r = spawnSync("fish", ["--no-config", "-c", `source ${file}; complete -C '${line}'`], {
        encoding: "utf8",
        cwd: dir,
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t")[0]!);
    };
    assert.deepEqual(complete("gvmconv ins"), ["inspect"]);
    assert.deepEqual(complete("gvmconv inspect --").sort(), [
      "--authfile",
      "--cache-dir",
      "--debug",
      "--insecure",
      "--json",
      "--platform",
    ]);
    assert.deepEqual(complete("gvmconv --format "), ["gvmi", "squashfs"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
