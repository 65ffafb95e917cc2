/**
 * What a gvmkit-build user's scripts read keeps working when they change the command name: the
 * standard output lines and the `--extra-json-info-path` document, compared with the format
 * strings of gvmkit-build-rs v0.3.19 (golemfactory/gvmkit-build-rs at 2198cad, quoted below with
 * file and line), for a build, `--push --nologin`, `--push-to`, and `-d FILE` with and without an
 * upload; and `.env` read as its `dotenv::dotenv()` reads it (the executable run as a child
 * process in a chosen working directory, uploading to local Golem registry stand-ins).
 *
 * Oracles: the upstream format strings; `sha3sum` for the image hash; the SHA-256 of the
 * `.descr.bin` file on disk for the descriptor hash; what the stand-in registry received.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { decodeDescriptor } from "../../src/upload/index.js";
import { hermeticEnv, tmp } from "../oci/helpers.js";
import { FakeGolemRegistry } from "../upload/fake-golem-registry.js";
import { cli, missingTools, repoRoot, sha256File, sha3sum, type CliRun } from "./support.js";

const skip = missingTools("sha3sum");
const SAMPLE = `oci:${join(repoRoot, "samples", "hello-oci")}:latest`;
const TOKEN = "tok-compat-31c9e7";
const MAIN = join(repoRoot, "build", "src", "cli", "main.js");

/**
 * gvmkit-build-rs's `println!` format strings, verbatim. `{}` is an argument; the rest, leading
 * spaces and dashes included, is what scrapers match.
 */
const UPSTREAM = {
  // src/main.rs:298 — a descriptor is written
  writingDescriptor: " * Writing file descriptor to {}",
  // src/main.rs:302
  descriptorCreated: " -- file descriptor created successfully",
  // src/main.rs:303-306 — `hex::encode(descr.sha3)`
  imageLink: " -- image link (for use in SDK): {}",
  // src/main.rs:268 — the descriptor beside the image is reused
  descriptorReused: " -- file descriptor already exists and is newer",
  // src/main.rs:269-272 — the reused variant, no leading " -- "
  imageLinkReused: "Image link (for use in SDK): {}",
  // src/upload.rs:275 (descriptor pushed) and src/upload.rs:175 (already on the registry)
  downloadLink: " -- download link: {}/download/{}",
} as const;

/**
 * src/main.rs:356-361:
 *   json!({ "repoInfo": &repo_info, "imagePath": path.display().to_string(),
 *           "imageDescrPath": descr_path.display().to_string(), "hash": &descr.get_descr_hash_str() })
 * serde_json 1.0.105 without `preserve_order` (Cargo.lock: no indexmap) keeps object keys in a
 * BTreeMap, so the file has them sorted; src/upload.rs:91-96 `AttachInfo { url, user, repo, tag }`
 * likewise. `hash` is `get_descr_hash_str()` (src/chunks.rs:32-34, the SHA-256 of the descriptor
 * bytes, src/chunks.rs:168-171), not the image's SHA3-224.
 */
const UPSTREAM_INFO_KEYS = ["hash", "imageDescrPath", "imagePath", "repoInfo"];
const UPSTREAM_REPO_INFO_KEYS = ["repo", "tag", "url", "user"];
/** gvmconv's own keys, after the incumbent's. */
const OWN_INFO_KEYS = [
  "imageHash",
  "imageId",
  "size",
  "downloadUrl",
  "addedMountPoints",
  "warnings",
  "compressor",
];

/** One upstream format string as an anchored pattern, `{}` capturing its argument. */
function line(format: string): RegExp {
  const parts = format.split("{}").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join("(.+?)")}$`);
}

/** `stdout`'s first lines must be these upstream formats in order; returns each line's arguments. */
function upstreamLines(stdout: string, formats: string[]): string[][] {
  const lines = stdout.split("\n");
  return formats.map((format, i) => {
    const m = line(format).exec(lines[i] ?? "");
    assert.ok(m, `stdout line ${i + 1} is not ${JSON.stringify(format)}:\n${stdout}`);
    return m.slice(1);
  });
}

let work: string;
let env: NodeJS.ProcessEnv;
let registry: FakeGolemRegistry;
let n = 0;

before(async () => {
  work = await tmp("gvmconv-compat-");
  env = hermeticEnv(work);
  registry = await new FakeGolemRegistry({ users: { alice: TOKEN } }).start();
});

after(async () => {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = join(work, `d-${n++}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function ok(r: CliRun): void {
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
}

