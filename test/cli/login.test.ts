/**
 * `gvmconv login [--check]`, `gvmconv logout` and the incumbent's --login-check, in-process against
 * the local Golem registry (test/upload/fake-golem-registry.ts): the token is read from standard
 * input (not a terminal here), stored in a file only the user can read, and never printed.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { runCli, type CliRun } from "../support/cli-run.js";
import { FakeGolemRegistry } from "../upload/fake-golem-registry.js";
import { buildImage, writeLayout } from "../oci/helpers.js";

const TOKEN = "pat-0123456789-secret";
let registry: FakeGolemRegistry;
let config: string;
let env: Record<string, string>;

before(async () => {
  registry = await new FakeGolemRegistry({ users: { alice: TOKEN } }).start();
  config = await mkdtemp(join(tmpdir(), "gvmconv-login-"));
  env = { REGISTRY_URL: registry.url, XDG_CONFIG_HOME: config, PATH: process.env["PATH"] ?? "" };
});

after(async () => {
  await registry.stop();
  await rm(config, { recursive: true, force: true });
});

async function run(argv: string[], input = ""): Promise<CliRun> {
  return await runCli(argv, { env, stdin: input });
}

const credentialsFile = () => join(config, "gvmconv", "credentials.json");

test("a rejected token is one error line, stores nothing and is never printed", async () => {
  const r = await run(["login", "--user", "alice"], "wrong-token-xyz\n");
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^gvmconv: error \[E_GOLEM_AUTH\]: [^\n]*\n$/);
  assert.ok(!`${r.stdout}${r.stderr}`.includes("wrong-token-xyz"));
  await assert.rejects(stat(credentialsFile()), { code: "ENOENT" });
});

test("login reads the token from stdin, checks it and stores it readable by the user only", async () => {
  const r = await run(["login", "--user", "alice"], `${TOKEN}\n`);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!`${r.stdout}${r.stderr}`.includes(TOKEN), "the token is never printed");
  const st = await stat(credentialsFile());
  assert.equal(st.mode & 0o777, 0o600);
  assert.ok(
    registry.requests.some((q) => q.path === "/auth/pat/login"),
    "the registry was asked",
  );
});

test("login --check and the incumbent's --login-check accept the stored login", async () => {
  for (const argv of [["login", "--check"], ["--login-check"]]) {
    const r = await run(argv);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^valid: alice at http:\/\/127\.0\.0\.1:\d+ \(from stored\)\n$/);
  }
});

test("logout forgets the login; a check then says so and fails", async () => {
  assert.equal((await run(["logout"])).code, 0);
  await assert.rejects(stat(credentialsFile()), { code: "ENOENT" });
  const r = await run(["login", "--check"]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^not logged in to /);
});

test("piped user and token lines are both read (one chunk), and the login is stored 0600", async () => {
  await rm(credentialsFile(), { force: true });
  const r = await run(["login"], `alice\n${TOKEN}\n`);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!`${r.stdout}${r.stderr}`.includes(TOKEN), "the token is never printed");
  assert.equal((await stat(credentialsFile())).mode & 0o777, 0o600);
  const stored = JSON.parse(await readFile(credentialsFile(), "utf8")) as { user: string; token: string };
  assert.deepEqual(stored, { user: "alice", token: TOKEN });
  // CRLF lines, and the lines in separate chunks, read the same.
  await rm(credentialsFile());
  const split = await runCli(["login"], { env, stdin: Readable.from(["ali", "ce\r\n", `${TOKEN}\r\n`]) });
  assert.equal(split.code, 0, split.stderr);
  assert.equal((JSON.parse(await readFile(credentialsFile(), "utf8")) as { user: string }).user, "alice");
});

test("login --password-stdin takes all of stdin as the token and the user from -u", async () => {
  await rm(credentialsFile(), { force: true });
  const r = await run(["login", "-u", "alice", "--password-stdin"], TOKEN);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!`${r.stdout}${r.stderr}`.includes(TOKEN));
  assert.equal((await stat(credentialsFile())).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(await readFile(credentialsFile(), "utf8")), { user: "alice", token: TOKEN });
  // A trailing newline (echo "$TOKEN" | …) is not part of the token.
  await rm(credentialsFile());
  assert.equal((await run(["login", "--username", "alice", "--password-stdin"], `${TOKEN}\n`)).code, 0);
  assert.deepEqual(JSON.parse(await readFile(credentialsFile(), "utf8")), { user: "alice", token: TOKEN });
});

test("login --password-stdin without a user, or with nothing piped, is a usage error (exit 2)", async () => {
  await rm(credentialsFile(), { force: true });
  const noUser = await run(["login", "--password-stdin"], TOKEN);
  assert.equal(noUser.code, 2);
  assert.match(
    noUser.stderr,
    /^gvmconv: error \[E_USAGE\]: --password-stdin needs --user — [^\n]*--password-stdin\n$/,
  );
  const empty = await run(["login", "-u", "alice", "--password-stdin"], "");
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /no token given/);
  await assert.rejects(stat(credentialsFile()), { code: "ENOENT" });
});

// --- On a terminal: the login is asked for before the build (gvmkit-build's order) ------------

const hasScript = (() => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const CLI = new URL("../../src/cli/main.js", import.meta.url).pathname;

/**
 * Runs `argv` on a pseudo-terminal (util-linux `script`), answering each prompt as it appears:
 * for every [pattern, answer] the output so far must match `pattern` before `answer` is typed.
 */
