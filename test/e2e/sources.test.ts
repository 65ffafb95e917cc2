/**
 * End to end, one image through every source kind and encoding: an OCI layout, an OCI archive
 * and a `docker save`-style archive (both made by skopeo), zstd and uncompressed layers, a Docker
 * schema-2 manifest and a multi-arch index on a real registry. The layer tars are the same, so
 * every conversion must give the same tree (extracted by unsquashfs, walked independently), the
 * same image id and — the writer being deterministic — the same SquashFS bytes. The tree itself
 * is checked once against `umoci unpack`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { convert, type ConvertOptions } from "../../src/index.js";
import {
  hermeticEnv,
  skopeo,
  startRegistry,
  tmp,
  writeLayout,
  type BuiltImage,
  type RunningRegistry,
} from "../oci/helpers.js";
import {
  assertSameTree,
  comparable,
  decodeGvmi,
  imageFromTars,
  missingTools,
  packTar,
  run,
  unsquashfs,
  walk,
  whiteoutLayers,
} from "./support.js";

const skip = missingTools("docker-registry", "skopeo", "umoci", "unsquashfs", "zstd", "python3");

let work: string;
let registry: RunningRegistry;
let gz: BuiltImage;
let arm: BuiltImage;
let reference: { tree: Map<string, Record<string, unknown>>; squashfs: Buffer; added: string[] };

const everything = (): boolean => true;
let counter = 0;

/** Convert `source`, extract it, and return the comparable tree, the SquashFS part and the trailer. */
async function convertAndWalk(source: string, extra: ConvertOptions = {}) {
  const name = `c${counter++}`;
  const result = await convert(source, {
    output: join(work, "out", `${name}.gvmi`),
    image: { cacheDir: join(work, `cache-${name}`) },
    env: hermeticEnv(work),
    ...extra,
  });
  const bytes = await readFile(result.outputPath);
  const trailer = decodeGvmi(bytes);
  unsquashfs(result.outputPath, join(work, "x", name));
  const tree = comparable(walk(join(work, "x", name)), { owners: "stat", xattrs: everything, mtime: true });
  return { result, tree, trailer, squashfs: bytes.subarray(0, trailer.squashfsSize) };
}

before(async () => {
  if (skip) return;
  work = await tmp("gvmconv-e2e-sources-");
  await mkdir(join(work, "out"));
  registry = await startRegistry(join(work, "storage"));
  const tars = await Promise.all(whiteoutLayers().map(packTar));
  gz = imageFromTars(tars, "gzip");
  const zst = imageFromTars(tars, "zstd");
  const plain = imageFromTars(tars, "none");
  // Same tars, so the same diff_ids and config: one image id, three encodings.
  assert.equal(zst.configDigest, gz.configDigest);
  assert.equal(plain.configDigest, gz.configDigest);
  const armTars = [
    ...tars,
    await packTar([{ header: { name: "arch", type: "file", mode: 0o644 }, body: "arm64\n" }]),
  ];
  arm = imageFromTars(armTars, "gzip", { architecture: "arm64" });
  await writeLayout(join(work, "layout"), [
    { kind: "image", ref: "gz", image: gz },
    { kind: "image", ref: "zst", image: zst },
    { kind: "image", ref: "plain", image: plain },
    {
      kind: "multi",
      ref: "multi",
      images: [
        { image: arm, architecture: "arm64" },
        { image: gz, architecture: "amd64" },
      ],
    },
  ]);

  const ref = await convertAndWalk(`oci:${join(work, "layout")}:gz`);
  reference = { tree: ref.tree, squashfs: ref.squashfs, added: ref.result.addedMountPoints };
});

after(async () => {
  if (skip) return;
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

async function expectSameAsReference(source: string, extra: ConvertOptions = {}): Promise<void> {
  const got = await convertAndWalk(source, extra);
  assert.equal(got.result.imageId, gz.configDigest);
  assert.equal(got.trailer.config["Image"], gz.configDigest);
  assertSameTree(got.tree, reference.tree, source);
  assert.ok(
    got.squashfs.equals(reference.squashfs),
    `${source}: SquashFS bytes identical to the oci: conversion`,
  );
}

test("the oci: conversion agrees with umoci unpack (the reference for the others)", { skip }, () => {
  run("umoci", ["unpack", "--image", `${join(work, "layout")}:gz`, join(work, "umoci")]);
  const theirs = comparable(walk(join(work, "umoci", "rootfs")), {
    owners: "stat",
    xattrs: everything,
    mtime: true,
  });
  const ours = new Map(reference.tree);
  // The mount points (the VM's init's and Docker's init layer's) are our only extras.
  assert.ok(reference.added.includes("/proc") && reference.added.includes("/etc/hosts"));
  for (const m of reference.added) {
    assert.equal(theirs.has(m.slice(1)), false, m);
    ours.delete(m.slice(1));
  }
  assertSameTree(ours, theirs, "oci: vs umoci");
});

test("oci-archive: made by skopeo", { skip }, async () => {
  const file = join(work, "image.oci.tar");
  await skopeo("copy", `oci:${join(work, "layout")}:gz`, `oci-archive:${file}:gz`);
  await expectSameAsReference(`oci-archive:${file}:gz`);
});

test("docker-archive: made by skopeo (uncompressed layers, Docker manifest.json)", { skip }, async () => {
  const file = join(work, "image.docker.tar");
  await skopeo("copy", `oci:${join(work, "layout")}:gz`, `docker-archive:${file}:e2e/img:gz`);
  await expectSameAsReference(`docker-archive:${file}:e2e/img:gz`);
  await expectSameAsReference(`docker-archive:${file}`);
});

test("zstd layers", { skip }, async () => {
  await expectSameAsReference(`oci:${join(work, "layout")}:zst`);
});

test("uncompressed layers", { skip }, async () => {
  await expectSameAsReference(`oci:${join(work, "layout")}:plain`);
});

test("a Docker schema-2 manifest from a registry", { skip }, async () => {
  await skopeo(
    "copy",
    "--dest-tls-verify=false",
    "--format",
    "v2s2",
    `oci:${join(work, "layout")}:gz`,
    `docker://${registry.host}/e2e/v2s2:1`,
  );
  await expectSameAsReference(`${registry.host}/e2e/v2s2:1`);
});

test("a multi-arch index: linux/amd64 by default, another platform on request", { skip }, async () => {
  await skopeo(
    "copy",
    "--all",
    "--dest-tls-verify=false",
    `oci:${join(work, "layout")}:multi`,
    `docker://${registry.host}/e2e/multi:1`,
  );
  await expectSameAsReference(`${registry.host}/e2e/multi:1`);
  await expectSameAsReference(`oci:${join(work, "layout")}:multi`);

  const armed = await convertAndWalk(`${registry.host}/e2e/multi:1`, {
    image: { platform: "linux/arm64", cacheDir: join(work, "cache-arm") },
    env: hermeticEnv(work),
  });
  assert.equal(armed.result.imageId, arm.configDigest);
  const expected = new Map(reference.tree);
  expected.set("arch", armed.tree.get("arch") ?? {});
  assertSameTree(armed.tree, expected, "arm64");
  assert.equal(await readFile(join(work, "x", `c${counter - 1}`, "arch"), "utf8"), "arm64\n");
});
