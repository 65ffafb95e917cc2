/**
 * `gvmconv SOURCE --authfile FILE` and `--creds USER[:PASS]`, as skopeo and podman take them,
 * run in-process against a real docker-registry behind htpasswd Basic auth. A conversion is
 * proven by the real `unsquashfs` listing the image's file; a refusal by the error code, the exit
 * status, no output file, and the password absent from everything printed (also with --debug).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli, type CliRun } from "../support/cli-run.js";
import {
  buildImage,
  pushImage,
  startAuthRegistry,
  startRegistry,
  tmp,
  type RunningRegistry,
} from "../oci/helpers.js";
import { missingTools } from "./support.js";

const skip = missingTools("docker-registry", "skopeo", "htpasswd", "unsquashfs");
const noScript = missingTools("script");
const PASSWORD = "s3cret-Pa55";
const CLI = new URL("../../src/cli/main.js", import.meta.url).pathname;
let work: string;
let open: RunningRegistry;
let locked: RunningRegistry;
let source: string;
let n = 0;

/** An environment with no credentials of this machine in reach. */
function env(dir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: dir,
    XDG_RUNTIME_DIR: join(dir, "runtime"),
    XDG_CONFIG_HOME: join(dir, "config"),
    XDG_CACHE_HOME: join(dir, "cache"),
    DOCKER_CONFIG: join(dir, "docker"),
  };
}

/** `gvmconv SOURCE -o OUT ARGS` in a fresh directory; returns the run and the output path. */
async function convert(args: string[], stdin?: string): Promise<{ run: CliRun; out: string; dir: string }> {
  const dir = join(work, `run${n++}`);
  await mkdir(dir, { recursive: true });
  const out = join(dir, "out", "img.gvmi");
  await mkdir(join(dir, "out"));
  const run = await runCli([source, "-o", out, "--hide-progress", ...args], { env: env(dir), stdin });
  return { run, out, dir };
}

function assertConverted(r: { run: CliRun; out: string }): void {
  assert.equal(r.run.code, 0, r.run.stderr);
  const listing = execFileSync("unsquashfs", ["-l", "-d", "", r.out]).toString();
  assert.match(listing, /^\/hello$/m, listing);
}

async function assertRefused(r: { run: CliRun; out: string }, code: string, exit = 1): Promise<void> {
  assert.equal(r.run.code, exit, r.run.stderr);
  assert.match(r.run.stderr, new RegExp(`error \\[${code}\\]`));
  assert.equal(
    r.run.stderr
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("gvmconv: error")).length,
    1,
  );
  assert.deepEqual(await readdir(join(r.out, "..")), [], "nothing left behind");
  for (const text of [r.run.stderr, r.run.stdout]) {
    assert.ok(!text.includes(PASSWORD), "the password is never printed");
    assert.ok(!text.includes(Buffer.from(`alice:${PASSWORD}`).toString("base64")));
  }
}

before(async () => {
  if (skip) return;
  work = await tmp("gvmconv-creds-");
  const storage = join(work, "storage");
  open = await startRegistry(storage);
  locked = await startAuthRegistry(storage, "alice", PASSWORD);
  const image = await buildImage({ layers: [{ files: { hello: "world" }, compression: "gzip" }] });
  await pushImage(image, `${open.host}/creds/img:1`, work);
  // docker:// so no local engine is asked first.
  source = `docker://${locked.host}/creds/img:1`;
});

after(async () => {
  if (skip) return;
  await open.stop();
  await locked.stop();
  await rm(work, { recursive: true, force: true });
});

test("without credentials the htpasswd registry refuses", { skip }, async () => {
  await assertRefused(await convert([]), "E_OCI_AUTH_REQUIRED");
});

test("--authfile with the auth.json podman login writes converts", { skip }, async () => {
  const file = join(work, "podman-auth.json");
  // podman's own layout: tab-indented, `auths` keyed by host:port, base64 user:password.
  const auth = Buffer.from(`alice:${PASSWORD}`).toString("base64");
  await writeFile(file, JSON.stringify({ auths: { [locked.host]: { auth } } }, null, "\t") + "\n");
  assertConverted(await convert(["--authfile", file]));
});

test(
  "--authfile missing or malformed: E_OCI_AUTHFILE before any work, nothing printed of it",
  { skip },
  async () => {
    await assertRefused(await convert(["--authfile", join(work, "nope.json")]), "E_OCI_AUTHFILE");
    const broken = join(work, "broken.json");
    await writeFile(
      broken,
      `{"auths": {"x": {"auth": "${Buffer.from(`alice:${PASSWORD}`).toString("base64")}"`,
    );
    const r = await convert(["--authfile", broken, "--debug"]);
    await assertRefused(r, "E_OCI_AUTHFILE");
    assert.ok(!existsSync(join(r.dir, "cache", "gvmconv")), "no blob fetched");
  },
);