async function info(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
}

/** The info document's keys: gvmkit-build's, in its order, then gvmconv's own. */
function assertInfoKeys(doc: Record<string, unknown>): void {
  assert.deepEqual(Object.keys(doc), [...UPSTREAM_INFO_KEYS, ...OWN_INFO_KEYS]);
}

test(
  "a build: the descriptor block as gvmkit-build prints it, the info file with its keys",
  { skip },
  async () => {
    const dir = await freshDir();
    const out = join(dir, "app.gvmi");
    const json = join(dir, "info.json");
    const r = await cli([SAMPLE, "-o", out, "--extra-json-info-path", json], env);
    ok(r);
    const descr = `${out}.descr.bin`;
    const args = upstreamLines(r.stdout, [
      UPSTREAM.writingDescriptor,
      UPSTREAM.descriptorCreated,
      UPSTREAM.imageLink,
    ]);
    assert.equal(args[0]?.[0], descr);
    assert.equal(args[2]?.[0], sha3sum(out));
    assert.doesNotMatch(r.stdout, /download link/, "nothing uploaded, no download link");
    assert.doesNotMatch(r.stdout, /YOUR-HOST/);
    assert.match(r.stdout, new RegExp(`^self-hosted: vm\\.repo\\(image_hash="${sha3sum(out)}"`, "m"));

    // The descriptor on disk is the incumbent's format, for this very file.
    const decoded = decodeDescriptor(await readFile(descr));
    assert.equal(decoded.sha3, sha3sum(out));
    assert.equal(decoded.size, (await stat(out)).size);

    const doc = await info(json);
    assertInfoKeys(doc);
    assert.equal(doc["hash"], sha256File(descr));
    assert.equal(doc["imagePath"], out);
    assert.equal(doc["imageDescrPath"], descr);
    assert.equal(doc["repoInfo"], null, "upstream: repo_info None without an upload");
    assert.equal(doc["imageHash"], sha3sum(out));
    assert.equal(doc["downloadUrl"], null);
    assert.equal(doc["size"], (await stat(out)).size);

    // Run again: the image is kept, the descriptor reused, and the link printed in its other form.
    const again = await cli([SAMPLE, "-o", out], env);
    ok(again);
    const reused = upstreamLines(again.stdout, [UPSTREAM.descriptorReused, UPSTREAM.imageLinkReused]);
    assert.equal(reused[1]?.[0], sha3sum(out));
  },
);

test(
  "--push --nologin: the download link names the registry of REGISTRY_URL and the descriptor",
  { skip },
  async () => {
    const dir = await freshDir();
    const out = join(dir, "anon.gvmi");
    const json = join(dir, "info.json");
    const r = await cli(
      [SAMPLE, "-o", out, "--push", "--nologin", "--json-file", json, "--env", "COMPAT=anon"],
      {
        ...env,
        REGISTRY_URL: `${registry.url}/`,
      },
    );
    ok(r);
    const descr = `${out}.descr.bin`;
    const args = upstreamLines(r.stdout, [
      UPSTREAM.writingDescriptor,
      UPSTREAM.descriptorCreated,
      UPSTREAM.imageLink,
      UPSTREAM.downloadLink,
    ]);
    assert.equal(args[2]?.[0], sha3sum(out));
    // upload.rs:31-34: the trailing slash of REGISTRY_URL is trimmed.
    assert.deepEqual(args[3], [registry.url, sha256File(descr)]);
    assert.ok(
      registry.assembled(sha256File(descr))?.equals(await readFile(out)),
      "the registry has the file",
    );
    const url = `${registry.url}/download/${sha256File(descr)}`;
    assert.match(
      r.stdout,
      new RegExp(`^vm\\.repo\\(image_hash="${sha3sum(out)}", image_url="${url}"\\)$`, "m"),
    );

    const doc = await info(json);
    assertInfoKeys(doc);
    assert.equal(doc["hash"], sha256File(descr));
    assert.equal(doc["repoInfo"], null, "upstream: no push_image_name with --nologin, so no repo info");
    assert.equal(doc["downloadUrl"], url);
  },
);