async function onTerminal(
  argv: string[],
  dialogue: [RegExp, string][],
  termEnv: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, CLI, ...argv].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { env: termEnv, stdio: "pipe" });
  let output = "";
  let step = 0;
  const answer = (): void => {
    while (step < dialogue.length && dialogue[step]![0].test(output)) {
      child.stdin.write(dialogue[step]![1]);
      step++;
    }
  };
  child.stdout.on("data", (b: Buffer) => {
    output += b.toString();
    answer();
  });
  child.stderr.on("data", (b: Buffer) => (output += b.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(timer);
  child.stdin.end();
  return { code, output };
}

test("on a terminal, --push-to asks for the missing login before any layer is read", async (t) => {
  if (!hasScript) return t.skip("script (util-linux) not installed");
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-login-tty-"));
  try {
    const image = await buildImage({
      layers: [{ files: { "app/run.sh": "echo hi\n" }, compression: "gzip" }],
    });
    await writeLayout(join(dir, "layout"), [{ kind: "image", ref: "latest", image }]);
    const source = `oci:${join(dir, "layout")}:latest`;
    const termEnv = {
      PATH: process.env["PATH"] ?? "",
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, "config"),
      REGISTRY_URL: registry.url,
      TERM: "dumb",
    };
    const wrongOut = join(dir, "wrong.gvmi");
    const wrong = await onTerminal(
      [source, "-o", wrongOut, "--push-to", "alice/x:1"],
      [
        [/registry user \[alice\]: /, "\r"],
        [/personal access token for alice: /, "not-the-token\r"],
      ],
      termEnv,
    );
    assert.equal(wrong.code, 1, wrong.output);
    assert.match(wrong.output, /error \[E_GOLEM_AUTH\]/);
    assert.doesNotMatch(wrong.output, /writing|added mount points|wrote:/);
    assert.ok(!wrong.output.includes("not-the-token"), "the token is not echoed");
    await assert.rejects(stat(wrongOut), { code: "ENOENT" });
    await assert.rejects(stat(join(dir, "config", "gvmconv", "credentials.json")), { code: "ENOENT" });

    const out = join(dir, "x.gvmi");
    const ok = await onTerminal(
      [source, "-o", out, "--push-to", "alice/x:1"],
      [
        [/registry user \[alice\]: /, "\r"],
        [/personal access token for alice: /, `${TOKEN}\r`],
      ],
      termEnv,
    );
    assert.equal(ok.code, 0, ok.output);
    assert.ok(!ok.output.includes(TOKEN), "the token is not echoed");
    const asked = ok.output.indexOf("personal access token for alice: ");
    for (const later of ["writing", "added mount points", "wrote:", " -- download link:"]) {
      const at = ok.output.indexOf(later);
      assert.ok(at > asked, `${later} (at ${at}) comes after the prompt (at ${asked}):\n${ok.output}`);
    }
    assert.equal((await stat(join(dir, "config", "gvmconv", "credentials.json"))).mode & 0o777, 0o600);
    assert.equal(registry.tags.has("alice/x:1"), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("REGISTRY_TOKEN is checked before building: rejected, nothing is written, one error line", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-login-env-"));
  try {
    const image = await buildImage({
      layers: [{ files: { "app/run.sh": "echo hi\n" }, compression: "gzip" }],
    });
    await writeLayout(join(dir, "layout"), [{ kind: "image", ref: "latest", image }]);
    const out = join(dir, "x.gvmi");
    const before = registry.requests.length;
    const r = await runCli([`oci:${join(dir, "layout")}:latest`, "-o", out, "--push-to", "alice/x:2"], {
      env: { ...env, XDG_CONFIG_HOME: dir, REGISTRY_USER: "alice", REGISTRY_TOKEN: "expired-token" },
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^gvmconv: error \[E_GOLEM_AUTH\]: the registry at \S+ rejected the login of alice \(from REGISTRY_USER\/REGISTRY_TOKEN in the environment\)[^\n]*\n$/,
    );
    assert.ok(!r.stderr.includes("expired-token"));
    await assert.rejects(stat(out), { code: "ENOENT" });
    assert.deepEqual(
      registry.requests.slice(before).map((q) => q.path),
      ["/auth/pat/login"],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
