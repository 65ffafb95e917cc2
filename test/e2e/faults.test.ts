/**
 * Faults at the pipeline level, through the CLI in-process: what the user sees (exit code, ONE
 * line on stderr with a stable code) and what is left behind (no output, no temporary file, no
 * unverified blob in the cache) when a blob is corrupted in transit, the registry wants a login,
 * the image does not exist, the options are wrong, or the output directory cannot be written.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  buildImage,
  hermeticEnv,
  pushImage,
  startAuthRegistry,
  startRegistry,
  tmp,
  type BuiltImage,
  type RunningRegistry,
} from "../oci/helpers.js";
import {
  cli,
  isRoot,
  missingTools,
  noise,
  repoRoot,
  startProxy,
  type CliRun,
  type Proxy,
} from "./support.js";

const skip = missingTools("docker-registry", "skopeo", "htpasswd");
// Each case takes a second or two; one that hangs (a CLI run that never settles) fails by name
// here rather than as the whole file cancelled at the runner's 10-minute limit.
const opts = { skip, timeout: 60_000 };

let work: string;
let open: RunningRegistry;
let locked: RunningRegistry;
let proxy: Proxy;
let image: BuiltImage;
let env: Record<string, string | undefined>;

before(
  async () => {
    if (skip) return;
    work = await tmp("gvmconv-e2e-faults-");
    const storage = join(work, "storage");
    open = await startRegistry(storage);
    // Same storage behind Basic auth: the image pushed to `open` is there too.
    locked = await startAuthRegistry(storage, "alice", "s3cret");
    image = await buildImage({
      layers: [
        { files: { "etc/hostname": "golem\n" }, compression: "gzip" },
        { files: { "data.bin": noise(200_000, "faults").toString("base64") }, compression: "gzip" },
      ],
    });
    await pushImage(image, `${open.host}/faults/img:1`, work);
    proxy = await startProxy(open.port);
    env = hermeticEnv(work);
  },
  { timeout: 120_000 },
);

after(
  async () => {
    if (skip) return;
    await proxy.close();
    await open.stop();
    await locked.stop();
    await rm(work, { recursive: true, force: true });
  },
  { timeout: 60_000 },
);

let n = 0;
/** A fresh, empty output directory. */
async function outDir(): Promise<string> {
  const dir = join(work, `out-${n++}`);
  await mkdir(dir);
  return dir;
}

/**
 * With -q: exactly one stderr line, `gvmconv: error [CODE]: …`, after the image's warnings (which
 * -q keeps, and which come before any layer is fetched). Without: progress lines (one per task on
 * a non-terminal) may come first, but one error line, last. Returns it.
 */