test("--push-to: repoInfo is upstream's AttachInfo (url, user, repo, tag)", { skip }, async () => {
  const dir = await freshDir();
  const out = join(dir, "tagged.gvmi");
  const json = join(dir, "info.json");
  const pushEnv = { ...env, REGISTRY_URL: registry.url, REGISTRY_USER: "alice", REGISTRY_TOKEN: TOKEN };
  const r = await cli(
    [SAMPLE, "-o", out, "--push-to", "alice/hello:compat", "--json-file", json, "--env", "COMPAT=tag"],
    pushEnv,
  );
  ok(r);
  const descr = `${out}.descr.bin`;
  const args = upstreamLines(r.stdout, [
    UPSTREAM.writingDescriptor,
    UPSTREAM.descriptorCreated,
    UPSTREAM.imageLink,
    UPSTREAM.downloadLink,
  ]);
  assert.deepEqual(args[3], [registry.url, sha256File(descr)]);
  assert.equal(registry.tags.get("alice/hello:compat"), sha256File(descr));
  assert.equal(r.stdout.includes(TOKEN) || r.stderr.includes(TOKEN), false, "token printed");

  const doc = await info(json);
  assertInfoKeys(doc);
  const repoInfo = doc["repoInfo"] as Record<string, unknown>;
  assert.deepEqual(Object.keys(repoInfo), UPSTREAM_REPO_INFO_KEYS);
  // upload.rs:157-162: url = REGISTRY_URL, repo/tag/user from the push target.
  assert.deepEqual(repoInfo, { repo: "hello", tag: "compat", url: registry.url, user: "alice" });
});

/** A built .gvmi copied into a fresh directory, without a descriptor beside it. */
async function builtImage(): Promise<string> {
  const dir = await freshDir();
  const built = join(dir, "built.gvmi");
  ok(await cli([SAMPLE, "-o", built, "-q"], env));
  const copy = join(await freshDir(), "given.gvmi");
  await copyFile(built, copy);
  return copy;
}

test("-d FILE without --push writes FILE.descr.bin and prints the image link", { skip }, async () => {
  const file = await builtImage();
  const json = join(work, `d-info-${n++}.json`);
  const r = await cli(["-d", file, "--json-file", json], env);
  ok(r);
  const args = upstreamLines(r.stdout, [
    UPSTREAM.writingDescriptor,
    UPSTREAM.descriptorCreated,
    UPSTREAM.imageLink,
  ]);
  assert.equal(args[0]?.[0], `${file}.descr.bin`);
  assert.equal(args[2]?.[0], sha3sum(file));
  assert.equal(decodeDescriptor(await readFile(`${file}.descr.bin`)).sha3, sha3sum(file));
  const doc = await info(json);
  assertInfoKeys(doc);
  assert.equal(doc["hash"], sha256File(`${file}.descr.bin`));
  assert.equal(doc["imagePath"], file, "upstream: the path as given");
  assert.equal(doc["imageId"], null, "no conversion");
  assert.equal(doc["repoInfo"], null);
});

test("-d FILE --push-to uploads the file: image link, then download link", { skip }, async () => {
  const file = await builtImage();
  const pushEnv = { ...env, REGISTRY_URL: registry.url, REGISTRY_USER: "alice", REGISTRY_TOKEN: TOKEN };
  const r = await cli(["-d", file, "--push-to", "alice/hello:direct"], pushEnv);
  ok(r);
  const sha = sha256File(`${file}.descr.bin`);
  const args = upstreamLines(r.stdout, [
    UPSTREAM.writingDescriptor,
    UPSTREAM.descriptorCreated,
    UPSTREAM.imageLink,
    UPSTREAM.downloadLink,
  ]);
  assert.equal(args[2]?.[0], sha3sum(file));
  assert.deepEqual(args[3], [registry.url, sha]);
  assert.equal(registry.tags.get("alice/hello:direct"), sha);
  assert.ok(registry.assembled(sha)?.equals(await readFile(file)));
});

