/**
 * Pulls from a real `docker-registry` on 127.0.0.1 (pushed with skopeo), and the local sources:
 * OCI layout, oci-archive, docker-archive (legacy, from skopeo, and Docker ≥ 25 style).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { pack } from "tar-stream";
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import {
  openImage,
  NoMatchingPlatformError,
  BlobCache,
  LocalSourceError,
  type Image,
} from "../../src/oci/index.js";
import { CollectingReporter } from "../../src/reporter.js";
import {
  buildImage,
  hermeticEnv,
  readAll,
  skopeo,
  startRegistry,
  tarNames,
  tmp,
  writeLayout,
  type BuiltImage,
  type RunningRegistry,
} from "./helpers.js";

let work: string;
let registry: RunningRegistry;
let layout: string;
let gz: BuiltImage;
let zst: BuiltImage;
let plain: BuiltImage;
let amd: BuiltImage;
let arm: BuiltImage;

before(async () => {
  work = await tmp();
  registry = await startRegistry(join(work, "storage"));
  gz = await buildImage({
    layers: [
      { files: { "etc/hostname": "gz\n" }, compression: "gzip" },
      { files: { "app/run": "#!/bin/sh\n" }, compression: "gzip" },
    ],
    cmd: ["/app/run"],
  });
  zst = await buildImage({
    layers: [{ files: { "zstd-file": "zstd content ".repeat(100) }, compression: "zstd" }],
  });
  plain = await buildImage({
    layers: [
      { files: { "plain-file": "x" }, compression: "none" },
      { files: { second: "y" }, compression: "gzip" },
    ],
  });
  amd = await buildImage({
    layers: [{ files: { arch: "amd64" }, compression: "gzip" }],
    architecture: "amd64",
  });
  arm = await buildImage({
    layers: [{ files: { arch: "arm64" }, compression: "gzip" }],
    architecture: "arm64",
  });
  layout = join(work, "layout");
  await writeLayout(layout, [
    { kind: "image", ref: "gz", image: gz },
    { kind: "image", ref: "zstd", image: zst },
    { kind: "image", ref: "plain", image: plain },
    {
      kind: "multi",
      ref: "multi",
      images: [
        { image: amd, architecture: "amd64" },
        { image: arm, architecture: "arm64", variant: "v8" },
      ],
    },
  ]);
  const r = registry.host;
  await skopeo("copy", "--dest-tls-verify=false", `oci:${layout}:gz`, `docker://${r}/test/gz:oci`);
  await skopeo(
    "copy",
    "--dest-tls-verify=false",
    "--format",
    "v2s2",
    `oci:${layout}:gz`,
    `docker://${r}/test/gz:v2s2`,
  );
  await skopeo("copy", "--dest-tls-verify=false", `oci:${layout}:zstd`, `docker://${r}/test/zstd:latest`);
  await skopeo(
    "copy",
    "--dest-tls-verify=false",
    "--all",
    `oci:${layout}:multi`,
    `docker://${r}/test/multi:latest`,
  );
});

after(async () => {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

async function layerNames(image: Image, i: number): Promise<string[]> {
  return await tarNames(await readAll(await image.openLayer(i)));
}

async function open(source: string, extra: Partial<Parameters<typeof openImage>[1]> = {}): Promise<Image> {
  return await openImage(source, {
    cacheDir: join(work, "cache"),
    env: hermeticEnv(work),
    retryDelayMs: 1,
    ...extra,
  });
}

test("registry: OCI manifest, gzip layers, config and layer verification", async () => {
  const reporter = new CollectingReporter();
  const image = await open(`${registry.host}/test/gz:oci`, { reporter });
  try {
    assert.equal(image.transport, "docker");
    assert.equal(image.configDigest, gz.configDigest);
    assert.equal(image.manifestDigest, gz.manifestDigest);
    assert.equal(image.reference?.repository, "test/gz");
    assert.equal(image.reference?.tag, "oci");
    assert.deepEqual(image.config.config?.Cmd, ["/app/run"]);
    assert.deepEqual(
      image.layers.map((l) => l.diffId),
      gz.diffIds,
    );
    await image.fetchLayers();
    const cache = new BlobCache(join(work, "cache"));
    for (const d of gz.layerDigests) assert.ok(await cache.has(d), `layer ${d} cached`);
    assert.deepEqual(await layerNames(image, 0), ["etc/hostname"]);
    assert.deepEqual(await layerNames(image, 1), ["app/run"]);
    assert.deepEqual(reporter.warnings, []);
  } finally {
    await image.close();
  }
});

test("registry: Docker schema 2 manifest of the same image", async () => {
  const image = await open(`docker://${registry.host}/test/gz:v2s2`);
  try {
    assert.equal(image.configDigest, gz.configDigest);
    assert.notEqual(image.manifestDigest, gz.manifestDigest); // skopeo converted the manifest
    assert.equal(image.layers[0]?.mediaType, "application/vnd.docker.image.rootfs.diff.tar.gzip");
    assert.deepEqual(await layerNames(image, 1), ["app/run"]);
  } finally {
    await image.close();
  }
});

test("registry: zstd layer", async () => {
  const image = await open(`${registry.host}/test/zstd`);
  try {
    await image.fetchLayers();
    assert.deepEqual(await layerNames(image, 0), ["zstd-file"]);
  } finally {
    await image.close();
  }
});

test("registry: multi-arch index selects amd64 (and arm64), lists platforms for riscv64", async () => {
  const image = await open(`${registry.host}/test/multi:latest`, { platform: "linux/amd64" });
  try {
    assert.equal(image.configDigest, amd.configDigest);
    assert.equal(image.platform.architecture, "amd64");
    assert.deepEqual(await layerNames(image, 0), ["arch"]);
  } finally {
    await image.close();
  }
  const a = await open(`${registry.host}/test/multi:latest`, { platform: "linux/arm64" });
  assert.equal(a.configDigest, arm.configDigest);
  await a.close();
  await assert.rejects(
    open(`${registry.host}/test/multi:latest`, { platform: "linux/riscv64" }),
    (err: unknown) =>
      err instanceof NoMatchingPlatformError &&
      err.available.includes("linux/amd64") &&
      err.available.includes("linux/arm64/v8") &&
      /riscv64/.test(err.message),
  );
});

test("registry: unknown tag is a typed not-found error with the registry's code", async () => {
  await assert.rejects(open(`${registry.host}/test/gz:nope`), (err: unknown) => {
    const e = err as { code?: string; registryCode?: string; statusCode?: number };
    return e.code === "E_OCI_NOT_FOUND" && e.registryCode === "MANIFEST_UNKNOWN" && e.statusCode === 404;
  });
});

test("oci layout: named refs, uncompressed + gzip layers, multi-platform entry", async () => {
  const image = await open(`oci:${layout}:plain`);
  try {
    assert.equal(image.transport, "oci");
    assert.equal(image.configDigest, plain.configDigest);
    assert.equal(image.layers[0]?.mediaType, "application/vnd.oci.image.layer.v1.tar");
    await image.fetchLayers(); // no-op for local sources
    assert.deepEqual(await layerNames(image, 0), ["plain-file"]);
    assert.deepEqual(await layerNames(image, 1), ["second"]);
  } finally {
    await image.close();
  }
  const m = await open(`oci:${layout}:multi`, { platform: "linux/arm64/v8" });
  assert.equal(m.configDigest, arm.configDigest);
  await m.close();
  await assert.rejects(
    open(`oci:${layout}:missing`),
    (err: unknown) => err instanceof LocalSourceError && /gz, zstd, plain, multi/.test(err.message),
  );
  await assert.rejects(
    open(`oci:${layout}`),
    (err: unknown) => err instanceof LocalSourceError && /several images/.test(err.message),
  );
});

test("oci-archive (from skopeo) is read in place", async () => {
  const archive = join(work, "img.oci.tar");
  await skopeo("copy", `oci:${layout}:zstd`, `oci-archive:${archive}:myref`);
  const image = await open(`oci-archive:${archive}:myref`);
  try {
    assert.equal(image.transport, "oci-archive");
    assert.equal(image.configDigest, zst.configDigest);
    assert.deepEqual(await layerNames(image, 0), ["zstd-file"]);
  } finally {
    await image.close();
  }
});

test("docker-archive (legacy docker save layout, from skopeo)", async () => {
  const archive = join(work, "img.docker.tar");
  await skopeo("copy", `oci:${layout}:gz`, `docker-archive:${archive}:example.com/team/app:1.0`);
  for (const src of [
    `docker-archive:${archive}`,
    `docker-archive:${archive}:example.com/team/app:1.0`,
    `docker-archive:${archive}:@0`,
  ]) {
    const image = await open(src);
    try {
      assert.equal(image.transport, "docker-archive");
      assert.equal(image.configDigest, gz.configDigest);
      assert.equal(image.reference?.registry, "example.com");
      assert.deepEqual(await layerNames(image, 0), ["etc/hostname"]);
      assert.deepEqual(await layerNames(image, 1), ["app/run"]);
    } finally {
      await image.close();
    }
  }
  await assert.rejects(
    open(`docker-archive:${archive}:other:1`),
    (err: unknown) => err instanceof LocalSourceError && /example.com\/team\/app:1.0/.test(err.message),
  );
});

test("docker-archive in the Docker ≥ 25 form (OCI blobs + manifest.json)", async () => {
  const archive = join(work, "img.docker25.tar");
  const p = pack();
  const out = pipeline(p, createWriteStream(archive));
  const blobs = join(layout, "blobs", "sha256");
  const { readFile } = await import("node:fs/promises");
  for (const name of await readdir(blobs)) {
    if (![plain.configDigest, ...plain.layerDigests, plain.manifestDigest].includes(`sha256:${name}`))
      continue;
    p.entry({ name: `blobs/sha256/${name}` }, await readFile(join(blobs, name)));
  }
  p.entry({ name: "oci-layout" }, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  p.entry(
    { name: "manifest.json" },
    JSON.stringify([
      {
        Config: `blobs/sha256/${plain.configDigest.slice(7)}`,
        RepoTags: ["plain:latest"],
        Layers: plain.layerDigests.map((d) => `blobs/sha256/${d.slice(7)}`),
      },
    ]),
  );
  p.finalize();
  await out;
  const image = await open(`docker-archive:${archive}:plain`);
  try {
    assert.equal(image.configDigest, plain.configDigest);
    assert.equal(image.reference?.familiar, "plain:latest");
    assert.deepEqual(await layerNames(image, 1), ["second"]);
  } finally {
    await image.close();
  }
});

test("a second pull from the registry downloads no blob", async () => {
  const cacheDir = join(work, "cache2");
  const first = await open(`${registry.host}/test/gz:oci`, { cacheDir });
  await first.fetchLayers();
  await first.close();
  const cache = new BlobCache(cacheDir);
  // Pinned by digest, everything (manifest, config, layers) comes from the cache: stop the
  // registry's view of it by pointing at a port nobody listens on with the same digests.
  const pinned = await open(`127.0.0.1:1/test/gz@${gz.manifestDigest}`, { cacheDir, retries: 0 });
  try {
    await pinned.fetchLayers();
    assert.equal(pinned.configDigest, gz.configDigest);
    assert.deepEqual(await layerNames(pinned, 1), ["app/run"]);
    for (const d of gz.layerDigests) assert.ok(await cache.has(d));
  } finally {
    await pinned.close();
  }
});
