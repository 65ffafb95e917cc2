/**
 * Local engine first, against a real engine: Podman's Docker-compatible API (`podman system
 * service`) on a socket in a temporary directory, with its own vfs storage (nothing of the
 * machine's Podman storage is touched, no network). The image is built by `podman build` from a
 * Containerfile: `FROM scratch` + the static busybox.
 *
 * The oracle for "the local image" is `podman save` read as `docker-archive:`: the .gvmi from
 * the engine must be byte-identical to it (same --mkfs-time). Pushes go to the Golem registry
 * stand-in; the registry fallback is shown against a real `docker-registry`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { convert } from "../../src/index.js";
import {
  buildImage,
  freePort,
  hermeticEnv,
  skopeo,
  startRegistry,
  tmp,
  writeLayout,
  type RunningRegistry,
} from "../oci/helpers.js";
import { FakeGolemRegistry } from "../upload/fake-golem-registry.js";
import { cli, missingTools, type CliRun } from "./support.js";

const skip = missingTools("podman", "busybox", "skopeo", "docker-registry");
const TOKEN = "tok-engine-51c0";
const MKFS = ["--mkfs-time", "1700000000"];

let work: string;
let socket: string;
let service: ChildProcess | undefined;
let serviceLog = "";
let imageId: string; // sha256:<64 hex>
let registryImageId: string;
let oracleHash: string;
let registry: FakeGolemRegistry;
let oci: RunningRegistry;
let n = 0;

const sha256 = async (path: string): Promise<string> =>
  createHash("sha256")
    .update(await readFile(path))
    .digest("hex");

function podman(...args: string[]): string {
  const r = spawnSync(
    "podman",
    ["--root", join(work, "root"), "--runroot", join(work, "runroot"), "--storage-driver", "vfs", ...args],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (r.status !== 0) throw new Error(`podman ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function ok(r: CliRun): void {
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
}

const out = (): string => join(work, `out-${n++}.gvmi`);
const engineEnv = (): Record<string, string | undefined> =>
  hermeticEnv(work, { DOCKER_HOST: `unix://${socket}` });

before(async () => {
  if (skip !== false) return;
  work = await tmp("gvmconv-e2e-engine-");
  const ctx = join(work, "ctx");
  await mkdir(ctx);
  await copyFile("/bin/busybox", join(ctx, "busybox"));
  await writeFile(
    join(ctx, "Containerfile"),
    'FROM scratch\nCOPY busybox /bin/busybox\nENV FROM_ENGINE=1\nCMD ["/bin/busybox", "sh"]\n',
  );
  // A registry image of names the engine does not have (other:1) or has as another image (both:1).
  oci = await startRegistry(join(work, "registry"));
  const img = await buildImage({ layers: [{ files: { "from-registry": "1" }, compression: "gzip" }] });
  registryImageId = img.configDigest;
  await writeLayout(join(work, "layout"), [{ kind: "image", ref: "x", image: img }]);
  for (const tag of ["other:1", "both:1"]) {
    await skopeo(
      "copy",
      "--dest-tls-verify=false",
      `oci:${join(work, "layout")}:x`,
      `docker://${oci.host}/${tag}`,
    );
  }

  podman("build", "-q", "-t", "my_image", ctx);
  podman("tag", "my_image", `${oci.host}/both:1`);
  podman("tag", "my_image", "my_image:1.0", "alice/my_image:1.0");
  imageId = `sha256:${podman("image", "inspect", "--format", "{{.Id}}", "my_image")
    .trim()
    .replace(/^sha256:/, "")}`;

  // The oracle: what `podman save` exports, converted as an archive.
  const saved = join(work, "save.tar");
  podman("save", "-o", saved, "my_image");
  const oracle = join(work, "oracle.gvmi");
  ok(await cli([`docker-archive:${saved}`, "-o", oracle, ...MKFS], hermeticEnv(work)));
  oracleHash = await sha256(oracle);

  socket = join(work, "api.sock");
  service = spawn(
    "podman",
    [
      "--root",
      join(work, "root"),
      "--runroot",
      join(work, "runroot"),
      "--storage-driver",
      "vfs",
      "system",
      "service",
      "--time=0",
      `unix://${socket}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  service.stderr?.on("data", (b: Buffer) => (serviceLog += b.toString()));
  for (let i = 0; ; i++) {
    try {
      if ((await stat(socket)).isSocket()) break;
    } catch {
      // not yet
    }
    if (i > 200 || service.exitCode !== null) throw new Error(`podman system service: ${serviceLog}`);
    await sleep(50);
  }

  registry = await new FakeGolemRegistry({ users: { alice: TOKEN } }).start();
});

after(async () => {
  if (skip !== false) return;
  if (service !== undefined && service.exitCode === null) {
    const gone = new Promise((r) => service?.once("exit", r));
    service.kill("SIGTERM");
    await gone;
  }
  await registry?.stop();
  await oci?.stop();
  await rm(work, { recursive: true, force: true });
});

test(
  "a plain name the engine has: converted from it, said on stderr, same bytes as podman save",
  { skip },
  async () => {
    const o = out();
    const r = await cli(["my_image", "-o", o, ...MKFS], engineEnv());
    ok(r);
    assert.match(r.stderr, new RegExp(`using my_image:latest from the local engine at unix://${socket}`));
    assert.equal(await sha256(o), oracleHash);
  },
);

test(
  "image ids (12 hex, sha256:64 hex, bare 64 hex) come from the engine, same bytes",
  { skip },
  async () => {
    const hex = imageId.slice("sha256:".length);
    for (const id of [hex.slice(0, 12), imageId, hex]) {
      const o = out();
      const r = await cli([id, "-o", o, ...MKFS], engineEnv());
      ok(r);
      assert.match(r.stderr, new RegExp(`using ${id} from the local engine`));
      assert.equal(await sha256(o), oracleHash, id);
    }
  },
);

test(
  "default output names are gvmkit-build's: the name as typed, tag, 10 hex of the id",
  { skip },
  async () => {
    const dir = join(work, "named");
    const hex = imageId.slice("sha256:".length);
    const env = engineEnv();
    for (const [source, name] of [
      ["my_image", `my_image-latest-${hex.slice(0, 10)}.gvmi`],
      ["my_image:1.0", `my_image-1.0-${hex.slice(0, 10)}.gvmi`],
      ["alice/my_image:1.0", `alice-my_image-1.0-${hex.slice(0, 10)}.gvmi`],
      [hex.slice(0, 12), `${hex.slice(0, 12)}-latest-${hex.slice(0, 10)}.gvmi`],
      [imageId, `sha256-${hex}-${hex.slice(0, 10)}.gvmi`],
    ] as const) {
      const result = await convert(source, { env, outputDir: dir, mkfsTime: 1_700_000_000 });
      assert.equal(result.outputPath, join(dir, name), source);
    }
    assert.equal((await readdir(dir)).length, 5);
  },
);

test("--push-to of a local image uploads it", { skip }, async () => {
  const o = out();
  const env = { ...engineEnv(), REGISTRY_URL: registry.url, REGISTRY_USER: "alice", REGISTRY_TOKEN: TOKEN };
  const r = await cli(["my_image", "-o", o, ...MKFS, "--push-to", "alice/my_image:1.0"], env);
  ok(r);
  assert.match(r.stderr, /from the local engine/);
  const sha = registry.tags.get("alice/my_image:1.0");
  assert.ok(sha, "tag attached");
  assert.ok(registry.assembled(sha)?.equals(await readFile(o)), "the whole file received");
});

test("docker-daemon:user/img:tag --push pushes to user/img:tag", { skip }, async () => {
  const o = out();
  const env = { ...engineEnv(), REGISTRY_URL: registry.url, REGISTRY_USER: "alice", REGISTRY_TOKEN: TOKEN };
  const r = await cli(["docker-daemon:alice/my_image:1.0", "-o", o, "--push", "--env", "V=2"], env);
  ok(r);
  assert.match(r.stdout, /^tag: alice\/my_image:1\.0$/m);
  const sha = registry.tags.get("alice/my_image:1.0");
  assert.ok(sha !== undefined && registry.assembled(sha)?.equals(await readFile(o)), "this file attached");
});

test(
  "--push of a local name without a user fails as gvmkit-build's does; --nologin uploads",
  { skip },
  async () => {
    const env = { ...engineEnv(), REGISTRY_URL: registry.url, REGISTRY_USER: "alice", REGISTRY_TOKEN: TOKEN };
    const bad = await cli(["my_image:1.0", "-o", out(), "--push"], env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /cannot push my_image:1\.0: the name has no user part/);
    const o = out();
    const anon = await cli(
      ["docker-daemon:my_image:1.0", "-o", o, "--push", "--nologin", "--env", "V=3"],
      env,
    );
    ok(anon);
    const sha = createHash("sha256")
      .update(await readFile(`${o}.descr.bin`))
      .digest("hex");
    assert.ok(registry.assembled(sha)?.equals(await readFile(o)), "uploaded anonymously");
  },
);

test(
  "a name the engine lacks goes to the registry (found there; absent there: the registry's error)",
  { skip },
  async () => {
    const o = out();
    const r = await cli([`${oci.host}/other:1`, "-o", o, ...MKFS], engineEnv());
    ok(r);
    assert.doesNotMatch(r.stderr, /local engine/);
    const missing = await cli([`${oci.host}/absent:1`, "-o", out()], engineEnv());
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /^gvmconv: error \[E_OCI_NOT_FOUND\]/m);
    // No registry reachable either: the registry's network error proves the fall-through.
    const closed = await freePort();
    await assert.rejects(
      convert(`127.0.0.1:${closed}/absent:1`, {
        env: engineEnv(),
        output: out(),
        image: { retries: 0, retryDelayMs: 1 },
      }),
      (e: unknown) => (e as { code?: string }).code === "E_OCI_NETWORK",
    );
    // docker:// never asks the engine: my_image is not in this registry.
    const forced = await cli([`docker://${oci.host}/my_image:1.0`, "-o", out()], engineEnv());
    assert.match(forced.stderr, /\[E_OCI_NOT_FOUND\]/);
    assert.doesNotMatch(forced.stderr, /local engine/);
  },
);

test("no engine at DOCKER_HOST: the registry path at once", { skip }, async () => {
  const env = hermeticEnv(work, { DOCKER_HOST: `unix://${join(work, "no-such.sock")}` });
  const start = performance.now();
  const r = await cli([`${oci.host}/other:1`, "-o", out(), ...MKFS], env);
  ok(r);
  assert.ok(performance.now() - start < 5_000, "no wait on the missing engine");
  // An id is never asked of a registry.
  const id = await cli([imageId, "-o", out()], env);
  assert.notEqual(id.code, 0);
  const lines = id.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, id.stderr);
  assert.match(
    lines[0] ?? "",
    /^gvmconv: error \[E_OCI_IMAGE_ID_NOT_LOCAL\]: image id sha256:[0-9a-f]{64} is not in a local engine/,
  );
});

test("an id the engine lacks is a coded error, not a registry lookup", { skip }, async () => {
  const r = await cli(["0123456789ab", "-o", out()], engineEnv());
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /\[E_OCI_IMAGE_ID_NOT_LOCAL\]: image id 0123456789ab is not in a local engine: the engine at unix:/,
  );
});

test("the current Docker context of ~/.docker names the engine", { skip }, async () => {
  const home = join(work, "home");
  const name = "podman-test";
  const meta = join(home, ".docker", "contexts", "meta", createHash("sha256").update(name).digest("hex"));
  await mkdir(meta, { recursive: true });
  await writeFile(join(home, ".docker", "config.json"), JSON.stringify({ currentContext: name }));
  await writeFile(
    join(meta, "meta.json"),
    JSON.stringify({
      Name: name,
      Metadata: {},
      Endpoints: { docker: { Host: `unix://${socket}`, SkipTLSVerify: false } },
    }),
  );
  const env = { PATH: process.env.PATH ?? "", HOME: home, XDG_CONFIG_HOME: join(work, "xdg-config") };
  const o = out();
  const r = await cli(["my_image", "-o", o, ...MKFS], env);
  ok(r);
  assert.match(r.stderr, new RegExp(`from the local engine at unix://${socket}`));
  assert.equal(await sha256(o), oracleHash);
});

test("image.engine: false skips the engine for library callers", { skip }, async () => {
  // Both the engine and the registry have ${oci.host}/both:1, as different images.
  const name = `${oci.host}/both:1`;
  const local = await convert(name, { env: engineEnv(), output: out() });
  assert.equal(local.imageId, imageId);
  const remote = await convert(name, { env: engineEnv(), output: out(), image: { engine: false } });
  assert.equal(remote.imageId, registryImageId);
});
