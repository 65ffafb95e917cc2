/**
 * `gvmconv login [--check]`, `gvmconv logout` and the incumbent's --login-check, in-process against
 * the local Golem registry (test/upload/fake-golem-registry.ts): the token is read from standard
 * input (not a terminal here), stored in a file only the user can read, and never printed.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { runCli, type CliRun } from "../support/cli-run.js";
import { FakeGolemRegistry } from "../upload/fake-golem-registry.js";

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
