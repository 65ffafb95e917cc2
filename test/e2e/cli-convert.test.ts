/**
 * `gvmconv SOURCE` in-process on the repository's sample (`samples/hello-oci`, no network): what
 * it prints, what it writes (checked with sha3sum, unsquashfs and an independent trailer
 * decoder), the gvmkit-build flags reflected in the trailer, the info file, the compression
 * choices, and the upload to a faithful local Golem registry — the whole file received, the tag
 * attached, a wrong token refused without ever being printed. Then `verify` and `inspect`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { convert } from "../../src/index.js";
import { hermeticEnv, tmp } from "../oci/helpers.js";
import { FakeGolemRegistry } from "../upload/fake-golem-registry.js";
import { cli, decodeGvmi, missingTools, repoRoot, run, sha256File, sha3sum, type CliRun } from "./support.js";

const skip = missingTools("unsquashfs", "sha3sum");
const CLI = new URL("../../src/cli/main.js", import.meta.url).pathname;
const SAMPLE = `oci:${join(repoRoot, "samples", "hello-oci")}:latest`;
/** The sample's image id (its config blob), see samples/hello-oci/index.json. */
const SAMPLE_ID = "sha256:d0b511411c277144c6099bc1ac78208de71a6013c0849aa6482538924bf958f9";
const TOKEN = "tok-7f3a9c1e5b";

let work: string;
let env: Record<string, string | undefined>;
let registry: FakeGolemRegistry;
let n = 0;

before(async () => {
  work = await tmp("gvmconv-e2e-cli-");
  env = hermeticEnv(work);
  registry = await new FakeGolemRegistry({ users: { alice: TOKEN } }).start();
});

after(async () => {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

/** A fresh output path in its own directory. */
async function outPath(name = "hello.gvmi"): Promise<string> {
  const dir = join(work, `out-${n++}`);
  await mkdir(dir);
  return join(dir, name);
}

function ok(r: CliRun): void {
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
}

test(
  "converts the sample: stdout has the path and the image link, the sha3-224 that sha3sum computes",
  { skip },
  async () => {
    const out = await outPath();
    const r = await cli([SAMPLE, "-o", out, "--cache-dir", join(work, "cache")], env);
    ok(r);
    const hash = /^ -- image link \(for use in SDK\): ([0-9a-f]{56})$/m.exec(r.stdout)?.[1];
    assert.equal(hash, sha3sum(out));
    assert.match(r.stdout, new RegExp(`^wrote: ${out.replace(/[.]/g, "\\.")} \\(`, "m"));
    const trailer = decodeGvmi(await readFile(out));
    assert.equal(trailer.config["Image"], SAMPLE_ID);
    assert.deepEqual(trailer.config["Volumes"], { "/golem/work": {} });
    assert.equal(trailer.config["User"], undefined, "USER dropped without --keep-user");
    run("unsquashfs", ["-no-progress", "-d", join(work, "sample-x"), out]);
    assert.match(await readFile(join(work, "sample-x", "app", "hello.sh"), "utf8"), /./);
  },
);

test("the default output name is <repo>-<tag>-<10 hex of the image id>.gvmi", { skip }, async () => {
  const dir = join(work, "default-name");
  await mkdir(dir);
  const result = await convert(SAMPLE, { outputDir: dir, image: { cacheDir: join(work, "cache") }, env });
  assert.equal(basename(result.outputPath), `hello-oci-latest-${SAMPLE_ID.slice(7, 17)}.gvmi`);
  assert.deepEqual(await readdir(dir), [basename(result.outputPath)]);
});

test("--env --vol --entrypoint --keep-user are reflected in the trailer", { skip }, async () => {
  const out = await outPath();
  const r = await cli(
    [
      SAMPLE,
      "-o",
      out,
      "--env",
      "A=B",
      "--env",
      "GREETING=bye",
      "--vol",
      "/data",
      "--entrypoint",
      "/bin/true",
      "--keep-user",
    ],
    env,
  );
  ok(r);
  const c = decodeGvmi(await readFile(out)).config;
  assert.deepEqual(c["Env"], [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "GREETING=bye",
    "A=B",
  ]);
  assert.deepEqual(c["Volumes"], { "/golem/work": {}, "/data": {} });
  assert.deepEqual(c["Entrypoint"], ["/bin/true"]);
  assert.equal(c["Cmd"], undefined, "a new entrypoint drops the image's CMD, as docker run --entrypoint");
  assert.equal(
    c["User"],
    "1000:1000",
    "the sample's USER app, resolved through its /etc/passwd and /etc/group",
  );
  assert.equal(c["WorkingDir"], "/app");
});

test(
  "--json-file writes the info file; --json FILE, once the same, is refused naming --json-file",
  { skip },
  async () => {
    const out = await outPath();
    const info = join(work, "info.json");
    for (const argv of [["--json", info], [`--json=${info}`]]) {
      const r = await cli([SAMPLE, "-o", out, ...argv], env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^gvmconv: error \[E_USAGE\]: option --json takes no file .* --json-file /);
    }
    ok(await cli([SAMPLE, "-o", out, "--json-file", info], env));
    const json = JSON.parse(await readFile(info, "utf8")) as Record<string, unknown>;
    assert.equal(json["imagePath"], out);
    assert.equal(
      json["hash"],
      sha256File(`${out}.descr.bin`),
      "gvmkit-build's hash: the descriptor's SHA-256",
    );
    assert.equal(json["imageHash"], sha3sum(out));
    assert.equal(json["imageId"], SAMPLE_ID);
  },
);

test("--compression-method zstd is refused: Golem VMs cannot read it", { skip }, async () => {
  const out = await outPath();
  const r = await cli([SAMPLE, "-o", out, "--compression-method", "zstd"], env);
  assert.equal(r.code, 2);
  const lines = r.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? "", /^gvmconv: error \[E_USAGE\]: .*Golem VMs cannot read zstd/);
  assert.deepEqual(await readdir(join(out, "..")), []);
});

test("--compression-method xz writes an xz SquashFS", { skip }, async () => {
  const out = await outPath();
  ok(await cli([SAMPLE, "-o", out, "--compression-method", "xz"], env));
  assert.match(run("unsquashfs", ["-s", out]), /^Compression xz$/m);
  run("unsquashfs", ["-no-progress", "-d", join(work, "xz-x"), out]);
});

test("--push --nologin uploads the whole file anonymously", { skip }, async () => {
  const out = await outPath();
  const r = await cli([SAMPLE, "-o", out, "--push", "--nologin"], { ...env, REGISTRY_URL: registry.url });
  ok(r);
  const file = await readFile(out);
  assert.equal(registry.uploads.size, 1);
  const sha = [...registry.uploads.keys()][0] ?? "";
  assert.match(r.stdout, new RegExp(`^ -- download link: ${registry.url}/download/${sha}$`, "m"));
  assert.ok(registry.assembled(sha)?.equals(file), "the registry assembled exactly the .gvmi");
  assert.equal(registry.sent("/v1/image/descr/attach").length, 0, "anonymous: nothing attached");
});

test("--push-to user/repo:tag uploads and attaches the tag", { skip }, async () => {
  const out = await outPath();
  const pushEnv = { ...env, REGISTRY_URL: registry.url, REGISTRY_USER: "alice", REGISTRY_TOKEN: TOKEN };
  const chunksBefore = registry.sent("/v1/image/push/chunk").length;
  // A different build from the anonymous upload's, so this file is new to the registry.
  const r = await cli([SAMPLE, "-o", out, "--push-to", "alice/hello:v1", "--env", "PUSHED=1"], pushEnv);
  ok(r);
  assert.ok(registry.sent("/v1/image/push/chunk").length > chunksBefore, "chunks uploaded");
  assert.match(r.stdout, /^tag: alice\/hello:v1$/m);
  const sha = registry.tags.get("alice/hello:v1");
  assert.ok(sha, "tag attached");
  assert.ok(registry.assembled(sha)?.equals(await readFile(out)), "the whole file received");
  assert.equal(r.stdout.includes(TOKEN) || r.stderr.includes(TOKEN), false);
});

test("a wrong token: one line, exit non-zero, the token never printed", { skip }, async () => {
  const out = await outPath();
  const wrong = "wrong-token-5d1c8e";
  const pushEnv = { ...env, REGISTRY_URL: registry.url, REGISTRY_USER: "alice", REGISTRY_TOKEN: wrong };
  const r = await cli([SAMPLE, "-o", out, "--push-to", "alice/hello:v2", "-q", "--keep-user"], pushEnv);
  assert.notEqual(r.code, 0);
  const lines = r.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? "", /^gvmconv: error \[E_[A-Z0-9_]+\]: /);
  for (const secret of [wrong, TOKEN]) {
    assert.equal(r.stdout.includes(secret) || r.stderr.includes(secret), false, "token printed");
  }
  assert.equal(registry.tags.has("alice/hello:v2"), false);
});

