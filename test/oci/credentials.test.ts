/**
 * Image-registry credentials as podman and skopeo look them up (containers-auth.json(5)), against
 * a real docker-registry behind htpasswd Basic auth: which files are read and in what order, that
 * the first file naming the registry wins (right or wrong), root's `/run/containers/$UID/auth.json`
 * (pointed at a temp dir through `runDir`), and `authFile` replacing the default files, failing on
 * a missing or malformed file before any request and without quoting it.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { defaultCredentialSource, credentialFiles } from "../../src/oci/credentials.js";
import { openImage, type OpenImageOptions } from "../../src/oci/index.js";
import { GvmconvError } from "../../src/errors.js";
import {
  buildImage,
  pushImage,
  startAuthRegistry,
  startRegistry,
  tmp,
  type RunningRegistry,
} from "./helpers.js";
import { missingTools } from "../e2e/support.js";

const skip = missingTools("docker-registry", "skopeo", "htpasswd");
let work: string;
let open: RunningRegistry;
let locked: RunningRegistry;
let n = 0;

/** An auth.json as `podman login` writes it: `auths[host].auth` = base64 `user:password`. */
async function authFile(path: string, host: string, user: string, password: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const auth = Buffer.from(`${user}:${password}`).toString("base64");
  await writeFile(path, JSON.stringify({ auths: { [host]: { auth } } }, null, "\t") + "\n", { mode: 0o600 });
  return path;
}

/** A fresh directory standing for one user's machine: home, runtime dir, config dirs. */
async function machine(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = join(work, `m${n++}`);
  await mkdir(dir, { recursive: true });
  return {
    dir,
    env: {
      PATH: process.env.PATH ?? "",
      XDG_RUNTIME_DIR: join(dir, "runtime"),
      XDG_CONFIG_HOME: join(dir, "config"),
      DOCKER_CONFIG: join(dir, "docker"),
    },
  };
}

async function pull(options: Omit<OpenImageOptions, "cacheDir">): Promise<string[]> {
  const image = await openImage(`docker://${locked.host}/creds/img:1`, {
    cacheDir: join(work, `cache${n++}`),
    ...options,
  });
  try {
    return image.layers.map((l) => l.digest);
  } finally {
    await image.close();
  }
}

const code = (want: string) => (e: unknown) => e instanceof GvmconvError && e.code === want;

before(async () => {
  if (skip) return;
  work = await tmp();
  const storage = join(work, "storage");
  open = await startRegistry(storage);
  locked = await startAuthRegistry(storage, "alice", "s3cret");
  const image = await buildImage({ layers: [{ files: { hello: "world" }, compression: "gzip" }] });
  await pushImage(image, `${open.host}/creds/img:1`, work);
});

after(async () => {
  if (skip) return;
  await open.stop();
  await locked.stop();
  await rm(work, { recursive: true, force: true });
});

test("the files are podman's, in its order; an auth file or REGISTRY_AUTH_FILE replaces them", () => {
  const home = "/h";
  const paths = (o: Parameters<typeof credentialFiles>[0]): string[] => credentialFiles(o).map((f) => f.path);
  assert.deepEqual(paths({ env: { XDG_RUNTIME_DIR: "/r" }, home }), [
    "/r/containers/auth.json",
    "/h/.config/containers/auth.json",
    "/h/.docker/config.json",
    "/h/.dockercfg",
  ]);
  // Without XDG_RUNTIME_DIR (root in a plain shell, cron, CI): where `podman login` writes then.
  assert.deepEqual(paths({ env: { XDG_CONFIG_HOME: "/c", DOCKER_CONFIG: "/d" }, home, uid: 0 }), [
    "/run/containers/0/auth.json",
    "/c/containers/auth.json",
    "/d/config.json",
    "/h/.dockercfg",
  ]);
  assert.equal(paths({ env: {}, home, uid: 1000, runDir: "/t" })[0], "/t/containers/1000/auth.json");
  assert.deepEqual(paths({ env: { REGISTRY_AUTH_FILE: "/e.json", XDG_RUNTIME_DIR: "/r" }, home }), [
    "/e.json",
  ]);
  assert.deepEqual(paths({ env: { REGISTRY_AUTH_FILE: "/e.json" }, home, authFile: "/a.json" }), ["/a.json"]);
});

test("a podman auth.json in the runtime dir pulls from the htpasswd registry", { skip }, async () => {
  const m = await machine();
  await authFile(join(m.dir, "runtime", "containers", "auth.json"), locked.host, "alice", "s3cret");
  assert.equal((await pull({ env: m.env })).length, 1);
  // And without any file the registry wants credentials.
  const bare = await machine();
  await assert.rejects(pull({ env: bare.env }), code("E_OCI_AUTH_REQUIRED"));
});

