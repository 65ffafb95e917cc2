/**
 * Which images a build runs and in what order: --shard partitions, --only on a child whose parent
 * is not selected, a failed parent failing its children only, --fail-fast, parents before
 * children within --jobs, and a local source that changed under its lock.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build, CollectingReporter, type BuildFileSpec } from "../../src/index.js";
import { buildImage, hermeticEnv, tmp, writeLayout } from "../oci/helpers.js";

let work = "";
let env: NodeJS.ProcessEnv;
let layout = "";

before(async () => {
  work = await tmp("gvmconv-build-select-");
  env = { ...hermeticEnv(work), XDG_CACHE_HOME: join(work, "cache") };
  layout = join(work, "layout");
  const image = await buildImage({ layers: [{ files: { "etc/hostname": "vm\n" }, compression: "gzip" }] });
  await writeLayout(layout, [{ kind: "image", ref: "v1", image }]);
  await writeFile(join(work, "extra.txt"), "extra\n");
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const spec = (): BuildFileSpec => ({
  defaults: { config: { volumes: ["/data"] } },
  images: {
    a: { source: `oci:${layout}:v1` },
    b: { source: `oci:${layout}:v1`, add: [{ src: "extra.txt", dest: "/etc/extra.txt" }] },
    c: { parent: "b", config: { env: ["C=1"] } },
    d: { source: `oci:${layout}:v1` },
    e: { parent: "c" },
  },
});

test("--shard i/n puts every image in exactly one shard", async () => {
  const seen: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const r = await build(spec(), {
      env,
      baseDir: work,
      outputDir: join(work, `shard-${i}`),
      shard: { index: i, count: 3 },
    });
    assert.equal(r.ok, true);
    seen.push(...r.images.map((x) => x.name));
  }
  assert.deepEqual(seen.sort(), ["a", "b", "c", "d", "e"]);
});

test("--only a child builds it from its parent's recipe, without the parent's output", async () => {
  const out = join(work, "only");
  const r = await build(spec(), { env, baseDir: work, outputDir: out, only: ["e"] });
  assert.deepEqual(
    r.images.map((x) => [x.name, x.status]),
    [["e", "built"]],
  );
  assert.deepEqual(
    r.images[0]!.outputs.map((o) => o.file),
    ["e-v1.gvmi"],
  );
  await assert.rejects(
    build(spec(), { env, baseDir: work, outputDir: out, only: ["zz"] }),
    /--only zz: the build file has no such image/,
  );
});

test("a failed parent fails its children only; --fail-fast starts nothing after a failure", async () => {
  const broken = spec();
  broken.images["b"]!.add = [{ src: "missing-dir", dest: "/x" }];
  // A missing add source is found when the plan is made, before any image runs.
  await assert.rejects(
    build(broken, { env, baseDir: work, outputDir: join(work, "broken") }),
    /missing-dir does not exist/,
  );

  const pinned = spec();
  pinned.images["b"]!.digest = `sha256:${"1".repeat(64)}`;
  const r = await build(pinned, { env, baseDir: work, outputDir: join(work, "pinned"), jobs: 1 });
  const status = Object.fromEntries(
    r.images.map((x) => [x.name, `${x.status}${x.error ? ` ${(x.error as { code?: string }).code}` : ""}`]),
  );
  assert.deepEqual(status, {
    a: "built",
    b: "failed E_BUILD_DIGEST_MISMATCH",
    c: "failed E_BUILD_PARENT_FAILED",
    d: "built",
    e: "failed E_BUILD_PARENT_FAILED",
  });
  assert.equal(r.ok, false);

  const ff = await build(pinned, {
    env,
    baseDir: work,
    outputDir: join(work, "ff"),
    jobs: 1,
    failFast: true,
    only: ["b", "d"],
  });
  assert.deepEqual(
    ff.images.map((x) => [x.name, x.status]),
    [
      ["b", "failed"],
      ["d", "failed"],
    ],
  );
  assert.match(ff.images[1]!.error!.message, /--fail-fast/);
});

test("parents start before their children, and images run side by side within --jobs", async () => {
  const reporter = new CollectingReporter();
  const order: string[] = [];
  const tracking = {
    warn: reporter.warn.bind(reporter),
    info: (m: string) => reporter.info(m),
    task: (label: string) => {
      const name = label.split(":")[0]!;
      if (label.includes("writing") && !order.includes(name)) order.push(name);
      return { advance() {}, setTotal() {}, done() {} };
    },
  };
  const r = await build(spec(), {
    env,
    baseDir: work,
    outputDir: join(work, "order"),
    jobs: 2,
    reporter: tracking,
  });
  assert.equal(r.ok, true);
  assert.ok(
    order.indexOf("b") < order.indexOf("c") && order.indexOf("c") < order.indexOf("e"),
    order.join(" "),
  );
});

test("a local source that changed under its lock is refused until --update", async () => {
  const out = join(work, "relock");
  const s = { images: { a: { source: `oci:${layout}:v1` } } };
  assert.equal((await build(s, { env, baseDir: work, outputDir: out })).ok, true);
  const other = await buildImage({
    layers: [{ files: { "etc/hostname": "changed\n" }, compression: "gzip" }],
  });
  await writeLayout(layout, [{ kind: "image", ref: "v1", image: other }]);
  const stale = await build(s, { env, baseDir: work, outputDir: out, force: true });
  assert.equal((stale.images[0]!.error as { code?: string }).code, "E_BUILD_LOCK");
  assert.match(stale.images[0]!.error!.message, /--update a|the lock says/);
  const updated = await build(s, { env, baseDir: work, outputDir: out, update: ["a"] });
  assert.equal(updated.images[0]!.status, "built");
  assert.equal(updated.images[0]!.digest, other.manifestDigest);
});

test("a pin may name the index of a multi-platform image as well as the platform's manifest", async () => {
  const amd = await buildImage({ layers: [{ files: { "etc/arch": "amd64\n" }, compression: "gzip" }] });
  const arm = await buildImage({
    architecture: "arm64",
    layers: [{ files: { "etc/arch": "arm64\n" }, compression: "gzip" }],
  });
  const multi = join(work, "multi");
  await writeLayout(multi, [
    {
      kind: "multi",
      ref: "m",
      images: [
        { image: amd, architecture: "amd64" },
        { image: arm, architecture: "arm64" },
      ],
    },
  ]);
  const index = JSON.parse(await readFile(join(multi, "index.json"), "utf8")) as {
    manifests: { digest: string }[];
  };
  const indexDigest = index.manifests[0]!.digest;
  const r = await build(
    {
      images: {
        byindex: { source: `oci:${multi}:m`, digest: indexDigest, platform: "linux/arm64" },
        bymanifest: { source: `oci:${multi}:m`, digest: arm.manifestDigest, platform: "linux/arm64" },
        wrong: { source: `oci:${multi}:m`, digest: amd.manifestDigest, platform: "linux/arm64" },
      },
    },
    { env, baseDir: work, outputDir: join(work, "multi-out") },
  );
  const status = Object.fromEntries(r.images.map((x) => [x.name, x.status]));
  assert.deepEqual(status, { byindex: "built", bymanifest: "built", wrong: "failed" });
  assert.equal(r.images[0]!.digest, arm.manifestDigest, "the lock records the platform's manifest");
});
