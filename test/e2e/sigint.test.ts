/**
 * Ctrl-C at chosen moments of a real run: the CLI as a child process against the hostile
 * registry (in front of a real docker-registry) and the Golem stand-in, each holding a request at
 * a known point — the manifest, the middle of a layer, the base layer while the top one is
 * already written into the output, a chunk of the upload — so SIGINT arrives exactly there, with
 * no sleeps. Each time: exit status 130, no temporary output, nothing in the cache's `tmp/`, no
 * lock file; a partial download, if any, is a true prefix of its blob; and the next run is
 * correct (the same bytes as an uninterrupted run), resuming the partial with Range.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  buildImage,
  hermeticEnv,
  pushImage,
  startRegistry,
  tmp,
  type BuiltImage,
  type RunningRegistry,
} from "../oci/helpers.js";
import { startHostileRegistry, type HostileRegistry } from "../support/hostile-registry.js";
import { FakeGolemRegistry } from "../upload/fake-golem-registry.js";
import { cli, missingTools, noise, repoRoot, sha256File } from "./support.js";

const skip = missingTools("docker-registry", "skopeo");
const MAIN = join(repoRoot, "build", "src", "cli", "main.js");
const TOKEN = "tok-sigint-4c1d";

let work: string;
let backend: RunningRegistry;
let hostile: HostileRegistry;
let image: BuiltImage;
let env: Record<string, string | undefined>;
let reference: string;

before(async () => {
  if (skip) return;
  work = await tmp("gvmconv-sigint-");
  backend = await startRegistry(join(work, "storage"));
  image = await buildImage({
    layers: [
      { files: { "etc/hostname": "golem\n" }, compression: "gzip" },
      // ~1.5 MB once compressed: more than the writer's 1 MiB batch, so some of it reaches the disk.
      { files: { "data.b64": noise(1_500_000, "sigint").toString("base64") }, compression: "gzip" },
    ],
  });
  await pushImage(image, `${backend.host}/sigint/img:1`, work);
  hostile = await startHostileRegistry({ backendPort: backend.port });
  env = { ...hermeticEnv(work), GVMCONV_KEYRING: "0" };
  const out = join(work, "reference.gvmi");
  const r = await cli(
    [`${backend.host}/sigint/img:1`, "-o", out, "--cache-dir", join(work, "cache-ref"), "-q"],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  reference = sha256File(out);
});

after(async () => {
  if (skip) return;
  await hostile.stop();
  await backend.stop();
  await rm(work, { recursive: true, force: true });
});

interface Child {
  exited: Promise<{ code: number | null; signal: string | null; stderr: string }>;
  interrupt(): void;
}

function start(argv: string[], extraEnv: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [MAIN, ...argv], {
    env: { ...env, ...extraEnv },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, stderr })),
  );
  return { exited, interrupt: () => child.kill("SIGINT") };
}

/** Waits (bounded) until `check` holds: for the client side of a point the server already reached. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await sleep(10);
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function list(dir: string): Promise<string[]> {
  return (await readdir(dir).catch((): string[] => [])).sort();
}

/**
 * What Ctrl-C must leave: no output temp, an empty cache tmp/, no lock; partials that are
 * prefixes of their blobs (possibly all of it: a download interrupted between its last write
 * and its rename, which the next run verifies and admits without a request).
 */
async function assertClean(out: string, cache: string): Promise<Map<string, number>> {
  assert.deepEqual(
    (await list(out)).filter((f) => f.endsWith(".tmp")),
    [],
    "no temporary output",
  );
  assert.deepEqual(await list(join(cache, "tmp")), [], "nothing in the cache's tmp/");
  const partials = new Map<string, number>();
  for (const name of await list(join(cache, "partial"))) {
    assert.ok(!name.endsWith(".lock"), `lock file left: ${name}`);
    const digest = `sha256:${name.replace(/^sha256-/, "")}`;
    const bytes = await readFile(join(cache, "partial", name));
    const blob = image.blobs.get(digest);
    assert.ok(blob !== undefined, `partial of an unknown blob ${name}`);
    assert.ok(
      bytes.length <= blob.length && bytes.equals(blob.subarray(0, bytes.length)),
      `${name} is a prefix`,
    );
    partials.set(digest, bytes.length);
  }
  return partials;
}

let n = 0;
async function dirs(): Promise<{ out: string; cache: string; argv: string[] }> {
  const out = join(work, `out-${n}`);
  const cache = join(work, `cache-${n++}`);
  await mkdir(out);
  return {
    out,
    cache,
    argv: [`${hostile.host}/sigint/img:1`, "-o", join(out, "img.gvmi"), "--cache-dir", cache, "-q"],
  };
}

