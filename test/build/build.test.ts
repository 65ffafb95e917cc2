/**
 * `build` end to end over OCI layouts on disk: a parent and two children, a pinned digest that
 * matches and one that does not, added directories with owners and modes, two outputs, publishing
 * to a directory and to the Golem registry stand-in; then the lock: a second run skips
 * everything, and changing one added file rebuilds exactly that image and its children. Outputs
 * are checked with the real unsquashfs.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { build, CollectingReporter, type BuildResult } from "../../src/index.js";
import { buildImage, hermeticEnv, tmp, writeLayout } from "../oci/helpers.js";
import { FakeGolemRegistry } from "../upload/fake-golem-registry.js";
import { startRegistry, type RunningRegistry } from "../oci/helpers.js";
import { startS3, type RunningS3 } from "./s3-server.js";
import { decodeGvmi } from "../e2e/support.js";
import { runCli } from "../support/cli-run.js";

const TOKEN = "tok-build-51f0";
let work = "";
let registry: FakeGolemRegistry;
let oci: RunningRegistry;
let s3: RunningS3;
let env: NodeJS.ProcessEnv;
let baseDigest = "";

before(async () => {
  work = await tmp("gvmconv-build-");
  registry = await new FakeGolemRegistry({ users: { alice: TOKEN } }).start();
  oci = await startRegistry(join(work, "oci-storage"));
  s3 = await startS3();
  assert.equal((await s3.signed("PUT", "/images")).status, 200);
  env = {
    ...hermeticEnv(work),
    REGISTRY_URL: registry.url,
    REGISTRY_USER: "alice",
    REGISTRY_TOKEN: TOKEN,
    XDG_CACHE_HOME: join(work, "cache"),
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
  const base = await buildImage({
    layers: [
      {
        files: {
          "bin/sh": "#!shell\n",
          "etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        },
        compression: "gzip",
      },
      { files: { "etc/os-release": "ID=test\n" }, compression: "none" },
    ],
  });
  baseDigest = base.manifestDigest;
  await writeLayout(join(work, "base-layout"), [{ kind: "image", ref: "v1", image: base }]);
  const other = await buildImage({ layers: [{ files: { "other.txt": "other\n" }, compression: "gzip" }] });
  await writeLayout(join(work, "other-layout"), [{ kind: "image", ref: "v2", image: other }]);

  const files = join(work, "project");
  await mkdir(join(files, "app", "lib"), { recursive: true });
  await writeFile(join(files, "app", "run.sh"), "#!/bin/sh\necho app\n");
  await writeFile(join(files, "app", "lib", "data.txt"), "data v1\n");
  await chmod(join(files, "app", "run.sh"), 0o600);
  await mkdir(join(files, "web"), { recursive: true });
  await writeFile(join(files, "web", "index.html"), "<p>hi</p>\n");
  await writeFile(join(files, "worker.conf"), "threads=2\n");
  await writeFile(
    join(files, "gvmconv.yaml"),
    `# five images: base, two children, one pin that matches (base) and one that does not
defaults:
  config:
    volumes: [/golem/work]
images:
  base:
    source: oci:${work}/base-layout:v1
    digest: ${baseDigest}
    add:
      - src: app
        dest: /opt/app
        owner: 1000
        group: 1000
        mode: "0640"
        dirMode: "0750"
    config:
      env: { APP: base }
      labels: { tier: base }
    outputs:
      - format: gvmi
      - format: squashfs
        compression: xz
    publish:
      - dir: published
      - golem: alice/base:v1
      - oci: ${oci.host}/golem/base:v1
      - s3: { endpoint: "${s3.endpoint}", bucket: images, prefix: golem }
        output: squashfs
  web:
    parent: base
    add:
      - src: web
        dest: /srv/www
    config:
      entrypoint: [/opt/app/run.sh]
      labels: { tier: web }
  worker:
    parent: base
    add:
      - src: worker.conf
        dest: /etc/worker.conf
        mode: "0600"
  other:
    source: oci:${work}/other-layout:v2
    publish:
      - dir: published
  badpin:
    source: oci:${work}/base-layout:v1
    digest: sha256:${"0".repeat(64)}
`,
  );
});
after(async () => {
  await registry.stop();
  await oci.stop();
  await s3.stop();
  await rm(work, { recursive: true, force: true });
});

const project = (): string => join(work, "project");
const run = async (): Promise<BuildResult> =>
  build(join(project(), "gvmconv.yaml"), {
    env,
    mkfsTime: 1_700_000_000,
    outputDir: join(project(), "out"),
    jobs: 2,
  });
const statuses = (r: BuildResult): Record<string, string> =>
  Object.fromEntries(
    r.images.map((i) => [
      i.name,
      i.name !== "badpin" && i.error ? `${i.status}: ${i.error.message}` : i.status,
    ]),
  );
const sha3 = async (path: string): Promise<string> =>
  createHash("sha3-224")
    .update(await readFile(path))
    .digest("hex");

/** `unsquashfs -lln` of a SquashFS (or of the SquashFS part of a .gvmi, which unsquashfs reads too): path → "mode uid/gid". */
function listing(path: string): Map<string, string> {
  const r = spawnSync("unsquashfs", ["-lln", "-o", "0", path], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const out = new Map<string, string>();
  for (const line of r.stdout.split("\n")) {
    const m = /^(\S+) (\d+)\/(\d+)\s+\d+ \S+ \S+ squashfs-root(\S*)/.exec(line);
    if (m) out.set(m[4] === "" ? "/" : m[4]!, `${m[1]} ${m[2]}/${m[3]}`);
  }
  return out;
}

let first: BuildResult;

test("a first build builds every image, refuses the wrong pin, and publishes", async () => {
  first = await run();
  assert.deepEqual(statuses(first), {
    badpin: "failed",
    base: "built",
    other: "built",
    web: "built",
    worker: "built",
  });
  assert.equal(first.ok, false, "one image failed, so the build did not succeed");
  const bad = first.images.find((i) => i.name === "badpin")!;
  assert.equal((bad.error as { code?: string }).code, "E_BUILD_DIGEST_MISMATCH");
  assert.match(bad.error!.message, new RegExp(baseDigest));

  const base = first.images.find((i) => i.name === "base")!;
  assert.equal(base.digest, baseDigest);
  assert.deepEqual(
    base.outputs.map((o) => o.file),
    ["base-v1.gvmi", "base-v1.squashfs"],
  );
  for (const o of base.outputs) assert.equal(o.sha3, await sha3(o.path));
  // Published: byte-identical copy in the directory, and the Golem registry holds the file.
  assert.equal(await sha3(join(project(), "published", "base-v1.gvmi")), base.outputs[0]!.sha3);
  const golem = base.published.find((p) => p.kind === "golem")!;
  const descr = registry.tags.get("alice/base:v1");
  assert.ok(descr !== undefined, "the tag was attached");
  assert.ok(registry.assembled(descr)?.equals(await readFile(base.outputs[0]!.path)));
  assert.match(golem.location, /^http:\/\/127\.0\.0\.1/);
  // The OCI artifact's layer and the S3 object are the files themselves.
  const artifact = base.published.find((p) => p.kind === "oci")!;
  const manifest = JSON.parse(
    await (
      await request(`http://${oci.host}/v2/golem/base/manifests/${artifact.location.split("@")[1]}`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      })
    ).body.text(),
  ) as { layers: { digest: string }[] };
  const blob = await request(`http://${oci.host}/v2/golem/base/blobs/${manifest.layers[0]!.digest}`);
  assert.ok(Buffer.from(await blob.body.arrayBuffer()).equals(await readFile(base.outputs[0]!.path)));
  const object = base.published.find((p) => p.kind === "s3")!;
  assert.equal(object.location, `${s3.endpoint}/images/golem/base-v1.squashfs`);
  const back = await s3.signed("GET", "/images/golem/base-v1.squashfs");
  assert.ok(back.body.equals(await readFile(base.outputs[1]!.path)), "the squashfs output went to S3");
});