function oneErrorLine(r: CliRun, code: RegExp, quiet = true): string {
  assert.notEqual(r.code, 0, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  const warning = /^gvmconv: warning \[W_GVMI_[A-Z0-9_]+\]: /;
  if (quiet)
    assert.equal(lines.filter((l) => !warning.test(l)).length, 1, `one stderr line, got:\n${r.stderr}`);
  assert.equal(lines.filter((l) => /error/i.test(l)).length, 1, `one error line, got:\n${r.stderr}`);
  const line = lines.at(-1) ?? "";
  assert.match(line, /^gvmconv: error \[E_[A-Z0-9_]+\]: /);
  assert.match(line, code);
  return line;
}

test("a blob with a wrong digest: one line, no output, no temp file, nothing cached", opts, async () => {
  // The top layer (merged first), and the base (still downloading while the top is merged).
  for (const [which, bad] of [
    ["top", image.layerDigests[1] ?? ""],
    ["base", image.layerDigests[0] ?? ""],
  ] as const) {
    await corruptedBlobRun(which, bad);
  }
});

async function corruptedBlobRun(which: string, bad: string): Promise<void> {
  proxy.corrupt.add(bad);
  try {
    const dir = await outDir();
    const cache = join(work, `cache-corrupt-${which}`);
    for (const quiet of [true, false]) {
      const argv = [`${proxy.host}/faults/img:1`, "-o", join(dir, "img.gvmi"), "--cache-dir", cache];
      const r = await cli(quiet ? [...argv, "-q"] : argv, env);
      const line = oneErrorLine(r, /\[E_OCI_DIGEST_MISMATCH\]/, quiet);
      assert.ok(line.includes(bad), line);
      assert.equal(r.stdout, "");
      assert.deepEqual(await readdir(dir), [], "no output and no temporary file");
      const cached = await readdir(join(cache, "blobs", "sha256")).catch((): string[] => []);
      assert.equal(cached.includes(bad.slice(7)), false, "the corrupted blob is not in the cache");
      assert.deepEqual(
        await readdir(join(cache, "tmp")).catch((): string[] => []),
        [],
        "no partial download left",
      );
    }
  } finally {
    proxy.corrupt.delete(bad);
  }
}

test("a registry asking for a login: one line saying how to log in", opts, async () => {
  const dir = await outDir();
  const r = await cli(
    [
      `${locked.host}/faults/img:1`,
      "-o",
      join(dir, "img.gvmi"),
      "--cache-dir",
      join(work, "cache-401"),
      "-q",
    ],
    env,
  );
  const line = oneErrorLine(r, /\[E_OCI_AUTH_REQUIRED\]/);
  assert.ok(line.includes(`docker login ${locked.host}`), line);
  assert.deepEqual(await readdir(dir), []);
});

test("registry credentials come from the environment the CLI is given", opts, async () => {
  const dir = await outDir();
  const withLogin = { ...env, GVMCONV_REGISTRY_USER: "alice", GVMCONV_REGISTRY_PASSWORD: "s3cret" };
  const r = await cli(
    [
      `${locked.host}/faults/img:1`,
      "-o",
      join(dir, "img.gvmi"),
      "--cache-dir",
      join(work, "cache-login"),
      "-q",
    ],
    withLogin,
  );
  assert.equal(r.code, 0, r.stderr);
  // The image, and its chunk descriptor: written on every run, as gvmkit-build.
  assert.deepEqual((await readdir(dir)).sort(), ["img.gvmi", "img.gvmi.descr.bin"]);
});

test("a missing image: E_OCI_NOT_FOUND, one line", opts, async () => {
  const dir = await outDir();
  const r = await cli(
    [`${open.host}/faults/nope:1`, "-o", join(dir, "img.gvmi"), "--cache-dir", join(work, "cache-404"), "-q"],
    env,
  );
  oneErrorLine(r, /\[E_OCI_NOT_FOUND\]/);
  assert.deepEqual(await readdir(dir), []);
});

test("--format squashfs without -o is a usage error (exit 2)", opts, async () => {
  const r = await cli(
    [`oci:${join(repoRoot, "samples", "hello-oci")}:latest`, "--format", "squashfs", "-q"],
    env,
  );
  oneErrorLine(r, /\[E_USAGE\]: .*-o/);
  assert.equal(r.code, 2);
});

test("an unwritable output directory: one line, no partial file", opts, async () => {
  const dir = await outDir();
  await chmod(dir, 0o555);
  // Root ignores directory permissions: drop the effective uid to nobody for the run. The work
  // directory must be traversable and the sample readable by nobody.
  await chmod(work, 0o755);
  const argv = [
    `oci:${join(repoRoot, "samples", "hello-oci")}:latest`,
    "-o",
    join(dir, "hello.gvmi"),
    "--cache-dir",
    join(work, "cache-ro"),
    "-q",
  ];
  let r: CliRun;
  if (isRoot) {
    process.seteuid?.(65534);
    try {
      r = await cli(argv, env);
    } finally {
      process.seteuid?.(0);
    }
  } else {
    r = await cli(argv, env);
  }
  const line = oneErrorLine(r, /\[E_OUTPUT_WRITE\]/);
  assert.ok(line.includes(dir), line);
  assert.deepEqual(await readdir(dir), []);
});
