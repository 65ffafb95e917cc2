/**
 * Before any layer: `gvmconv inspect REF` and `gvmconv SOURCE --dry-run` (planConvert) against a
 * real docker-registry on 127.0.0.1 holding a two-platform image, the early warnings (no volume,
 * a USER dropped, a non-amd64 platform) reported before the first layer request reaches the
 * registry, and a run stopped through its AbortSignal — mid-download from the registry and
 * mid-write, through the library (convert and buildSquashfs), and by Ctrl-C (SIGINT) in the CLI — as one E_ABORTED
 * failure with nothing partial left. A logging proxy in front of the registry is the witness of
 * what was requested, and when; it can stall a chosen blob mid-body.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, rm } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { join } from "node:path";
import {
  buildSquashfs,
  convert,
  isGvmconvError,
  planConvert,
  type ProgressTask,
  type Reporter,
} from "../../src/index.js";
import { BlobCache } from "../../src/oci/index.js";
import {
  assembleImage,
  hermeticEnv,
  layerTar,
  skopeo,
  startRegistry,
  tmp,
  writeLayout,
  type BuiltImage,
  type RunningRegistry,
} from "../oci/helpers.js";
import { cli, decodeGvmi, packTar, repoRoot } from "./support.js";

let work: string;
let env: Record<string, string | undefined>;
let registry: RunningRegistry;
let amd64: BuiltImage;
let arm64: BuiltImage;
/** The big (incompressible) layer of the amd64 image: the one the abort tests cut. */
let bigLayer: string;
let indexDigest: string;

/** What the proxy saw (`GET /v2/…`) and what the reporter said (`WARN W_…`), in order. */
type Event = { what: string; at: number };

interface LoggingProxy {
  host: string;
  events: Event[];
  /** Blob digests whose body stops after its first chunk until the client goes away. */
  stall: Set<string>;
  /** Called when a GET for a stalled blob arrives. */
  onStall: (() => void) | undefined;
  close(): Promise<void>;
}