test("added directories carry the owners and modes asked for; children hold their parent's layers", () => {
  const base = listing(join(project(), "out", "base-v1.squashfs"));
  assert.equal(base.get("/opt/app"), "drwxr-x--- 1000/1000");
  assert.equal(base.get("/opt/app/run.sh"), "-rw-r----- 1000/1000");
  assert.equal(base.get("/opt/app/lib"), "drwxr-x--- 1000/1000");
  assert.equal(base.get("/opt/app/lib/data.txt"), "-rw-r----- 1000/1000");
  assert.ok(base.has("/etc/os-release") && base.has("/bin/sh"), "the image's own layers are below");

  const web = listing(join(project(), "out", "web-v1.gvmi"));
  assert.equal(web.get("/opt/app/run.sh"), "-rw-r----- 1000/1000", "the parent's added layer");
  assert.equal(web.get("/srv/www/index.html")?.split(" ")[1], "0/0", "root-owned by default, as COPY");
  const worker = listing(join(project(), "out", "worker-v1.gvmi"));
  assert.equal(worker.get("/etc/worker.conf"), "-rw------- 0/0");
  assert.equal(worker.has("/srv/www"), false, "a sibling's layer is not there");
});

test("config is merged over the image's, defaults under the image's own, child over parent", async () => {
  const web = decodeGvmi(await readFile(join(project(), "out", "web-v1.gvmi"))).config as Record<
    string,
    unknown
  >;
  assert.deepEqual(web["Entrypoint"], ["/opt/app/run.sh"]);
  assert.ok((web["Env"] as string[]).includes("APP=base"));
  assert.deepEqual(web["Labels"], { tier: "web" });
  assert.deepEqual(Object.keys(web["Volumes"] as object), ["/golem/work"]);
});