test("--creds user:pass converts", { skip }, async () => {
  assertConverted(await convert(["--creds", `alice:${PASSWORD}`]));
});

test("--creds user reads the password piped on stdin", { skip }, async () => {
  assertConverted(await convert(["--creds", "alice"], `${PASSWORD}\n`));
});

test(
  "wrong --creds: E_OCI_AUTH_FAILED, the password nowhere in the output (--debug too)",
  { skip },
  async () => {
    await assertRefused(await convert(["--creds", `alice:${PASSWORD}x`]), "E_OCI_AUTH_FAILED");
    const r = await convert(["--creds", "alice", "--debug"], `${PASSWORD}x\n`);
    await assertRefused(r, "E_OCI_AUTH_FAILED");
    assert.ok(!r.run.stderr.includes(`${PASSWORD}x`));
  },
);

test("--creds without a user or a password is a usage error (exit 2)", { skip }, async () => {
  await assertRefused(await convert(["--creds", `:${PASSWORD}`]), "E_USAGE", 2);
  await assertRefused(await convert(["--creds", "alice"], ""), "E_USAGE", 2);
});

/** `gvmconv ARGV` on a pseudo-terminal (util-linux `script`), typing `answer` once `prompt` shows. */
async function onTerminal(
  argv: string[],
  prompt: RegExp,
  answer: string,
  termEnv: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, CLI, ...argv].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { env: termEnv, stdio: "pipe" });
  let output = "";
  let typed = false;
  child.stdout.on("data", (b: Buffer) => {
    output += b.toString();
    if (!typed && prompt.test(output)) {
      typed = true;
      child.stdin.write(answer);
    }
  });
  child.stderr.on("data", (b: Buffer) => (output += b.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(timer);
  child.stdin.end();
  return { code, output };
}

test(
  "--creds user on a terminal asks for the password without echo",
  { skip: skip || noScript },
  async () => {
    const dir = join(work, `tty${n++}`);
    await mkdir(dir, { recursive: true });
    const out = join(dir, "img.gvmi");
    const termEnv = { ...env(dir), TERM: "dumb" };
    const r = await onTerminal(
      [source, "-o", out, "--creds", "alice"],
      /password for alice: /,
      `${PASSWORD}\r`,
      termEnv,
    );
    assert.equal(r.code, 0, r.output);
    assert.ok(!r.output.includes(PASSWORD), "the password is not echoed");
    assertConverted({ run: { code: 0, stdout: "", stderr: "" }, out });
  },
);

/** `skopeo login` (containers/image, what podman login runs) into the given environment. */
function skopeoLogin(loginEnv: Record<string, string>, extra: string[] = []): void {
  execFileSync(
    "skopeo",
    ["login", "--tls-verify=false", "-u", "alice", "--password-stdin", ...extra, locked.host],
    { env: loginEnv, input: PASSWORD, stdio: ["pipe", "ignore", "pipe"] },
  );
}

test("what skopeo login writes is read: --authfile, and its default file", { skip }, async () => {
  // --authfile: the file skopeo itself wrote, not one made by this test.
  const dir = join(work, `login${n++}`);
  await mkdir(dir, { recursive: true });
  const file = join(dir, "written-by-skopeo.json");
  skopeoLogin(env(dir), ["--authfile", file]);
  assertConverted(await convert(["--authfile", file]));
  // No flag: skopeo's default file in the same environment — $XDG_RUNTIME_DIR/containers/auth.json,
  // or, with DOCKER_CONFIG set, $DOCKER_CONFIG/config.json (containers/common's GetDefaultAuthFile).
  for (const [withDockerConfig, written] of [
    [false, join("runtime", "containers", "auth.json")],
    [true, join("docker", "config.json")],
  ] as const) {
    const r = join(work, `run${n++}`);
    await mkdir(join(r, "out"), { recursive: true });
    // containers/image wants XDG_RUNTIME_DIR to exist (it is the login session's directory).
    await mkdir(join(r, "runtime"));
    const { DOCKER_CONFIG: _unset, ...noDocker } = env(r);
    const e = withDockerConfig ? env(r) : noDocker;
    skopeoLogin(e);
    assert.ok(existsSync(join(r, written)), `skopeo wrote ${written}`);
    const out = join(r, "out", "img.gvmi");
    assertConverted({ run: await runCli([source, "-o", out, "--hide-progress"], { env: e }), out });
  }
});
