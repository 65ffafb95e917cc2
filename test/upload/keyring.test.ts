/**
 * gvmkit-build's login in the OS keyring, read and written through a real Secret Service:
 * gnome-keyring-daemon on a private D-Bus session (dbus-run-session), the entry stored with
 * libsecret's `secret-tool` exactly as gvmkit-build 0.3.19 stores it (keyring crate 2.0.5:
 * attributes service, username, target, application; label "keyring-rs v2.0.5 for …"), and
 * gvmconv run as a separate process against the local Golem registry stand-in.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  formatKeyringLogin,
  keyringAllowed,
  parseKeyringLogin,
  type KeyringEntry,
} from "../../src/upload/keyring.js";
import { resolveCredentials, logout } from "../../src/upload/credentials.js";
import { FakeGolemRegistry } from "./fake-golem-registry.js";

const TOKEN = "pat-keyring-0123456789";
const CLI = new URL("../../src/cli/main.js", import.meta.url).pathname;

test("gvmkit-build's value is user:token, split at the first colon", () => {
  assert.deepEqual(parseKeyringLogin("alice:tok"), { user: "alice", token: "tok" });
  assert.deepEqual(parseKeyringLogin("alice:to:k"), { user: "alice", token: "to:k" });
  for (const bad of ["alice", ":tok", "alice:", ""]) assert.equal(parseKeyringLogin(bad), undefined, bad);
  assert.equal(formatKeyringLogin({ user: "alice", token: "tok" }), "alice:tok");
});

test("the keyring is tried only with a session bus on Linux, and GVMCONV_KEYRING=0 turns it off", () => {
  assert.equal(keyringAllowed({}, "linux"), false);
  assert.equal(keyringAllowed({ DBUS_SESSION_BUS_ADDRESS: "unix:path=/x" }, "linux"), true);
  assert.equal(
    keyringAllowed({ DBUS_SESSION_BUS_ADDRESS: "unix:path=/x", GVMCONV_KEYRING: "0" }, "linux"),
    false,
  );
  assert.equal(keyringAllowed({}, "darwin"), true);
  assert.equal(keyringAllowed({ GVMCONV_KEYRING: "off" }, "win32"), false);
});

/** A keyring entry in memory, for the order of sources (the real store is tested below). */
function memoryKeyring(value: string | undefined): KeyringEntry & { value: string | undefined } {
  const k = {
    value,
    get: () => Promise.resolve(k.value),
    set: (v: string) => Promise.resolve(void (k.value = v)),
    delete: () => {
      const had = k.value !== undefined;
      k.value = undefined;
      return Promise.resolve(had);
    },
  };
  return k;
}

