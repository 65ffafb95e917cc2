/**
 * Issue 13 end to end, through `convert` and checked with the real unsquashfs: an OCI layout and
 * a docker-registry image whose index nests a platform-less index (with an attestation beside
 * the images); non-distributable and Docker foreign layers from a layout and from their `urls`;
 * hostile `docker save` manifest.json entries.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { request } from "undici";
import { convert, isGvmconvError } from "../../src/index.js";
import { packTar } from "../support/tar.js";
import {
  assembleImage,
  buildImage,
  hermeticEnv,
  layerTar,
  sha256,
  startRegistry,
  tmp,
  type BuiltImage,
} from "./helpers.js";

const execFileP = promisify(execFile);
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
// ---- end to end ----

test("convert reads an OCI layout whose index nests an index with platform-less entries and an attestation", async () => {
  const work = await tmp("gvmconv-manifest-e2e-");
  try {
    const dir = join(work, "layout");
    await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
    const put = async (b: Buffer): Promise<string> => {
      await writeFile(join(dir, "blobs", "sha256", sha256(b).slice(7)), b);
      return sha256(b);
    };
    const putImage = async (img: BuiltImage): Promise<void> => {
      for (const b of img.blobs.values()) await put(b);
    };
    const amd = await buildImage({ layers: [{ files: { which: "amd64\n" }, compression: "gzip" }] });
    const arm = await buildImage({
      architecture: "arm64",
      layers: [{ files: { which: "arm64\n" }, compression: "gzip" }],
    });
    await putImage(amd);
    await putImage(arm);
    const attestation = await put(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] })),
    );
    const inner = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: attestation,
            size: 1,
            platform: { os: "unknown", architecture: "unknown" },
          },
          {
            mediaType: OCI_MANIFEST,
            digest: arm.manifestDigest,
            size: arm.manifest.length,
            platform: { os: "linux", architecture: "arm64" },
          },
          // No platform: linux/amd64.
          { mediaType: OCI_MANIFEST, digest: amd.manifestDigest, size: amd.manifest.length },
        ],
      }),
    );
    const innerDigest = await put(inner);
    await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await writeFile(
      join(dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_INDEX,
            digest: innerDigest,
            size: inner.length,
            annotations: { "org.opencontainers.image.ref.name": "multi" },
          },
        ],
      }),
    );
    const env = hermeticEnv(work);
    for (const [platform, want] of [
      ["linux/amd64", "amd64\n"],
      ["linux/arm64", "arm64\n"],
    ] as const) {
      const out = join(work, `${platform.replace("/", "-")}.gvmi`);
      const result = await convert(`oci:${dir}:multi`, { output: out, env, image: { platform } });
      assert.equal(result.outputPath, out);
      // The real unsquashfs reads the SquashFS part (the trailer follows bytes_used).
      const { stdout } = await execFileP("unsquashfs", ["-cat", out, "which"]);
      assert.equal(stdout, want, platform);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

for (const [mediaType, present] of [
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", true],
  ["application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", true],
  ["application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", false],
] as const) {
  test(`a ${mediaType.split(".").slice(-3).join(".")} layer ${present ? "present in the layout is read" : "missing from the layout is a coded error naming it"}`, async () => {
    const work = await tmp("gvmconv-manifest-foreign-");
    try {
      const dir = join(work, "layout");
      await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
      const img = assembleImage(
        [
          { tar: await layerTar({ base: "windows-ish base\n" }), compression: "gzip" },
          { tar: await layerTar({ app: "app\n" }), compression: "gzip" },
        ],
        { architecture: "amd64", os: "linux", config: { Cmd: ["/app"] } },
      );
      const manifest = JSON.parse(img.manifest.toString()) as { layers: Record<string, unknown>[] };
      const base = manifest.layers[0] as Record<string, unknown>;
      base.mediaType = mediaType;
      base.urls = ["https://foreign.invalid/base.tar.gz"];
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      for (const [digest, blob] of [...img.blobs, [sha256(manifestBytes), manifestBytes] as const]) {
        if (!present && digest === base.digest) continue;
        await writeFile(join(dir, "blobs", "sha256", digest.slice(7)), blob);
      }
      await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      await writeFile(
        join(dir, "index.json"),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(manifestBytes), size: manifestBytes.length }],
        }),
      );
      const out = join(work, "out.gvmi");
      const run = convert(`oci:${dir}`, { output: out, env: hermeticEnv(work) });
      if (present) {
        await run;
        const { stdout } = await execFileP("unsquashfs", ["-cat", out, "base"]);
        assert.equal(stdout, "windows-ish base\n");
      } else {
        await assert.rejects(
          run,
          (err: unknown) =>
            isGvmconvError(err) &&
            err.code === "E_OCI_LOCAL_SOURCE" &&
            /layer 0 .* is missing \(a foreign layer/.test(err.message),
        );
        await assert.rejects(execFileP("test", ["-e", out]), "no partial output left behind");
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}

test("registry: a non-distributable layer is fetched from its urls; gone from there and the registry, E_OCI_FOREIGN_LAYER", async () => {
  const work = await tmp("gvmconv-manifest-foreign-reg-");
  // The layer's "foreign" host: a plain HTTP server that serves the blob until told not to.
  let serve = true;
  let foreignBlob: Buffer = Buffer.alloc(0);
  const host = createServer((req, res) => {
    if (serve && req.url === "/base.tar.gz") res.writeHead(200).end(foreignBlob);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => host.listen(0, "127.0.0.1", r));
  const hostPort = (host.address() as { port: number }).port;
  // distribution refuses manifests with urls unless they are allowed.
  const registry = await startRegistry(
    join(work, "storage"),
    ["validation:", "  manifests:", "    urls:", "      allow:", "        - ^http://127\\.0\\.0\\.1"].join(
      "\n",
    ),
  );
  try {
    const img = assembleImage(
      [
        { tar: await layerTar({ base: "foreign base\n" }), compression: "gzip" },
        { tar: await layerTar({ app: "app\n" }), compression: "gzip" },
      ],
      { architecture: "amd64", os: "linux", config: { Cmd: ["/app"] } },
    );
    const manifest = JSON.parse(img.manifest.toString()) as { layers: Record<string, unknown>[] };
    const base = manifest.layers[0] as Record<string, unknown>;
    base.mediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    base.urls = [`http://127.0.0.1:${hostPort}/base.tar.gz`];
    foreignBlob = img.blobs.get(base.digest as string) as Buffer;
    const api = `http://${registry.host}/v2/test/foreign`;
    for (const [digest, blob] of img.blobs) {
      if (digest === base.digest || digest === img.manifestDigest) continue;
      const start = await request(`${api}/blobs/uploads/`, { method: "POST" });
      await start.body.dump();
      const location = new URL(String(start.headers.location), `http://${registry.host}`);
      location.searchParams.set("digest", digest);
      const put = await request(location, {
        method: "PUT",
        body: blob,
        headers: { "content-type": "application/octet-stream" },
      });
      assert.equal(put.statusCode, 201, await put.body.text());
    }
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const put = await request(`${api}/manifests/v1`, {
      method: "PUT",
      body: manifestBytes,
      headers: { "content-type": OCI_MANIFEST },
    });
    assert.equal(put.statusCode, 201, await put.body.text());

    const opts = (cache: string) => ({
      env: hermeticEnv(work),
      image: { cacheDir: join(work, cache), retryDelayMs: 1, engine: false },
    });
    const out = join(work, "out.gvmi");
    await convert(`docker://${registry.host}/test/foreign:v1`, { output: out, ...opts("cache1") });
    const { stdout } = await execFileP("unsquashfs", ["-cat", out, "base"]);
    assert.equal(stdout, "foreign base\n");

    serve = false;
    const out2 = join(work, "out2.gvmi");
    await assert.rejects(
      convert(`docker://${registry.host}/test/foreign:v1`, { output: out2, ...opts("cache2") }),
      (err: unknown) =>
        isGvmconvError(err) &&
        err.code === "E_OCI_FOREIGN_LAYER" &&
        err.message.includes(`http://127.0.0.1:${hostPort}/base.tar.gz`) &&
        !err.message.includes("\n"),
    );
    await assert.rejects(execFileP("test", ["-e", out2]), "no partial output left behind");
  } finally {
    await registry.stop();
    await new Promise((r) => host.close(r));
    await rm(work, { recursive: true, force: true });
  }
});

test("docker save archives whose manifest.json entries have the wrong types are E_OCI_LOCAL_SOURCE, never a TypeError", async () => {
  const work = await tmp("gvmconv-manifest-save-");
  try {
    for (const entries of [
      [null],
      [42],
      ["x"],
      [{ Config: 1, Layers: [] }],
      [{ Config: "c.json", Layers: "l" }],
      [{ Config: "c.json", Layers: [1] }],
    ]) {
      const file = join(work, "save.tar");
      await writeFile(
        file,
        await packTar([
          {
            header: { name: "manifest.json", mode: 0o644, mtime: new Date(0) },
            body: JSON.stringify(entries),
          },
        ]),
      );
      await assert.rejects(
        convert(`docker-archive:${file}`, { output: join(work, "out.gvmi"), env: hermeticEnv(work) }),
        (err: unknown) =>
          isGvmconvError(err) &&
          err.code === "E_OCI_LOCAL_SOURCE" &&
          /entry 0 lacks Config or Layers/.test(err.message),
        JSON.stringify(entries),
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test("registry: an index nesting a platform-less index resolves to the manifest for the platform", async () => {
  const work = await tmp("gvmconv-manifest-nested-reg-");
  const registry = await startRegistry(join(work, "storage"));
  try {
    const api = `http://${registry.host}/v2/test/nested`;
    const putBlob = async (digest: string, blob: Buffer): Promise<void> => {
      const start = await request(`${api}/blobs/uploads/`, { method: "POST" });
      await start.body.dump();
      const location = new URL(String(start.headers.location), `http://${registry.host}`);
      location.searchParams.set("digest", digest);
      const res = await request(location, { method: "PUT", body: blob });
      assert.equal(res.statusCode, 201, await res.body.text());
    };
    const putManifest = async (ref: string, body: Buffer, type: string): Promise<void> => {
      const res = await request(`${api}/manifests/${ref}`, {
        method: "PUT",
        body,
        headers: { "content-type": type },
      });
      assert.equal(res.statusCode, 201, await res.body.text());
    };
    const amd = await buildImage({ layers: [{ files: { which: "amd64\n" }, compression: "gzip" }] });
    const arm = await buildImage({
      architecture: "arm64",
      layers: [{ files: { which: "arm64\n" }, compression: "gzip" }],
    });
    for (const img of [amd, arm]) {
      for (const [digest, blob] of img.blobs) if (digest !== img.manifestDigest) await putBlob(digest, blob);
      await putManifest(img.manifestDigest, img.manifest, OCI_MANIFEST);
    }
    const inner = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: arm.manifestDigest,
            size: arm.manifest.length,
            platform: { os: "linux", architecture: "arm64" },
          },
          { mediaType: OCI_MANIFEST, digest: amd.manifestDigest, size: amd.manifest.length },
        ],
      }),
    );
    await putManifest(sha256(inner), inner, OCI_INDEX);
    const top = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_INDEX, digest: sha256(inner), size: inner.length }],
      }),
    );
    await putManifest("v1", top, OCI_INDEX);
    for (const [platform, want] of [
      ["linux/amd64", "amd64\n"],
      ["linux/arm64", "arm64\n"],
    ] as const) {
      const out = join(work, `${platform.replace("/", "-")}.gvmi`);
      await convert(`docker://${registry.host}/test/nested:v1`, {
        output: out,
        env: hermeticEnv(work),
        image: { cacheDir: join(work, "cache"), retryDelayMs: 1, engine: false, platform },
      });
      const { stdout } = await execFileP("unsquashfs", ["-cat", out, "which"]);
      assert.equal(stdout, want, platform);
    }
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
});
