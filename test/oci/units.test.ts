import { test } from "node:test";
import assert from "node:assert/strict";
import { parseAuthChallenges } from "../../src/oci/auth-challenge.js";
import { TokenCache } from "../../src/oci/token-cache.js";
import { parseManifest, selectPlatform, type ImageIndex } from "../../src/oci/manifest.js";
import { parseSource } from "../../src/oci/source.js";
import { parseErrorEnvelope } from "../../src/oci/registry-client.js";
import {
  NoMatchingPlatformError,
  InvalidSourceError,
  UnsupportedMediaTypeError,
} from "../../src/oci/errors.js";
import { defaultCredentialSource } from "../../src/oci/credentials.js";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmp } from "./helpers.js";

test("WWW-Authenticate: Bearer with quoted params, and several challenges", () => {
  const [c] = parseAuthChallenges(
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
  );
  assert.equal(c?.scheme, "bearer");
  assert.deepEqual(c?.params, {
    realm: "https://auth.docker.io/token",
    service: "registry.docker.io",
    scope: "repository:library/alpine:pull",
  });
  const two = parseAuthChallenges(
    'Basic realm="x \\"y\\"", Bearer realm=https://t/token, error=insufficient_scope',
  );
  assert.equal(two.length, 2);
  assert.equal(two[0]?.params.realm, 'x "y"');
  assert.equal(two[1]?.params.error, "insufficient_scope");
});

test("token cache honours expires_in with a safety margin", () => {
  let now = 1_000_000;
  const c = new TokenCache(() => now);
  const k = TokenCache.key("r", "s", "repository:a:pull");
  c.set(k, "t", 300);
  assert.equal(c.get(k), "t");
  now += 295_000;
  assert.equal(c.get(k), undefined);
  c.set(k, "u", undefined); // default 60 s
  now += 45_000;
  assert.equal(c.get(k), "u");
  now += 10_000;
  assert.equal(c.get(k), undefined);
});

test("registry error envelope is parsed into codes", () => {
  const e = parseErrorEnvelope(
    Buffer.from('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}'),
  );
  assert.deepEqual(e, [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }]);
  assert.deepEqual(parseErrorEnvelope(Buffer.from("<html>")), []);
});

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const index: ImageIndex = parseManifest(
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
      manifests: [
        {
          mediaType: "application/vnd.docker.distribution.manifest.v2+json",
          digest: D("1"),
          size: 1,
          platform: { os: "linux", architecture: "arm", variant: "v6" },
        },
        {
          mediaType: "application/vnd.docker.distribution.manifest.v2+json",
          digest: D("2"),
          size: 1,
          platform: { os: "linux", architecture: "arm", variant: "v7" },
        },
        {
          mediaType: "application/vnd.docker.distribution.manifest.v2+json",
          digest: D("3"),
          size: 1,
          platform: { os: "linux", architecture: "arm64", variant: "v8" },
        },
        {
          mediaType: "application/vnd.docker.distribution.manifest.v2+json",
          digest: D("4"),
          size: 1,
          platform: { os: "linux", architecture: "amd64" },
        },
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: D("5"),
          size: 1,
          platform: { os: "unknown", architecture: "unknown" },
        },
      ],
    }),
  ),
  undefined,
) as ImageIndex;

test("platform selection: os/arch, then variant, never attestations", () => {
  assert.equal(selectPlatform(index, { os: "linux", architecture: "amd64" }).digest, D("4"));
  assert.equal(selectPlatform(index, { os: "linux", architecture: "x86_64" }).digest, D("4"));
  assert.equal(selectPlatform(index, { os: "linux", architecture: "arm64" }).digest, D("3"));
  assert.equal(selectPlatform(index, { os: "linux", architecture: "arm", variant: "v6" }).digest, D("1"));
  assert.equal(selectPlatform(index, { os: "linux", architecture: "arm", variant: "v7" }).digest, D("2"));
  assert.equal(selectPlatform(index, { os: "linux", architecture: "arm", variant: "v8" }).digest, D("2"));
  assert.throws(
    () => selectPlatform(index, { os: "linux", architecture: "riscv64" }),
    (err: unknown) =>
      err instanceof NoMatchingPlatformError &&
      err.code === "E_OCI_NO_MATCHING_PLATFORM" &&
      err.available.join(",") === "linux/arm/v6,linux/arm/v7,linux/arm64/v8,linux/amd64" &&
      /riscv64/.test(err.message),
  );
});

test("schema 1 manifests are refused with a typed error", () => {
  assert.throws(
    () => parseManifest(Buffer.from('{"schemaVersion":1,"name":"x"}'), undefined),
    UnsupportedMediaTypeError,
  );
});

