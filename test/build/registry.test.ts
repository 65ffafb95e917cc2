/**
 * `build` against Debian's docker-registry on 127.0.0.1: registry sources pinned by the lock (a
 * moved tag changes nothing until --update), and the OCI artifact publish target, fetched back
 * through the distribution API and checked byte for byte and against the image-spec v1.1
 * artifact guidance (artifactType set, empty config descriptor, titled layer).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { build, createContext, type BuildResult } from "../../src/index.js";
import { ARTIFACT_TYPES, EMPTY_CONFIG, pushArtifact, SHA3_ANNOTATION } from "../../src/build/oci-artifact.js";
import {
  buildImage,
  hermeticEnv,
  skopeo,
  startRegistry,
  tmp,
  writeLayout,
  type RunningRegistry,
} from "../oci/helpers.js";

let work = "";
let registry: RunningRegistry;
let env: NodeJS.ProcessEnv;
let v1 = "";
let v2 = "";

before(async () => {
  work = await tmp("gvmconv-build-registry-");
  registry = await startRegistry(join(work, "storage"));
  env = { ...hermeticEnv(work), XDG_CACHE_HOME: join(work, "cache") };
  const one = await buildImage({ layers: [{ files: { "etc/version": "1\n" }, compression: "gzip" }] });
  const two = await buildImage({ layers: [{ files: { "etc/version": "2\n" }, compression: "gzip" }] });
  v1 = one.manifestDigest;
  v2 = two.manifestDigest;
  await writeLayout(join(work, "layout"), [
    { kind: "image", ref: "one", image: one },
    { kind: "image", ref: "two", image: two },
  ]);
  await skopeo(
    "copy",
    "--dest-tls-verify=false",
    `oci:${join(work, "layout")}:one`,
    `docker://${registry.host}/app:stable`,
  );
  await mkdir(join(work, "project"), { recursive: true });
  await writeFile(
    join(work, "project", "gvmconv.yaml"),
    [
      "images:",
      "  app:",
      `    source: ${registry.host}/app:stable`,
      "    config: { volumes: [/data] }",
      "    publish:",
      `      - oci: ${registry.host}/artifacts/app:stable`,
      "",
    ].join("\n"),
  );
});
after(async () => {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

const file = (): string => join(work, "project", "gvmconv.yaml");
const run = async (extra: Parameters<typeof build>[1] = {}): Promise<BuildResult> =>
  build(file(), { env, mkfsTime: 1_700_000_000, ...extra });

async function get(path: string, accept?: string): Promise<{ status: number; type: string; body: Buffer }> {
  const res = await request(`http://${registry.host}${path}`, { headers: accept ? { accept } : {} });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, type: String(res.headers["content-type"]), body };
}

let first: BuildResult;

test("a registry source builds, and its artifact comes back byte for byte, laid out as the image-spec guides", async () => {
  first = await run();
  const app = first.images[0]!;
  assert.equal(app.status, "built", String(app.error));
  assert.equal(app.digest, v1);
  const oci = app.published.find((p) => p.kind === "oci")!;
  assert.match(oci.location, new RegExp(`^${registry.host}/artifacts/app@sha256:[0-9a-f]{64}$`));

  const m = await get("/v2/artifacts/app/manifests/stable", "application/vnd.oci.image.manifest.v1+json");
  assert.equal(m.status, 200);
  assert.equal(m.type, "application/vnd.oci.image.manifest.v1+json");
  assert.equal(`sha256:${createHash("sha256").update(m.body).digest("hex")}`, oci.location.split("@")[1]);
  const manifest = JSON.parse(m.body.toString()) as {
    schemaVersion: number;
    mediaType: string;
    artifactType: string;
    config: { mediaType: string; digest: string; size: number };
    layers: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[];
    annotations: Record<string, string>;
  };
  // image-spec v1.1 manifest.md: with no config of its own, artifactType MUST be set and config
  // SHOULD be the empty descriptor; each file a layer titled with its name (what oras pull writes).
  assert.equal(manifest.schemaVersion, 2);
  assert.equal(manifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
  assert.equal(manifest.artifactType, ARTIFACT_TYPES.gvmi);
  assert.deepEqual(manifest.config, EMPTY_CONFIG);
  const config = await get(`/v2/artifacts/app/blobs/${EMPTY_CONFIG.digest}`);
  assert.equal(config.body.toString(), "{}");
  assert.equal(manifest.layers.length, 1);
  const layer = manifest.layers[0]!;
  const output = app.outputs[0]!;
  assert.equal(layer.mediaType, ARTIFACT_TYPES.gvmi);
  assert.equal(layer.size, output.size);
  assert.equal(layer.annotations["org.opencontainers.image.title"], output.file);
  assert.equal(manifest.annotations[SHA3_ANNOTATION], output.sha3);
  assert.equal(manifest.annotations["org.opencontainers.image.base.digest"], v1);
  assert.equal(manifest.annotations["org.opencontainers.image.base.name"], `${registry.host}/app:stable`);

  const blob = await get(`/v2/artifacts/app/blobs/${layer.digest}`);
  assert.equal(blob.status, 200);
  assert.ok(blob.body.equals(await readFile(output.path)), "the blob is the file, byte for byte");
});

test("a moved tag changes nothing until --update; then the new digest is built and locked", async () => {
  await skopeo(
    "copy",
    "--dest-tls-verify=false",
    `oci:${join(work, "layout")}:two`,
    `docker://${registry.host}/app:stable`,
  );
  const locked = await run();
  assert.equal(locked.images[0]!.status, "skipped");
  const forced = await run({ force: true });
  assert.equal(forced.images[0]!.status, "built", String(forced.images[0]!.error));
  assert.equal(forced.images[0]!.digest, v1, "the locked digest was fetched, not the moved tag");
  assert.equal(forced.images[0]!.outputs[0]!.sha3, first.images[0]!.outputs[0]!.sha3);

  const updated = await run({ update: ["app"] });
  assert.equal(updated.images[0]!.status, "built");
  assert.equal(updated.images[0]!.digest, v2);
  const lock = JSON.parse(await readFile(join(work, "project", "gvmconv.lock"), "utf8")) as {
    images: { app: { digest: string } };
  };
  assert.equal(lock.images.app.digest, v2);
});

test("a blob larger than one chunk goes up in PATCH chunks and still arrives whole", async () => {
  const big = join(work, "big.gvmi");
  const bytes = Buffer.alloc(300_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  await writeFile(big, bytes);
  const sha3 = createHash("sha3-224").update(bytes).digest("hex");
  const pushed = await pushArtifact(
    `${registry.host}/artifacts/big:1`,
    { file: big, format: "gvmi", size: bytes.length, sha3, sourceDigest: undefined, sourceName: undefined },
    { context: createContext({ env, dotenv: false }), chunkSize: 64 * 1024 },
  );
  const m = await get(
    `/v2/artifacts/big/manifests/${pushed.manifestDigest}`,
    "application/vnd.oci.image.manifest.v1+json",
  );
  const layer = (JSON.parse(m.body.toString()) as { layers: { digest: string }[] }).layers[0]!;
  const blob = await get(`/v2/artifacts/big/blobs/${layer.digest}`);
  assert.ok(blob.body.equals(bytes));
});