async function interruptedThenCorrect(
  label: string,
  point: () => Promise<void>,
  opts: { expectPartial?: string } = {},
): Promise<void> {
  const { out, cache, argv } = await dirs();
  const child = start(argv);
  await point();
  child.interrupt();
  const { code, stderr } = await child.exited;
  hostile.reset();
  assert.equal(code, 130, `${label}: exit status (stderr: ${stderr})`);
  assert.deepEqual(await list(out), [], `${label}: nothing at the destination`);
  const partials = await assertClean(out, cache);
  if (opts.expectPartial !== undefined) {
    const kept = partials.get(opts.expectPartial);
    assert.ok(kept !== undefined && kept > 0, `${label}: the partial download is kept to resume`);
    const r = await cli(argv, env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      hostile.log.some((l) => l.url.includes(opts.expectPartial!.slice(7)) && l.range === `bytes=${kept}-`),
      `${label}: the next run resumed from byte ${kept}`,
    );
  } else {
    const r = await cli(argv, env);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal(sha256File(join(out, "img.gvmi")), reference, `${label}: the next run is correct`);
  hostile.reset();
}

test("SIGINT while the manifest is being fetched", { skip }, async () => {
  hostile.reset();
  hostile.fault({ on: "manifest", mode: { kind: "pause", after: -1 }, times: 1 });
  await interruptedThenCorrect("manifest", async () => {
    await hostile.paused();
  });
});

test(
  "SIGINT in the middle of a layer download: the partial is a prefix and is resumed",
  { skip },
  async () => {
    hostile.reset();
    const big = image.layerDigests[1] ?? "";
    hostile.fault({ on: { digest: big }, mode: { kind: "pause", after: 100_000 }, times: 1 });
    let cache = "";
    await interruptedThenCorrect(
      "mid-layer",
      async () => {
        await hostile.paused();
        cache = join(work, `cache-${n - 1}`);
        const partial = join(cache, "partial", `sha256-${big.slice(7)}`);
        await until(
          "100000 bytes on disk",
          async () => ((await stat(partial).catch(() => undefined))?.size ?? 0) >= 100_000,
        );
      },
      { expectPartial: big },
    );
  },
);

test(
  "SIGINT while the output is being written (the base layer held, the top one merged)",
  { skip },
  async () => {
    hostile.reset();
    const base = image.layerDigests[0] ?? "";
    hostile.fault({ on: { digest: base }, mode: { kind: "pause", after: 10 }, times: 1 });
    await interruptedThenCorrect("writing", async () => {
      await hostile.paused();
      const out = join(work, `out-${n - 1}`);
      // The top layer's data is in the temporary output before the merge waits for the base.
      await until("the temporary output to hold the top layer", async () => {
        for (const f of await list(out)) {
          if (f.endsWith(".tmp") && (await stat(join(out, f))).size > 300_000) return true;
        }
        return false;
      });
    });
  },
);

test("SIGINT during the upload: the image stays whole, the next run resumes the push", { skip }, async () => {
  hostile.reset();
  let hold = true;
  const golem = await new FakeGolemRegistry({
    users: { alice: TOKEN },
    fault: (path) => (hold && path === "/v1/image/push/chunk" ? { kind: "pause" } : undefined),
  }).start();
  try {
    const { out, cache } = await dirs();
    const argv = [
      `${hostile.host}/sigint/img:1`,
      "-o",
      join(out, "img.gvmi"),
      "--cache-dir",
      cache,
      "--push-to",
      "alice/app:v1",
      "--upload-chunk-size",
      "262144",
      "-q",
    ];
    const pushEnv = { REGISTRY_URL: golem.url, REGISTRY_USER: "alice", REGISTRY_TOKEN: TOKEN };
    const child = start(argv, pushEnv);
    await golem.paused();
    child.interrupt();
    const { code, stderr } = await child.exited;
    hold = false;
    golem.release();
    assert.equal(code, 130, stderr);
    await assertClean(out, cache);
    // The image was complete before the upload began: it is there, whole, with its descriptor.
    assert.deepEqual(await list(out), ["img.gvmi", "img.gvmi.descr.bin"]);
    assert.equal(sha256File(join(out, "img.gvmi")), reference);
    assert.equal(golem.tags.size, 0, "not attached");
    const r = await cli(argv, { ...env, ...pushEnv });
    assert.equal(r.code, 0, r.stderr);
    const sha = golem.tags.get("alice/app:v1");
    assert.ok(sha !== undefined, "attached by the second run");
    assert.ok(
      golem.assembled(sha)?.equals(await readFile(join(out, "img.gvmi"))),
      "the registry has the image",
    );
  } finally {
    await golem.stop();
  }
});