test("a second run skips every unchanged image and says so; outputs are untouched", async () => {
  const reporter = new CollectingReporter();
  const lines = reporter.infos;
  const again = await build(join(project(), "gvmconv.yaml"), {
    env,
    mkfsTime: 1_700_000_000,
    outputDir: join(project(), "out"),
    reporter,
  });
  assert.deepEqual(statuses(again), {
    badpin: "failed",
    base: "skipped",
    other: "skipped",
    web: "skipped",
    worker: "skipped",
  });
  assert.ok(
    lines.some((l) => /^web: unchanged since the lock .*skipped$/.test(l)),
    lines.join("\n"),
  );
  for (const i of again.images.filter((x) => x.status === "skipped")) {
    const before = first.images.find((x) => x.name === i.name)!;
    assert.deepEqual(
      i.outputs.map((o) => o.sha3),
      before.outputs.map((o) => o.sha3),
    );
  }
});

test("an output changed in place (same size) is noticed and rebuilt, however warm the hash memo", async () => {
  const path = join(project(), "out", "other-v2.gvmi");
  const handle = await open(path, "r+");
  await handle.write(Buffer.from([0x5a]), 0, 1, 100);
  await handle.close();
  const r = await run();
  assert.equal(statuses(r)["other"], "built");
  assert.equal(r.images.filter((i) => i.status === "skipped").length, 3);
  assert.equal(await sha3(path), first.images.find((i) => i.name === "other")!.outputs[0]!.sha3);
});

test("changing one added file rebuilds exactly that image and its children", async () => {
  await writeFile(join(project(), "worker.conf"), "threads=4\n");
  const leaf = await run();
  assert.deepEqual(statuses(leaf), {
    badpin: "failed",
    base: "skipped",
    other: "skipped",
    web: "skipped",
    worker: "built",
  });

  await writeFile(join(project(), "app", "lib", "data.txt"), "data v2\n");
  const parent = await run();
  assert.deepEqual(statuses(parent), {
    badpin: "failed",
    base: "built",
    other: "skipped",
    web: "built",
    worker: "built",
  });
  const web = parent.images.find((i) => i.name === "web")!;
  assert.notEqual(web.outputs[0]!.sha3, first.images.find((i) => i.name === "web")!.outputs[0]!.sha3);
});

test("--force rebuilds the same bytes (the outputs are reproducible)", async () => {
  const before = JSON.parse(await readFile(join(project(), "gvmconv.lock"), "utf8")) as {
    images: Record<string, { outputs: { sha3: string }[] }>;
  };
  const forced = await build(join(project(), "gvmconv.yaml"), {
    env,
    mkfsTime: 1_700_000_000,
    outputDir: join(project(), "out"),
    force: true,
    only: ["web", "other"],
  });
  assert.deepEqual(statuses(forced), { other: "built", web: "built" });
  for (const i of forced.images) assert.equal(i.outputs[0]!.sha3, before.images[i.name]!.outputs[0]!.sha3);
});

test("the CLI prints the summary table, --json the same per image, and exits 1 when one failed", async () => {
  const table = await runCli(
    ["build", join(project(), "gvmconv.yaml"), "-o", join(project(), "out"), "--mkfs-time", "1700000000"],
    { env },
  );
  assert.equal(table.code, 1);
  assert.match(table.stdout, /^IMAGE +STATUS +SOURCE DIGEST +OUTPUT +SIZE +SHA3-224 +PUBLISHED$/m);
  assert.match(table.stdout, /^web +skipped +[0-9a-f]{12} +web-v1\.gvmi /m);
  assert.match(table.stdout, /^0 built, 4 skipped, 1 failed$/m);
  assert.match(table.stderr, /error \[E_BUILD_DIGEST_MISMATCH\]: image badpin/);

  const json = await runCli(
    [
      "build",
      join(project(), "gvmconv.yaml"),
      "-o",
      join(project(), "out"),
      "--mkfs-time",
      "1700000000",
      "--json",
      "--only",
      "base",
    ],
    { env },
  );
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as {
    ok: boolean;
    images: {
      name: string;
      status: string;
      digest: string;
      outputs: { sha3: string }[];
      published: { kind: string }[];
    }[];
  };
  assert.equal(doc.ok, true);
  assert.deepEqual(
    doc.images.map((i) => [i.name, i.status, i.digest]),
    [["base", "skipped", baseDigest]],
  );
  assert.deepEqual(
    doc.images[0]!.published.map((p) => p.kind),
    ["dir", "golem", "oci", "s3"],
  );
});
