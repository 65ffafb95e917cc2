import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { inspect } from "node:util";
import { GolemRegistryClient } from "../../src/upload/client.js";
import {
  checkLogin,
  credentialsPath,
  login,
  logout,
  parseDotenv,
  readStoredCredentials,
  RegistryCredentials,
  resolveCredentials,
  saveCredentials,
} from "../../src/upload/credentials.js";
import { CredentialsError, RegistryAuthError } from "../../src/upload/errors.js";
import { CollectingReporter } from "../../src/reporter.js";
import { createContext } from "../../src/context.js";
import { FakeGolemRegistry } from "./fake-golem-registry.js";

const TOKEN = "pat-very-secret-0042";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-creds-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("credentials path follows XDG_CONFIG_HOME, else ~/.config", () => {
  assert.equal(credentialsPath({ XDG_CONFIG_HOME: "/x/cfg" }), "/x/cfg/gvmconv/credentials.json");
  assert.match(credentialsPath({}), /\/\.config\/gvmconv\/credentials\.json$/);
});

test("dotenv parsing: export, quotes, comments", () => {
  const m = parseDotenv(
    "# c\nexport REGISTRY_USER=alice\nREGISTRY_TOKEN=\"a b#c\"\nX=1 # note\nY='q'\nbad line\n",
  );
  assert.deepEqual(Object.fromEntries(m), {
    REGISTRY_USER: "alice",
    REGISTRY_TOKEN: "a b#c",
    X: "1",
    Y: "q",
  });
});

test("environment beats .env, which beats the stored login", async () => {
  await withTempDir(async (dir) => {
    const env = { XDG_CONFIG_HOME: join(dir, "cfg") };
    // The run context reads .env (src/dotenv.ts); the lookup sees its environment.
    const lookup = (given: Record<string, string>) => {
      const context = createContext({ env: given, cwd: dir });
      return { env: context.env, dotenvKeys: context.dotenv?.keys };
    };
    assert.equal(await resolveCredentials(lookup(env)), undefined);
    await saveCredentials({ user: "stored", token: "t0" }, { env });
    assert.equal((await resolveCredentials(lookup(env)))?.source, "stored");
    await writeFile(join(dir, ".env"), "REGISTRY_USER=dot\nREGISTRY_TOKEN=t1\n");
    const fromDot = await resolveCredentials(lookup(env));
    assert.deepEqual([fromDot?.user, fromDot?.token, fromDot?.source], ["dot", "t1", "dotenv"]);
    const fromEnv = await resolveCredentials(lookup({ ...env, REGISTRY_USER: "e", REGISTRY_TOKEN: "t2" }));
    assert.deepEqual([fromEnv?.user, fromEnv?.token, fromEnv?.source], ["e", "t2", "env"]);
  });
});

test("stored login is 0600 in a 0700 directory; logout removes it", async () => {
  await withTempDir(async (dir) => {
    const env = { XDG_CONFIG_HOME: join(dir, "cfg") };
    const path = await saveCredentials({ user: "alice", token: TOKEN }, { env });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(dirname(path))).mode & 0o777, 0o700);
    const creds = await readStoredCredentials({ env });
    assert.equal(creds?.token, TOKEN);
    assert.equal(await logout({ env }), true);
    assert.equal(await logout({ env }), false);
    assert.equal(await readStoredCredentials({ env }), undefined);
  });
});

test("a group-readable credentials file warns; a corrupt one errors without quoting it", async () => {
  await withTempDir(async (dir) => {
    const env = { XDG_CONFIG_HOME: join(dir, "cfg") };
    const path = await saveCredentials({ user: "alice", token: TOKEN }, { env });
    await chmod(path, 0o644);
    const reporter = new CollectingReporter();
    await readStoredCredentials({ env, reporter });
    assert.deepEqual(
      reporter.warnings.map((w) => w.code),
      ["W_GOLEM_CREDENTIALS_PERMISSIONS"],
    );
    await writeFile(path, `{"user":"alice","token":"${TOKEN}"`);
    const err = await readStoredCredentials({ env }).catch((e: unknown) => e);
    assert.ok(err instanceof CredentialsError);
    assert.ok(!inspect(err, { depth: 5 }).includes(TOKEN));
  });
});

test("the token never shows when credentials are logged or serialized", () => {
  const c = new RegistryCredentials("alice", TOKEN, "env");
  for (const shown of [
    JSON.stringify(c),
    inspect(c),
    String(c),
    `${c}`,
    inspect({ nested: c }, { depth: 5 }),
  ]) {
    assert.ok(!shown.includes(TOKEN), shown);
  }
  assert.equal(c.token, TOKEN);
});

test("login stores only accepted credentials; login check reports validity", async () => {
  await withTempDir(async (dir) => {
    const env = { XDG_CONFIG_HOME: join(dir, "cfg") };
    const server = await new FakeGolemRegistry({ users: { alice: TOKEN } }).start();
    const client = new GolemRegistryClient({ url: server.url });
    try {
      const bad = await login(client, { user: "alice", token: "wrong-0099" }, { env }).catch(
        (e: unknown) => e,
      );
      assert.ok(bad instanceof RegistryAuthError);
      assert.ok(!inspect(bad).includes("wrong-0099"));
      assert.equal(await readStoredCredentials({ env }), undefined);
      assert.deepEqual(await checkLogin(client, { env }), { found: false });

      const { path } = await login(client, { user: "alice", token: TOKEN }, { env });
      assert.deepEqual(JSON.parse(await readFile(path, "utf8")), { user: "alice", token: TOKEN });
      assert.deepEqual(await checkLogin(client, { env }), {
        found: true,
        user: "alice",
        source: "stored",
        valid: true,
      });
      await saveCredentials({ user: "alice", token: "revoked" }, { env });
      assert.deepEqual(await checkLogin(client, { env }), {
        found: true,
        user: "alice",
        source: "stored",
        valid: false,
      });
    } finally {
      await client.close();
      await server.stop();
    }
  });
});
