/** Build files: the published schema is the one checked against, and a wrong file names file:line:column and the fix. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILD_FILE_SCHEMA, BuildFileError } from "../../src/index.js";
import { checkBuildObject, parseBuildFile } from "../../src/build/index.js";
import { runCli } from "../support/cli-run.js";

const repo = new URL("../../../", import.meta.url);

test("schema/gvmconv-build.schema.json is the schema the build file is validated against", async () => {
  const published = JSON.parse(
    await readFile(new URL("schema/gvmconv-build.schema.json", repo), "utf8"),
  ) as unknown;
  assert.deepEqual(published, JSON.parse(JSON.stringify(BUILD_FILE_SCHEMA)));
  const readme = await readFile(new URL("README.md", repo), "utf8");
  assert.match(readme, /schema\/gvmconv-build\.schema\.json/, "the README points at the schema");
});

const fails = (text: string, where: RegExp, what: RegExp): void => {
  assert.throws(
    () => parseBuildFile(text, "gvmconv.yaml"),
    (err: unknown) => {
      assert.ok(err instanceof BuildFileError, String(err));
      assert.equal(err.code, "E_BUILD_FILE");
      assert.match(err.where, where);
      assert.match(err.message, what);
      assert.notEqual(err.hint, "");
      return true;
    },
  );
};

test("an unknown key is named at its own line and column, with the keys allowed", () => {
  const text = "images:\n  web:\n    source: alpine:3.20\n    outptus: []\n";
  fails(text, /^gvmconv\.yaml:4:5$/, /images\.web has an unknown key "outptus"/);
  try {
    parseBuildFile(text, "gvmconv.yaml");
  } catch (err) {
    assert.match((err as BuildFileError).hint, /outputs/);
  }
});

test("a wrong value points at the value", () => {
  fails(
    "images:\n  web:\n    source: a\n    outputs:\n      - format: qcow2\n",
    /^gvmconv\.yaml:5:17$/,
    /format must be one of gvmi, squashfs/,
  );
  fails(
    "images:\n  web:\n    source: a\n    digest: sha256:abc\n",
    /^gvmconv\.yaml:4:13$/,
    /digest must match pattern/,
  );
  fails(
    "images:\n  web:\n    source: a\n    add:\n      - src: x\n        dest: relative\n",
    /:6:15$/,
    /dest/,
  );
});

test("YAML syntax errors and JSON files", () => {
  fails("images:\n  web: [unclosed\n", /^gvmconv\.yaml:\d+:\d+$/, /not valid YAML/);
  fails("images:\n  a: {source: x}\n  a: {source: y}\n", /^gvmconv\.yaml:3:3$/, /not valid YAML/);
  const spec = parseBuildFile('{"images": {"web": {"source": "alpine:3.20"}}}', "b.json");
  assert.equal(spec.images["web"]?.source, "alpine:3.20");
  fails('{"images": {"web": {"source": 3}}}', /^gvmconv\.yaml:1:31$/, /source must be string/);
});

test("what the schema cannot say: source xor parent, known parents, no cycles, one kind per target", () => {
  fails("images:\n  web: {}\n", /:2:8$/, /neither a source nor a parent/);
  fails(
    "images:\n  web:\n    source: a\n    parent: b\n  b:\n    source: a\n",
    /:4:13$/,
    /both a source and a parent/,
  );
  fails("images:\n  web:\n    parent: nope\n", /:3:13$/, /names a parent "nope"/);
  fails("images:\n  a:\n    parent: b\n  b:\n    parent: a\n", /:3:13$/, /form a cycle: a → b → a/);
  fails(
    "images:\n  a:\n    source: x\n    publish:\n      - dir: d\n        golem: u/r:t\n",
    /:5:9$/,
    /names dir and golem/,
  );
  fails("images:\n  Web:\n    source: x\n", /:2:3$/, /image name "Web" is not allowed/);
});

test("a build object is checked the same way, with key paths for positions", () => {
  assert.throws(
    () => checkBuildObject({ images: { web: { source: "a", outputs: [{ format: "iso" }] } } }),
    (err: unknown) =>
      err instanceof BuildFileError && err.where === "build object at images.web.outputs[0].format",
  );
});

test("the CLI: a missing or wrong build file is one coded line; a bad --shard is a usage error (exit 2)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-build-cli-"));
  try {
    const missing = await runCli(["build", join(dir, "gvmconv.yaml")], { env: {} });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^gvmconv: error \[E_BUILD_FILE\]: .*gvmconv\.yaml: no such build file — /);
    assert.equal(missing.stderr.trim().split("\n").length, 1);
    await writeFile(
      join(dir, "gvmconv.yaml"),
      "images:\n  web:\n    source: a\n    outputs: [{ format: iso }]\n",
    );
    const wrong = await runCli(["build", join(dir, "gvmconv.yaml")], { env: {} });
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /gvmconv\.yaml:4:25: images\.web\.outputs\[0\]\.format must be one of gvmi, squashfs/,
    );
    const shard = await runCli(["build", join(dir, "gvmconv.yaml"), "--shard", "5/4"], { env: {} });
    assert.equal(shard.code, 2);
    assert.match(shard.stderr, /\[E_USAGE\]: --shard expects I\/N/);
    assert.deepEqual(await readdir(dir), ["gvmconv.yaml"], "nothing was written");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