async function startLoggingProxy(target: RunningRegistry): Promise<LoggingProxy> {
  const proxy: LoggingProxy = {
    host: "",
    events: [],
    stall: new Set(),
    onStall: undefined,
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    proxy.events.push({ what: `${req.method} ${req.url}`, at: Date.now() });
    const stalled = [...proxy.stall].some((d) => req.url?.endsWith(`/blobs/${d}`) === true);
    const up = httpRequest(
      {
        host: "127.0.0.1",
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (!stalled) {
          ur.pipe(res);
          return;
        }
        ur.once("data", (c: Buffer) => {
          ur.pause();
          res.write(c.subarray(0, Math.min(c.length, 4096)));
          proxy.onStall?.();
        });
        res.on("close", () => ur.destroy());
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return proxy;
}

const layerGets = (events: Event[], image: BuiltImage): Event[] =>
  events.filter(
    (e) => e.what.startsWith("GET ") && image.layerDigests.some((d) => e.what.endsWith(`/blobs/${d}`)),
  );

before(async () => {
  work = await tmp("gvmconv-e2e-plan-");
  env = hermeticEnv(work);
  const config = (architecture: string) => ({
    architecture,
    os: "linux",
    config: { User: "app", Env: ["PATH=/bin"], Cmd: ["/bin/app"], WorkingDir: "/srv" },
  });
  amd64 = assembleImage(
    [
      { tar: await layerTar({ "bin/app": "#!/bin/sh\n" }), compression: "gzip" },
      // Random bytes do not compress: a 3 MiB blob, big enough to stop in the middle.
      { tar: await layerTar({ "data.bin": randomBytes(3 << 20).toString("latin1") }), compression: "gzip" },
    ],
    config("amd64"),
  );
  arm64 = assembleImage(
    [{ tar: await layerTar({ "bin/app": "#!/bin/sh\n# arm\n" }), compression: "gzip" }],
    config("arm64"),
  );
  bigLayer = amd64.layerDigests[1]!;
  await writeLayout(join(work, "layout"), [
    {
      kind: "multi",
      ref: "multi",
      images: [
        { image: amd64, architecture: "amd64" },
        { image: arm64, architecture: "arm64" },
      ],
    },
    { kind: "image", ref: "amd64", image: amd64 },
  ]);
  registry = await startRegistry(join(work, "storage"));
  await skopeo(
    "copy",
    "--all",
    "--preserve-digests",
    "--dest-tls-verify=false",
    `oci:${join(work, "layout")}:multi`,
    `docker://${registry.host}/plan/img:1`,
  );
  const index = await new Promise<Buffer>((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port: registry.port,
        path: "/v2/plan/img/manifests/1",
        headers: { accept: "application/vnd.oci.image.index.v1+json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks)));
      },
    );
    req.on("error", reject);
    req.end();
  });
  indexDigest = `sha256:${createHash("sha256").update(index).digest("hex")}`;
});

after(async () => {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

let n = 0;
async function fresh(): Promise<{ dir: string; cache: string }> {
  const dir = join(work, `run-${n++}`);
  await mkdir(dir);
  return { dir, cache: join(dir, "..", `cache-${n}`) };
}

interface Plan {
  digest: string;
  imageId: string;
  platform: string;
  platforms: string[];
  outputPath: string;
  output: string;
  containerConfig: Record<string, unknown>;
  mountPoints: string[];
  layers: { digest: string; size: number }[];
  warnings: { code: string }[];
}

test("inspect REF: digest, platforms on offer, the trailer's config, mount points, warnings — no layer fetched, nothing written", async () => {
  const proxy = await startLoggingProxy(registry);
  const { dir, cache } = await fresh();
  try {
    const ref = `docker://${proxy.host}/plan/img:1`;
    const r = await cli(["inspect", ref, "--json", "--cache-dir", cache], env);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as Plan;
    assert.equal(plan.digest, indexDigest);
    assert.equal(plan.imageId, amd64.configDigest);
    assert.equal(plan.platform, "linux/amd64");
    assert.deepEqual([...plan.platforms].sort(), ["linux/amd64", "linux/arm64"]);
    assert.equal(plan.containerConfig["Image"], amd64.configDigest);
    assert.deepEqual(plan.containerConfig["Env"], ["PATH=/bin"]);
    assert.equal(plan.containerConfig["User"], undefined, "USER dropped");
    assert.ok(plan.mountPoints.includes("/proc") && plan.mountPoints.includes("/etc/hosts"));
    assert.deepEqual(
      plan.layers.map((l) => l.digest),
      amd64.layerDigests,
    );
    assert.deepEqual(plan.warnings.map((w) => w.code).sort(), ["W_GVMI_NO_VOLUMES", "W_GVMI_USER_DROPPED"]);
    assert.deepEqual(layerGets(proxy.events, amd64), [], "no layer requested");
    assert.deepEqual(await readdir(dir), [], "nothing written");
    // The CLI only formats the library's plan.
    const lib = await planConvert(ref, { env, image: { cacheDir: cache, engine: false } });
    assert.deepEqual(JSON.parse(JSON.stringify(lib)), plan);

    const human = await cli(["inspect", ref, "--cache-dir", cache], env);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^digest: +${indexDigest}$`, "m"));
    assert.match(human.stdout, /^platforms: +linux\/amd64, linux\/arm64$/m);
    assert.match(human.stdout, /^warning W_GVMI_NO_VOLUMES: /m);
    // An OCI layout on disk is described the same way.
    const local = await cli(["inspect", `oci:${join(work, "layout")}:multi`, "--json"], env);
    assert.equal(local.code, 0, local.stderr);
    assert.deepEqual((JSON.parse(local.stdout) as Plan).platforms.sort(), ["linux/amd64", "linux/arm64"]);
  } finally {
    await proxy.close();
  }
});

test("--dry-run applies --env/--volume to the planned trailer, warns for arm64 and writes nothing", async () => {
  const proxy = await startLoggingProxy(registry);
  const { dir, cache } = await fresh();
  try {
    const ref = `docker://${proxy.host}/plan/img:1`;
    const out = join(dir, "app.gvmi");
    const r = await cli(
      [ref, "-o", out, "--volume", "/data", "--env", "A=1", "--dry-run", "--json", "--cache-dir", cache],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as Plan;
    assert.deepEqual(plan.containerConfig["Volumes"], { "/data": {} });
    assert.deepEqual(plan.containerConfig["Env"], ["PATH=/bin", "A=1"]);
    assert.equal(plan.outputPath, out);
    assert.equal(plan.output, "create");
    assert.deepEqual(
      plan.warnings.map((w) => w.code),
      ["W_GVMI_USER_DROPPED"],
    );

    // --platform takes an architecture alone, as docker does.
    const arm = await cli([ref, "-o", out, "--platform", "arm64", "--dry-run", "--cache-dir", cache], env);
    assert.equal(arm.code, 0, arm.stderr);
    assert.match(arm.stdout, /^platform: +linux\/arm64$/m);
    assert.match(arm.stdout, /^image id: +sha256:/m);
    // Reported on stderr as a real run reports it, not repeated in the plan.
    assert.match(arm.stderr, /^gvmconv: warning \[W_GVMI_PLATFORM_NOT_AMD64\]: the image is linux\/arm64/m);
    assert.doesNotMatch(arm.stdout, /W_GVMI/);
    assert.ok(arm.stdout.includes(arm64.configDigest));

    assert.deepEqual(layerGets(proxy.events, amd64), []);
    assert.deepEqual(layerGets(proxy.events, arm64), []);
    assert.deepEqual(await readdir(dir), [], "no output, no descriptor, no temporary file");
  } finally {
    await proxy.close();
  }
});

test("the warnings come before the first layer request reaches the registry; --env NOEQUALS is refused before it", async () => {
  const proxy = await startLoggingProxy(registry);
  const { dir, cache } = await fresh();
  try {
    const events = proxy.events;
    const reporter: Reporter = {
      info: () => {},
      warn: (w) => events.push({ what: `WARN ${w.code}`, at: Date.now() }),
      task: (): ProgressTask => ({ advance() {}, setTotal() {}, done() {} }),
    };
    const result = await convert(`docker://${proxy.host}/plan/img:1`, {
      env,
      reporter,
      output: join(dir, "arm.gvmi"),
      image: { platform: "linux/arm64", cacheDir: cache, engine: false },
    });
    assert.equal(result.kept, false);
    const order = events.map((e) => e.what);
    const firstLayer = order.findIndex((w) => arm64.layerDigests.some((d) => w.endsWith(`/blobs/${d}`)));
    assert.ok(firstLayer > 0, `a layer was fetched: ${order.join("\n")}`);
    for (const code of ["W_GVMI_PLATFORM_NOT_AMD64", "W_GVMI_NO_VOLUMES", "W_GVMI_USER_DROPPED"]) {
      const at = order.indexOf(`WARN ${code}`);
      assert.ok(at >= 0 && at < firstLayer, `${code} before the first layer request:\n${order.join("\n")}`);
    }

    const before = events.length;
    const bad = await cli(
      [
        `docker://${proxy.host}/plan/img:1`,
        "-o",
        join(dir, "x.gvmi"),
        "--env",
        "NOEQUALS",
        "--cache-dir",
        join(dir, "c2"),
      ],
      env,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error \[E_GVMI_CONFIG\]: environment override "NOEQUALS" is not KEY=VALUE/);
    assert.deepEqual(layerGets(events.slice(before), amd64), [], "refused before any layer");
    assert.ok(!(await readdir(dir)).includes("x.gvmi"));
  } finally {
    await proxy.close();
  }
});

const isAborted = (e: unknown): boolean =>
  isGvmconvError(e) && e.code === "E_ABORTED" && e.name === "AbortError";

test("abort mid-download (library signal): one E_ABORTED AbortError, no output, no complete blob cached; the next run finishes", async () => {
  const proxy = await startLoggingProxy(registry);
  const { dir, cache } = await fresh();
  try {
    proxy.stall.add(bigLayer);
    const controller = new AbortController();
    proxy.onStall = () => controller.abort();
    const out = join(dir, "app.gvmi");
    const options = {
      env,
      output: out,
      signal: controller.signal,
      overrides: { volumes: ["/data"] },
      image: { cacheDir: cache, engine: false },
    };
    await assert.rejects(convert(`docker://${proxy.host}/plan/img:1`, options), isAborted);
    assert.deepEqual(await readdir(dir), [], "no output, no temporary file");
    assert.equal(await new BlobCache(cache).has(bigLayer), false, "no cache entry for the cut blob");

    proxy.stall.clear();
    const done = await convert(`docker://${proxy.host}/plan/img:1`, { ...options, signal: undefined });
    assert.equal(done.kept, false);
    assert.equal(decodeGvmi(await readFile(out)).config["Image"], amd64.configDigest);
  } finally {
    await proxy.close();
  }
});

test("abort mid-write (library signal): E_ABORTED, and neither the output nor a temporary file is left", async () => {
  const { dir, cache } = await fresh();
  const controller = new AbortController();
  let writing = false;
  const reporter: Reporter = {
    info: () => {},
    warn: () => {},
    task: (label): ProgressTask => ({
      advance() {
        if (label === "writing" && !writing) {
          writing = true;
          controller.abort();
        }
      },
      setTotal() {},
      done() {},
    }),
  };
  await assert.rejects(
    convert(`oci:${join(work, "layout")}:amd64`, {
      env,
      reporter,
      output: join(dir, "app.gvmi"),
      signal: controller.signal,
      image: { cacheDir: cache },
    }),
    isAborted,
  );
  assert.ok(writing, "the abort came while writing");
  assert.deepEqual(await readdir(dir), []);
});

test("Ctrl-C (SIGINT) in the CLI mid-download: one E_ABORTED line, exit 130, nothing left", async () => {
  const proxy = await startLoggingProxy(registry);
  const { dir, cache } = await fresh();
  try {
    proxy.stall.add(bigLayer);
    const main = join(repoRoot, "build", "src", "cli", "main.js");
    const child = spawn(
      process.execPath,
      [
        main,
        `docker://${proxy.host}/plan/img:1`,
        "-o",
        join(dir, "app.gvmi"),
        "--cache-dir",
        cache,
        "--volume",
        "/d",
      ],
      { env: { ...env, HOME: work }, stdio: ["ignore", "pipe", "pipe"] },
    );
    proxy.onStall = () => child.kill("SIGINT");
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    assert.equal(code, 130, stderr);
    const errors = stderr.split("\n").filter((l) => l.includes("error"));
    assert.equal(errors.length, 1, stderr);
    assert.match(errors[0]!, /^gvmconv: error \[E_ABORTED\]: /);
    assert.doesNotMatch(stderr, /\n\s+at |internal error|TLS|undici/);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await proxy.close();
  }
});

test("abort gvmconv squashfs mid-input (library signal): E_ABORTED, no output, no record, no temporary file", async () => {
  const { dir } = await fresh();
  const members = Array.from({ length: 20 }, (_, i) => ({
    header: { name: `f${i}`, type: "file" as const, mode: 0o644, mtime: new Date(0) },
    body: `file ${i}\n`,
  }));
  const tar = await packTar(members);
  // The first half of the tar, then (once aborted) the rest: the abort lands between entries.
  const stdin = new PassThrough();
  stdin.write(tar.subarray(0, 512 * 10));
  const controller = new AbortController();
  setTimeout(() => {
    controller.abort();
    stdin.end(tar.subarray(512 * 10));
  }, 300);
  await assert.rejects(
    buildSquashfs("-", join(dir, "t.sqfs"), { env, stdin, signal: controller.signal }),
    isAborted,
  );
  assert.deepEqual(await readdir(dir), []);
});