test("order: environment, then gvmconv's stored login, then the keyring", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-keyring-order-"));
  try {
    const path = join(dir, "credentials.json");
    const keyring = memoryKeyring("kuser:ktoken");
    const env = {};
    assert.equal((await resolveCredentials({ env, path, keyring }))?.source, "keyring");
    await writeFile(path, JSON.stringify({ user: "suser", token: "stoken" }), { mode: 0o600 });
    const stored = await resolveCredentials({ env, path, keyring });
    assert.deepEqual([stored?.user, stored?.source], ["suser", "stored"]);
    const fromEnv = await resolveCredentials({
      env: { REGISTRY_USER: "euser", REGISTRY_TOKEN: "etoken" },
      path,
      keyring,
    });
    assert.deepEqual([fromEnv?.user, fromEnv?.source], ["euser", "env"]);
    // A keyring that fails is passed over, never an error.
    const broken: KeyringEntry = {
      get: () => Promise.reject(new Error("locked")),
      set: () => Promise.reject(new Error("locked")),
      delete: () => Promise.reject(new Error("locked")),
    };
    await rm(path);
    assert.equal(await resolveCredentials({ env, path, keyring: broken }), undefined);
    // logout forgets the keyring entry too.
    assert.equal(await logout({ env, path, keyring }), true);
    assert.equal(keyring.value, undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// --- A real Secret Service ------------------------------------------------------------------

const tools = ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"].filter((t) => {
  try {
    execFileSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" });
    return false;
  } catch {
    return true;
  }
});
const napi = await import("@napi-rs/keyring" as string).then(
  () => true,
  () => false,
);
const skip =
  tools.length > 0
    ? `missing ${tools.join(", ")} (Debian dbus, gnome-keyring, libsecret-tools)`
    : !napi
      ? "@napi-rs/keyring is not installed"
      : false;

let registry: FakeGolemRegistry;
let work: string;
before(async () => {
  registry = await new FakeGolemRegistry({ users: { alice: TOKEN } }).start();
  work = await mkdtemp(join(tmpdir(), "gvmconv-keyring-"));
});
after(async () => {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

const GVMKIT_LABEL = "keyring-rs v2.0.5 for target 'default', service 'gvmkit-build-rs', user 'default'";
const ATTRS = "service gvmkit-build-rs username default target default application rust-keyring";

/**
 * Runs `script` inside a fresh D-Bus session with an unlocked gnome-keyring (its own HOME), with
 * `$GVMCONV` the CLI. gvmconv's file login goes to `$XDG_CONFIG_HOME`, also private.
 */
async function inSession(name: string, script: string): Promise<{ stdout: string; stderr: string }> {
  const home = join(work, name);
  const setup = [
    "set -e",
    'mkdir -p "$HOME/.local/share/keyrings"',
    // An empty login keyring, unlocked: what a desktop session has after login.
    "printf test | gnome-keyring-daemon --unlock --components=secrets >/dev/null",
    `GVMCONV="${process.execPath} ${CLI}"`,
  ].join("\n");
  const { stdout, stderr } = await promisify(execFile)(
    "dbus-run-session",
    ["--", "bash", "-c", `${setup}\n${script}`],
    {
      timeout: 60_000,
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: home,
        XDG_CONFIG_HOME: join(home, "config"),
        XDG_DATA_HOME: join(home, ".local", "share"),
        XDG_RUNTIME_DIR: home,
        REGISTRY_URL: registry.url,
      },
    },
  );
  return { stdout, stderr: stderr.replace(/^dbus-daemon\[\d+\].*\n/gm, "") };
}

test("gvmkit-build's keyring login is found: login --check says valid, from keyring", { skip }, async () => {
  const r = await inSession(
    "read",
    [
      `printf '%s' 'alice:${TOKEN}' | secret-tool store --label "${GVMKIT_LABEL}" ${ATTRS}`,
      "$GVMCONV login --check",
      'test ! -e "$XDG_CONFIG_HOME/gvmconv/credentials.json" && echo no-file',
    ].join("\n"),
  );
  assert.equal(r.stdout, `valid: alice at ${registry.url} (from keyring)\nno-file\n`);
  assert.ok(!`${r.stdout}${r.stderr}`.includes(TOKEN), "the token is never printed");
  assert.ok(registry.requests.some((q) => q.path === "/auth/pat/login"));
});

test("a rejected keyring token is reported as rejected, from keyring", { skip }, async () => {
  const r = await inSession(
    "rejected",
    [
      `printf '%s' 'alice:wrong-token' | secret-tool store --label "${GVMKIT_LABEL}" ${ATTRS}`,
      "$GVMCONV login --check || echo exit=$?",
    ].join("\n"),
  );
  assert.equal(r.stdout, `rejected: alice at ${registry.url} (from keyring)\nexit=1\n`);
});

test("gvmconv login writes gvmkit-build's entry; logout removes it", { skip }, async () => {
  const r = await inSession(
    "write",
    [
      `printf 'alice\\n${TOKEN}\\n' | $GVMCONV login`,
      "echo ---",
      "secret-tool lookup service gvmkit-build-rs username default; echo",
      "echo ---",
      // What gvmkit-build searches by (service, username), as its keyring crate writes them.
      "secret-tool search --all service gvmkit-build-rs username default 2>&1 | grep '^attribute' | sort",
      "echo ---",
      "$GVMCONV logout",
      "secret-tool lookup service gvmkit-build-rs username default || echo none",
      'test ! -e "$XDG_CONFIG_HOME/gvmconv/credentials.json" && echo no-file',
    ].join("\n"),
  );
  const [login, lookup, attributes, rest] = r.stdout.split("---\n");
  assert.equal(login, "");
  assert.equal(lookup, `alice:${TOKEN}\n`);
  assert.match(attributes!, /^attribute\.service = gvmkit-build-rs$/m);
  assert.match(attributes!, /^attribute\.username = default$/m);
  assert.equal(rest, "none\nno-file\n");
  assert.match(r.stderr, /logged in to \S+ as alice; login stored in \S+ and in the OS keyring/);
  assert.ok(!r.stderr.includes(TOKEN));
});

test("no session bus, or a bus address that leads nowhere: silently not a source", { skip }, async () => {
  const base = {
    PATH: process.env["PATH"] ?? "",
    HOME: work,
    XDG_CONFIG_HOME: work,
    REGISTRY_URL: registry.url,
  };
  for (const extra of [{}, { DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(work, "no-such-bus")}` }]) {
    const r = await promisify(execFile)(process.execPath, [CLI, "login", "--check"], {
      timeout: 30_000,
      env: { ...base, ...extra },
    }).catch((err: { stdout: string; stderr: string }) => err);
    assert.equal(r.stdout, `not logged in to ${registry.url}\n`, JSON.stringify(extra));
    assert.equal(r.stderr, "", JSON.stringify(extra));
  }
  await assert.rejects(stat(join(work, "gvmconv", "credentials.json")), { code: "ENOENT" });
});