test("-d FILE that does not exist: one coded error line, exit 1, nothing written", async () => {
  const dir = await freshDir();
  const r = await cli(["-d", join(dir, "missing.gvmi")], env);
  assert.equal(r.code, 1);
  assert.deepEqual(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
  assert.match(r.stderr, /^gvmconv: error \[E_INPUT_NOT_FOUND\]: .*missing\.gvmi: no such file/);
  assert.equal(r.stdout, "");
});

// -------------------------------------------------------------------------------------------------
// .env, as dotenv::dotenv() (src/main.rs:94): the executable, run where a user would run it.

const execFileAsync = promisify(execFile);

/** `gvmconv ARGS` as a child process in `cwd`, with exactly `childEnv`. */
async function gvmconvIn(cwd: string, args: string[], childEnv: NodeJS.ProcessEnv): Promise<CliRun> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [MAIN, ...args], {
      cwd,
      env: childEnv,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Two more stand-ins, so a test can tell which registry an upload went to. */
async function twoRegistries(): Promise<[FakeGolemRegistry, FakeGolemRegistry]> {
  return [await new FakeGolemRegistry().start(), await new FakeGolemRegistry().start()];
}

/** A project directory tree `top/sub/deeper` with a .gvmi in `deeper`. */
async function project(): Promise<{ top: string; sub: string; deeper: string; file: string }> {
  const top = await freshDir();
  const sub = join(top, "sub");
  const deeper = join(sub, "deeper");
  await mkdir(deeper, { recursive: true });
  const file = join(deeper, "app.gvmi");
  await copyFile(await builtImage(), file);
  return { top, sub, deeper, file };
}

test(
  ".env in a parent directory sets REGISTRY_URL: the upload goes to the registry it names",
  { skip },
  async () => {
    const [named, other] = await twoRegistries();
    try {
      const p = await project();
      await writeFile(join(p.top, ".env"), `# staging\nREGISTRY_URL=${named.url}\n`);
      // No REGISTRY_URL in the real environment: without .env this would go to the production registry.
      const r = await gvmconvIn(p.deeper, ["-d", "app.gvmi", "--push", "--nologin", "--hide-progress"], env);
      assert.equal(r.code, 0, r.stderr);
      const sha = sha256File(`${p.file}.descr.bin`);
      assert.ok(
        named.assembled(sha)?.equals(await readFile(p.file)),
        "the stand-in named in .env has the file",
      );
      assert.equal(other.requests.length, 0);
      assert.match(r.stdout, new RegExp(`^ -- download link: ${named.url}/download/${sha}$`, "m"));
    } finally {
      await named.stop();
      await other.stop();
    }
  },
);

test("the real environment wins over .env", { skip }, async () => {
  const [real, dotenv] = await twoRegistries();
  try {
    const p = await project();
    await writeFile(join(p.deeper, ".env"), `REGISTRY_URL=${dotenv.url}\n`);
    const r = await gvmconvIn(p.deeper, ["-d", "app.gvmi", "--push", "--nologin", "-q"], {
      ...env,
      REGISTRY_URL: real.url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(real.assembled(sha256File(`${p.file}.descr.bin`)), "uploaded to the environment's registry");
    assert.equal(dotenv.requests.length, 0, ".env's registry never contacted");
  } finally {
    await real.stop();
    await dotenv.stop();
  }
});

test(
  ".env in the working directory wins over one in a parent: the first found is the only one read",
  { skip },
  async () => {
    const [near, far] = await twoRegistries();
    try {
      const p = await project();
      await writeFile(join(p.top, ".env"), `REGISTRY_URL=${far.url}\n`);
      await writeFile(join(p.deeper, ".env"), `REGISTRY_URL=${near.url}\n`);
      const r = await gvmconvIn(p.deeper, ["-d", "app.gvmi", "--push", "--nologin", "-q"], env);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(near.assembled(sha256File(`${p.file}.descr.bin`)), "uploaded to the nearer .env's registry");
      assert.equal(far.requests.length, 0);
    } finally {
      await near.stop();
      await far.stop();
    }
  },
);