test("source strings", () => {
  assert.deepEqual(parseSource("oci:/tmp/lay:v1"), { transport: "oci", path: "/tmp/lay", ref: "v1" });
  assert.deepEqual(parseSource("oci:/tmp/lay"), { transport: "oci", path: "/tmp/lay", ref: undefined });
  assert.deepEqual(parseSource("docker-archive:img.tar:alpine:3.20"), {
    transport: "docker-archive",
    path: "img.tar",
    ref: "alpine:3.20",
  });
  assert.deepEqual(parseSource("oci-archive:C:\\x\\a.tar:r"), {
    transport: "oci-archive",
    path: "C:\\x\\a.tar",
    ref: "r",
  });
  const d = parseSource("docker://alpine:3.20");
  assert.equal(d.transport === "docker" && d.reference.canonical, "docker.io/library/alpine:3.20");
  const bare = parseSource("localhost:5000/img");
  assert.equal(bare.transport === "docker" && bare.reference.registry, "localhost:5000");
  const dd = parseSource("docker-daemon:alpine");
  assert.equal(dd.transport === "docker-daemon" && dd.name, "alpine:latest");
  assert.throws(() => parseSource("dir:/x"), InvalidSourceError);
  assert.throws(
    () => parseSource("docker://Bad"),
    (e: unknown) => e instanceof InvalidSourceError && /lowercase/.test(e.message),
  );
});

test("credentials: explicit, env, docker config auths, podman auth.json with namespaces", async () => {
  const dir = await tmp();
  await mkdir(join(dir, "docker"), { recursive: true });
  await writeFile(
    join(dir, "docker", "config.json"),
    JSON.stringify({
      auths: {
        "https://index.docker.io/v1/": { auth: Buffer.from("hub:pw").toString("base64") },
        "ghcr.io": { auth: Buffer.from("gh:tok:en").toString("base64") },
      },
    }),
  );
  // Podman's per-user file (REGISTRY_AUTH_FILE would replace Docker's config, as in podman).
  await mkdir(join(dir, "x", "containers"), { recursive: true });
  await writeFile(
    join(dir, "x", "containers", "auth.json"),
    JSON.stringify({
      auths: {
        "quay.io/org": { auth: Buffer.from("org:1").toString("base64") },
        "quay.io": { auth: Buffer.from("all:2").toString("base64") },
      },
    }),
  );
  const env = {
    DOCKER_CONFIG: join(dir, "docker"),
    XDG_CONFIG_HOME: join(dir, "x"),
    XDG_RUNTIME_DIR: join(dir, "run"),
    PATH: "",
  };
  const src = defaultCredentialSource({ env, home: dir });
  assert.deepEqual(await src.lookup("docker.io", "library/alpine"), { username: "hub", password: "pw" });
  assert.deepEqual(await src.lookup("ghcr.io", "a/b"), { username: "gh", password: "tok:en" });
  assert.deepEqual(await src.lookup("quay.io", "org/img"), { username: "org", password: "1" });
  assert.deepEqual(await src.lookup("quay.io", "other/img"), { username: "all", password: "2" });
  assert.equal(await src.lookup("example.com", "x"), undefined);
  const withEnv = defaultCredentialSource({
    env: {
      ...env,
      GVMCONV_REGISTRY_USER: "u",
      GVMCONV_REGISTRY_PASSWORD: "p",
      GVMCONV_REGISTRY_HOST: "example.com",
    },
    home: dir,
  });
  assert.deepEqual(await withEnv.lookup("example.com"), { username: "u", password: "p" });
  assert.deepEqual(await withEnv.lookup("ghcr.io"), { username: "gh", password: "tok:en" });
  const explicit = defaultCredentialSource({ env, home: dir, explicit: { username: "x", password: "y" } });
  assert.deepEqual(await explicit.lookup("ghcr.io"), { username: "x", password: "y" });
  await rm(dir, { recursive: true, force: true });
});

test("decompression ratio cap refuses a bomb; diff_id mismatch fails at end of stream", async () => {
  const { decompressLayer } = await import("../../src/oci/layer-stream.js");
  const { Readable } = await import("node:stream");
  const { gzipSync } = await import("node:zlib");
  const { TooLargeError, DiffIdMismatchError } = await import("../../src/oci/errors.js");
  const { readAll, compress, sha256 } = await import("./helpers.js");
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  const bomb = await decompressLayer(Readable.from([gzipSync(zeros)]), {
    maxRatio: 10,
    ratioAllowance: 1024,
  });
  await assert.rejects(readAll(bomb), TooLargeError);
  const data = Buffer.from("hello tar");
  for (const c of ["gzip", "zstd", "none"] as const) {
    const ok = await decompressLayer(Readable.from([compress(data, c)]), { diffId: sha256(data) });
    assert.deepEqual(await readAll(ok), data);
    const bad = await decompressLayer(Readable.from([compress(data, c)]), {
      diffId: sha256(Buffer.from("other")),
      layerIndex: 3,
    });
    await assert.rejects(
      readAll(bad),
      (e: unknown) => e instanceof DiffIdMismatchError && e.layerIndex === 3 && e.actual === sha256(data),
    );
  }
});
