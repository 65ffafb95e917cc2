/**
 * `--json` on every command that reports something: standard output is exactly one JSON
 * document (parsed whole), human lines go to standard error, keys are camelCase, and a SHA3-224
 * is `sha3` everywhere. `--json -` is standard output, never a file named `-`. `cat` has no --json.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, type CliRun } from "../support/cli-run.js";
import { hermeticEnv, tmp } from "../oci/helpers.js";
import { makeFixture } from "./image-fixture.js";

const repoRoot = new URL("../../..", import.meta.url).pathname;
const SAMPLE = `oci:${join(repoRoot, "samples", "hello-oci")}:latest`;

/** Every key of a JSON value, recursively, except inside the Docker ContainerConfig (PascalCase by its spec). */
function keys(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) keys(v, out);
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      if (k !== "config" && k !== "containerConfig") keys(v, out);
    }
  }
  return out;
}

function oneDocument(r: CliRun, what: string): Record<string, unknown> {
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  const doc = JSON.parse(r.stdout) as Record<string, unknown>;
  for (const k of keys(doc))
    assert.match(k, /^[a-z][a-zA-Z0-9]*$|^\/|^sha256:/, `${what}: key ${k} is camelCase`);
  return doc;
}

test("--json on every command: one camelCase document on stdout, sha3 for the SHA3-224", async () => {
  const f = await makeFixture();
  const work = await tmp("gvmconv-json-");
  const env = hermeticEnv(work, { XDG_CACHE_HOME: join(work, "cache"), REGISTRY_URL: "http://127.0.0.1:9" });
  try {
    const inspect = oneDocument(await runCli(["inspect", f.gvmi, "--json"], { env }), "inspect");
    assert.equal(inspect["sha3"], f.sha3);
    assert.equal(inspect["sha3_224"], undefined);
    const verify = oneDocument(await runCli(["verify", f.gvmi, "--json"], { env }), "verify");
    assert.equal(verify["sha3"], f.sha3);
    assert.equal(verify["ok"], true);
    const ls = oneDocument(await runCli(["ls", f.gvmi, "/", "-l", "--json"], { env }), "ls");
    const names = (ls["directories"] as { entries: { name: string }[] }[])[0]!.entries.map((e) => e.name);
    assert.deepEqual(names.sort(), ["bin", "data", "dev", "etc"]);
    const version = oneDocument(await runCli(["version", "--json"], { env }), "version");
    assert.match(String(version["version"]), /^\d+\.\d+\.\d+/);
    oneDocument(await runCli(["cache", "ls", "--json"], { env }), "cache ls");

    const check = await runCli(["login", "--check", "--json"], { env });
    assert.equal(check.code, 1, "not logged in");
    assert.deepEqual(JSON.parse(check.stdout), { found: false, registryUrl: "http://127.0.0.1:9" });

    const tree = join(work, "tree");
    await mkdir(tree);
    await writeFile(join(tree, "a"), "a\n");
    const sq = oneDocument(
      await runCli(["squashfs", tree, "-o", join(work, "t.sqfs"), "--json"], { env }),
      "squashfs",
    );
    assert.equal(sq["kept"], false);
    assert.equal(sq["outputPath"], join(work, "t.sqfs"));

    // convert: the human lines (image link, wrote:) move to stderr; `--json -` is the same switch.
    for (const flag of [["--json"], ["--json", "-"], ["--json=-"]]) {
      const out = join(work, `c${flag.length}${flag[0]!.length}.gvmi`);
      const r = await runCli([SAMPLE, "-o", out, ...flag], { env });
      const doc = oneDocument(r, `convert ${flag.join(" ")}`);
      assert.equal(doc["outputPath"], out);
      assert.match(String(doc["sha3"]), /^[0-9a-f]{56}$/);
      assert.match(r.stderr, /image link \(for use in SDK\)/);
      assert.match(r.stderr, /^(wrote|kept): /m);
    }
    assert.equal(existsSync(join(process.cwd(), "-")), false, "no file named -");
    const toStdout = await runCli([SAMPLE, "-o", join(work, "d.gvmi"), "--json-file", "-"], { env });
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.match(toStdout.stdout, /"imageHash": "[0-9a-f]{56}"/);
  } finally {
    await rm(f.dir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
});

test("cat takes no --json, and says so in its help", async () => {
  const help = await runCli(["cat", "--help"], { env: {} });
  assert.match(help.stdout, /takes no --json/);
  const r = await runCli(["cat", "x.gvmi", "/etc/hostname", "--json"], { env: {} });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^gvmconv: error \[E_USAGE\]: unknown option --json for cat/);
});