test("SOURCE_DATE_EPOCH in the CLI's environment sets the filesystem time", { skip }, async () => {
  const out = await outPath();
  ok(await cli([SAMPLE, "-o", out], { ...env, SOURCE_DATE_EPOCH: "1234567890" }));
  // Superblock mkfs_time: u32 LE at offset 8.
  assert.equal((await readFile(out)).readUInt32LE(8), 1234567890);
  const pinned = await outPath();
  ok(await cli([SAMPLE, "-o", pinned, "--mkfs-time", "1234567890"], env));
  assert.ok((await readFile(out)).equals(await readFile(pinned)), "same as --mkfs-time");
});

test("verify and inspect accept the produced file", { skip }, async () => {
  const out = await outPath();
  ok(await cli([SAMPLE, "-o", out], env));
  const verify = await cli(["verify", out, "--hash", sha3sum(out)], env);
  ok(verify);
  const inspect = await cli(["inspect", out], env);
  ok(inspect);
  assert.ok(inspect.stdout.includes(SAMPLE_ID), inspect.stdout);
});

test("-o - is a usage error, not a file named '-', for convert and squashfs alike", { skip }, async () => {
  // A process of its own: the file a wrong reading would write lands in its working directory.
  const cwd = await mkdtemp(join(work, "dash-"));
  const tree = join(cwd, "tree");
  await mkdir(tree);
  await writeFile(join(tree, "a"), "a\n");
  for (const argv of [
    [SAMPLE, "-o", "-"],
    [SAMPLE, "--format", "squashfs", "-o", "-"],
    ["squashfs", tree, "-o", "-"],
  ]) {
    const r = spawnSync(process.execPath, [CLI, ...argv], { cwd, env: { ...env }, encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.split("\n").filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0] ?? "",
      /^gvmconv: error \[E_USAGE\]: -o - is not supported: .* — give a file path$/,
    );
    assert.equal(r.stdout, "");
    assert.deepEqual(await readdir(cwd), ["tree"], `${argv.join(" ")} left nothing behind`);
  }
});