test("/run/containers/$UID/auth.json is read when XDG_RUNTIME_DIR is unset", { skip }, async () => {
  const m = await machine();
  const { XDG_RUNTIME_DIR: _unset, ...env } = m.env;
  const runDir = join(m.dir, "run");
  await authFile(join(runDir, "containers", "0", "auth.json"), locked.host, "alice", "s3cret");
  const credentials = defaultCredentialSource({ env, runDir, uid: 0 });
  assert.equal((await pull({ env, credentials })).length, 1);
  // Another uid's file is not ours.
  const other = defaultCredentialSource({ env, runDir, uid: 1234 });
  await assert.rejects(pull({ env, credentials: other }), code("E_OCI_AUTH_REQUIRED"));
});

test("two files name the registry: the higher-priority one wins, right or wrong", { skip }, async () => {
  // runtime (primary) over ~/.config/containers.
  const a = await machine();
  await authFile(join(a.dir, "runtime", "containers", "auth.json"), locked.host, "alice", "s3cret");
  await authFile(join(a.dir, "config", "containers", "auth.json"), locked.host, "alice", "wrong");
  assert.equal((await pull({ env: a.env })).length, 1);
  const b = await machine();
  await authFile(join(b.dir, "runtime", "containers", "auth.json"), locked.host, "alice", "wrong");
  await authFile(join(b.dir, "config", "containers", "auth.json"), locked.host, "alice", "s3cret");
  await assert.rejects(pull({ env: b.env }), code("E_OCI_AUTH_FAILED"));
  // ~/.config/containers over Docker's config.json.
  const c = await machine();
  await authFile(join(c.dir, "config", "containers", "auth.json"), locked.host, "alice", "wrong");
  await authFile(join(c.dir, "docker", "config.json"), locked.host, "alice", "s3cret");
  await assert.rejects(pull({ env: c.env }), code("E_OCI_AUTH_FAILED"));
  const d = await machine();
  await authFile(join(d.dir, "config", "containers", "auth.json"), locked.host, "alice", "s3cret");
  await authFile(join(d.dir, "docker", "config.json"), locked.host, "alice", "wrong");
  assert.equal((await pull({ env: d.env })).length, 1);
  // A file that does not name the registry passes the lookup on to the next.
  const e = await machine();
  await authFile(join(e.dir, "runtime", "containers", "auth.json"), "other.example", "bob", "x");
  await authFile(join(e.dir, "docker", "config.json"), locked.host, "alice", "s3cret");
  assert.equal((await pull({ env: e.env })).length, 1);
});

test("authFile replaces the default files; REGISTRY_AUTH_FILE too", { skip }, async () => {
  const m = await machine();
  await authFile(join(m.dir, "runtime", "containers", "auth.json"), locked.host, "alice", "s3cret");
  const given = await authFile(join(m.dir, "given.json"), "other.example", "bob", "x");
  await assert.rejects(pull({ env: m.env, authFile: given }), code("E_OCI_AUTH_REQUIRED"));
  await assert.rejects(pull({ env: { ...m.env, REGISTRY_AUTH_FILE: given } }), code("E_OCI_AUTH_REQUIRED"));
  const good = await authFile(join(m.dir, "good.json"), locked.host, "alice", "s3cret");
  const bare = await machine();
  assert.equal((await pull({ env: bare.env, authFile: good })).length, 1);
  assert.equal((await pull({ env: { ...bare.env, REGISTRY_AUTH_FILE: good } })).length, 1);
  // Explicit credentials still come first.
  await assert.rejects(
    pull({ env: bare.env, authFile: good, credentials: { username: "alice", password: "nope" } }),
    code("E_OCI_AUTH_FAILED"),
  );
});

test("a missing or malformed auth file fails before any request, quoting nothing", { skip }, async () => {
  const m = await machine();
  // Port 9 on loopback (discard) answers nothing: a request would fail with E_OCI_NETWORK instead.
  const nowhere = (authFile: string | undefined, env: Record<string, string> = m.env) =>
    openImage("docker://127.0.0.1:9/x/y:1", { env, authFile, cacheDir: join(m.dir, "cache"), retries: 0 });
  await assert.rejects(
    nowhere(join(m.dir, "missing.json")),
    (e: unknown) =>
      e instanceof GvmconvError &&
      e.code === "E_OCI_AUTHFILE" &&
      e.message.includes("missing.json") &&
      /no such file/.test(e.message),
  );
  const secret = "hunter2-do-not-print";
  const broken = join(m.dir, "broken.json");
  await writeFile(broken, `{"auths": {"h": {"auth": "${Buffer.from(`u:${secret}`).toString("base64")}"`);
  const notSecret = (e: unknown): boolean => {
    const text = e instanceof Error ? `${e.message} ${(e as GvmconvError).hint} ${String(e.stack)}` : "";
    return !text.includes(secret) && !text.includes(Buffer.from(`u:${secret}`).toString("base64"));
  };
  await assert.rejects(nowhere(broken), (e: unknown) => code("E_OCI_AUTHFILE")(e) && notSecret(e));
  await writeFile(broken, `{"auths": ["${secret}"]}`);
  await assert.rejects(nowhere(broken), (e: unknown) => code("E_OCI_AUTHFILE")(e) && notSecret(e));
  await assert.rejects(nowhere(undefined, { ...m.env, REGISTRY_AUTH_FILE: broken }), code("E_OCI_AUTHFILE"));
});
