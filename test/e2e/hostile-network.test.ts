/**
 * Networks that misbehave, against the hostile registry (test/support/hostile-registry.ts) in
 * front of a real docker-registry, and the Golem stand-in with its fault modes: every stall,
 * cut, trickle, wrong digest and redirect ends in one clear coded error within a bounded time
 * (timeouts made small through the run's network settings, never by waiting out the defaults),
 * and no credential a server echoes back reaches stdout, stderr, `--debug` or any file.
 *
 * Each stalled case logs its time to the error (`# time to error: …`) for the README figures.
 */
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { convert, push, type GvmconvError } from "../../src/index.js";
import { openImage, type Image, type OpenImageOptions } from "../../src/oci/index.js";
import {
  buildImage,
  hermeticEnv,
  pushImage,
  readAll,
  startRegistry,
  tarNames,
  tmp,
  type BuiltImage,
  type RunningRegistry,
} from "../oci/helpers.js";
import { startHostileRegistry, type HostileRegistry } from "../support/hostile-registry.js";
import { FakeGolemRegistry, type GolemFault } from "../upload/fake-golem-registry.js";
import { cli, missingTools, noise, repoRoot } from "./support.js";

const skip = missingTools("docker-registry", "skopeo");

const USER = "alice";
const PASSWORD = `pw-${randomBytes(6).toString("hex")}`;
const GOLEM_TOKEN = `gt-${randomBytes(8).toString("hex")}`;
/**
 * Small enough for CI, the same rules as the defaults. undici runs its headers and body timers on
 * a 1 s "fast timer" wheel, so a 300 ms timeout expires after 0.3–1 s; the rate window is longer,
 * so that a stalled body is the body timeout's case and a trickle the minimum rate's.
 */
const NETWORK = {
  timeouts: { connectMs: 1000, headersMs: 300, bodyMs: 300, minBytesPerSecond: 4000, rateWindowMs: 1500 },
  retries: 1,
  retryDelayMs: 1,
};
/** The same, as the CLI reads them. */
const NETWORK_ENV = {
  GVMCONV_CONNECT_TIMEOUT: "1",
  GVMCONV_HEADERS_TIMEOUT: "0.3",
  GVMCONV_BODY_TIMEOUT: "0.3",
  GVMCONV_MIN_RATE: "4000",
  GVMCONV_RATE_WINDOW: "1.5",
  GVMCONV_RETRIES: "1",
  GVMCONV_RETRY_DELAY: "0.001",
};

let work: string;
let backend: RunningRegistry;
let hostile: HostileRegistry;
let guarded: HostileRegistry;
let image: BuiltImage;
let bigLayer: string;
let sampleGvmi: string;

before(async () => {
  if (skip) return;
  work = await tmp("gvmconv-hostile-");
  backend = await startRegistry(join(work, "storage"));
  image = await buildImage({
    layers: [
      { files: { "etc/hostname": "golem\n" }, compression: "gzip" },
      { files: { "data.bin": noise(150_000, "hostile").toString("base64") }, compression: "gzip" },
    ],
  });
  bigLayer = image.layerDigests[1] ?? "";
  await pushImage(image, `${backend.host}/hostile/img:1`, work);
  hostile = await startHostileRegistry({ backendPort: backend.port });
  guarded = await startHostileRegistry({
    backendPort: backend.port,
    auth: { username: USER, password: PASSWORD },
  });
  sampleGvmi = join(work, "sample.gvmi");
  await convert(`oci:${join(repoRoot, "samples", "hello-oci")}:latest`, {
    output: sampleGvmi,
    env: {},
    dotenv: false,
  });
});

after(async () => {
  if (skip) return;
  await hostile.stop();
  await guarded.stop();
  await backend.stop();
  await rm(work, { recursive: true, force: true });
});

let n = 0;
const fresh = (what: string): string => join(work, `${what}-${n++}`);

async function open(host: string, extra: Partial<OpenImageOptions> = {}): Promise<Image> {
  return await openImage(`${host}/hostile/img:1`, {
    cacheDir: fresh("cache"),
    env: hermeticEnv(work),
    ...NETWORK,
    ...extra,
  });
}

/** `run` must fail with `code` (and `detail` in its message); logs and returns the time it took. */
async function timeToError(
  t: TestContext,
  label: string,
  code: string,
  detail: RegExp,
  run: () => Promise<unknown>,
): Promise<number> {
  const t0 = performance.now();
  await assert.rejects(run(), (err: unknown) => {
    assert.equal((err as GvmconvError).code, code, String(err));
    assert.match((err as Error).message, detail);
    return true;
  });
  const s = (performance.now() - t0) / 1000;
  t.diagnostic(`time to error: ${label}: ${s.toFixed(2)} s`);
  // Two attempts of at most a few windows each: never anywhere near the defaults.
  assert.ok(s < 10, `${label} took ${s} s`);
  return s;
}

async function pullAll(img: Image): Promise<void> {
  try {
    await img.fetchLayers();
    assert.deepEqual(await tarNames(await readAll(await img.openLayer(0))), ["etc/hostname"]);
    assert.deepEqual(await tarNames(await readAll(await img.openLayer(1))), ["data.bin"]);
  } finally {
    await img.close();
  }
}

// ---- the image registry -------------------------------------------------------------------------

test("registry accepts, then sends nothing: headers timeout, retried, E_OCI_NETWORK", { skip }, async (t) => {
  hostile.reset();
  hostile.fault({ on: "manifest", mode: { kind: "stall" } });
  await timeToError(t, "stalled manifest", "E_OCI_NETWORK", /no response headers within 300 ms/, () =>
    open(hostile.host),
  );
  assert.equal(hostile.log.filter((l) => l.url.includes("/manifests/")).length, 2, "one retry");
});

test("token server accepts, then sends nothing: E_OCI_NETWORK", { skip }, async (t) => {
  guarded.reset();
  guarded.fault({ on: "token", mode: { kind: "stall" } });
  await timeToError(t, "stalled token server", "E_OCI_NETWORK", /no response headers within 300 ms/, () =>
    open(guarded.host, { credentials: { username: USER, password: PASSWORD } }),
  );
});

test(
  "a manifest body that stops mid-way is retried, then E_OCI_NETWORK (not a raw undici error)",
  { skip },
  async (t) => {
    hostile.reset();
    hostile.fault({ on: "manifest", mode: { kind: "stall-body", after: 20 } });
    await timeToError(t, "manifest body stalled", "E_OCI_NETWORK", /body stalled for 300 ms/, () =>
      open(hostile.host),
    );
    assert.equal(hostile.log.filter((l) => l.url.includes("/manifests/")).length, 2);
  },
);

test("a trickled manifest (1 byte / 50 ms) hits the minimum rate: E_OCI_NETWORK", { skip }, async (t) => {
  hostile.reset();
  hostile.fault({ on: "manifest", mode: { kind: "trickle", intervalMs: 50 } });
  await timeToError(t, "manifest trickled", "E_OCI_NETWORK", /minimum rate/, () => open(hostile.host));
});

test(
  "a layer body that stops mid-way: E_OCI_NETWORK, the partial kept for the next run",
  { skip },
  async (t) => {
    hostile.reset();
    hostile.fault({ on: { digest: bigLayer }, mode: { kind: "stall-body", after: 1000 } });
    const cacheDir = fresh("cache");
    // No retries, so that the partial holds exactly what the one attempt got.
    const img = await open(hostile.host, { cacheDir, retries: 0 });
    try {
      await timeToError(t, "layer body stalled", "E_OCI_NETWORK", /kept failing/, () => img.fetchLayers());
    } finally {
      await img.close();
    }
    // The bytes that came are a prefix of the blob, kept to resume.
    const partial = join(cacheDir, "partial", `sha256-${bigLayer.slice(7)}`);
    const kept = await readFile(partial);
    assert.equal(kept.length, 1000);
    assert.deepEqual(kept, image.blobs.get(bigLayer)?.subarray(0, 1000));
    hostile.reset();
    await pullAll(await open(hostile.host, { cacheDir }));
    assert.ok(
      hostile.log.some((l) => l.url.includes(bigLayer.slice(7)) && l.range === "bytes=1000-"),
      "the next run resumed from the partial",
    );
  },
);

test(
  "a trickled layer (1 byte / 20 ms, never idle) hits the minimum rate: E_OCI_NETWORK",
  { skip },
  async (t) => {
    hostile.reset();
    hostile.fault({ on: { digest: bigLayer }, mode: { kind: "trickle", intervalMs: 20 } });
    const img = await open(hostile.host);
    try {
      await timeToError(t, "layer trickled", "E_OCI_NETWORK", /minimum rate/, () => img.fetchLayers());
    } finally {
      await img.close();
    }
  },
);

test(
  "the total deadline bounds a stalled request and a stalled download, not the retry count",
  { skip },
  async (t) => {
    hostile.reset();
    hostile.fault({ on: "manifest", mode: { kind: "stall" }, times: 1 });
    hostile.fault({ on: "manifest", mode: { kind: "stall" }, times: 1 });
    hostile.fault({ on: { digest: bigLayer }, mode: { kind: "stall-body", after: 0 } });
    const patient = { ...NETWORK, retries: 20, timeouts: { ...NETWORK.timeouts, totalMs: 1500 } };
    await timeToError(t, "stalled manifest, 20 retries, total 1.5 s", "E_OCI_NETWORK", /headers/, () =>
      open(hostile.host, patient),
    );
    assert.ok(hostile.log.filter((l) => l.url.includes("/manifests/")).length <= 3);
    hostile.reset();
    hostile.fault({ on: { digest: bigLayer }, mode: { kind: "stall-body", after: 0 } });
    const img = await open(hostile.host, patient);
    try {
      await timeToError(t, "stalled layer, 20 retries, total 1.5 s", "E_OCI_NETWORK", /kept failing/, () =>
        img.fetchLayers(),
      );
    } finally {
      await img.close();
    }
    assert.ok(hostile.log.filter((l) => l.url.includes(bigLayer.slice(7))).length <= 4);
  },
);

test("Content-Length larger than what is sent: resumed with Range and verified", { skip }, async () => {
  hostile.reset();
  hostile.fault({ on: { digest: bigLayer }, mode: { kind: "truncate", after: 5000 }, times: 1 });
  await pullAll(await open(hostile.host));
  const gets = hostile.log.filter((l) => l.url.includes(bigLayer.slice(7)));
  assert.deepEqual(
    gets.map((l) => l.range),
    [undefined, "bytes=5000-"],
  );
});

test("a body always cut before its first byte: E_OCI_NETWORK after the retries", { skip }, async (t) => {
  hostile.reset();
  hostile.fault({ on: { digest: bigLayer }, mode: { kind: "truncate", after: 0 } });
  const img = await open(hostile.host);
  try {
    await timeToError(t, "layer always truncated", "E_OCI_NETWORK", /kept failing/, () => img.fetchLayers());
  } finally {
    await img.close();
  }
});

test("a wrong digest: E_OCI_DIGEST_MISMATCH, nothing cached, no temp left", { skip }, async () => {
  hostile.reset();
  hostile.fault({ on: { digest: bigLayer }, mode: { kind: "wrong-digest" } });
  const cacheDir = fresh("cache");
  const img = await open(hostile.host, { cacheDir });
  try {
    await assert.rejects(
      img.fetchLayers(),
      (err: unknown) => (err as GvmconvError).code === "E_OCI_DIGEST_MISMATCH",
    );
  } finally {
    await img.close();
  }
  assert.equal(
    await stat(join(cacheDir, "blobs", "sha256", bigLayer.slice(7))).catch(() => undefined),
    undefined,
  );
  assert.deepEqual(await readdir(join(cacheDir, "partial")), []);
});

test(
  "a redirect to blob storage on another port never carries the Authorization header",
  { skip },
  async () => {
    guarded.reset();
    guarded.fault({ on: "blob", mode: { kind: "redirect" } });
    await pullAll(await open(guarded.host, { credentials: { username: USER, password: PASSWORD } }));
    const stored = guarded.storageRequests();
    assert.ok(stored.length >= 3, "the config and both layers came from the storage");
    assert.deepEqual(
      stored.map((l) => l.authorization),
      stored.map(() => undefined),
    );
    assert.ok(
      guarded.log.some((l) => l.authorization === `Bearer ${guarded.token}`),
      "the registry got the token",
    );
  },
);

test("a redirect loop is bounded: E_OCI_NETWORK after at most 11 hops", { skip }, async (t) => {
  hostile.reset();
  hostile.fault({ on: { digest: image.configDigest }, mode: { kind: "redirect-loop" } });
  await timeToError(t, "redirect loop", "E_OCI_NETWORK", /more than 10 redirects/, () => open(hostile.host));
  const hops = hostile.log.filter((l) => l.url.includes(image.configDigest.slice(7)));
  assert.ok(hops.length <= 11, `${hops.length} requests`);
});

// ---- the Golem registry -----------------------------------------------------------------------

async function golem(
  fault: (path: string, attempt: number) => GolemFault | undefined,
): Promise<FakeGolemRegistry> {
  return await new FakeGolemRegistry({ users: { [USER]: GOLEM_TOKEN }, fault }).start();
}

function pushTo(registry: FakeGolemRegistry): Promise<unknown> {
  return push(sampleGvmi, {
    target: `${USER}/app:v1`,
    credentials: { user: USER, token: GOLEM_TOKEN },
    registryUrl: registry.url,
    network: NETWORK,
    env: {},
    dotenv: false,
  });
}

for (const [label, at, fault, detail] of [
  ["Golem login stalled", "/auth/pat/login", { kind: "stall" }, /no response headers within 300 ms/],
  ["Golem status stalled", "/v1/image/descr/", { kind: "stall" }, /no response headers within 300 ms/],
  [
    "Golem status body stalled",
    "/v1/image/descr/",
    { kind: "stall-body", after: 10 },
    /body stalled for 300 ms/,
  ],
  ["Golem status trickled", "/v1/image/descr/", { kind: "trickle", intervalMs: 50 }, /minimum rate/],
  ["Golem chunk stalled", "/v1/image/push/chunk", { kind: "stall" }, /no response headers within 300 ms/],
] as const) {
  test(`${label}: E_GOLEM_NETWORK within the run's timeouts`, { skip }, async (t) => {
    const registry = await golem((path) => (path.startsWith(at) ? (fault as GolemFault) : undefined));
    try {
      await timeToError(t, label, "E_GOLEM_NETWORK", detail, () => pushTo(registry));
      if (at === "/v1/image/push/chunk")
        assert.equal(registry.sent(at).length, 2, "the chunk was retried once");
    } finally {
      await registry.stop();
    }
  });
}

test(
  "a Golem registry redirecting the login check elsewhere: not followed, the token never sent there",
  { skip },
  async () => {
    const elsewhere = await new FakeGolemRegistry({ users: { [USER]: GOLEM_TOKEN } }).start();
    const registry = await golem((path) =>
      path === "/auth/pat/login" || path.startsWith("/v1/image/descr/attach/")
        ? { kind: "redirect", to: elsewhere.url }
        : undefined,
    );
    try {
      await assert.rejects(pushTo(registry), (err: unknown) => {
        assert.equal((err as GvmconvError).code, "E_GOLEM_HTTP");
        assert.match((err as Error).message, /HTTP 307: a redirect to .* not followed/);
        return true;
      });
      assert.deepEqual(elsewhere.requests, [], "the other host got nothing, the token least of all");
    } finally {
      await registry.stop();
      await elsewhere.stop();
    }
  },
);

// ---- echoes: no secret reaches any output -----------------------------------------------------

/** Every file under `dir` (recursively), as bytes. */
async function filesUnder(dir: string): Promise<{ path: string; bytes: Buffer }[]> {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const name of await readdir(dir).catch((): string[] => [])) {
    const path = join(dir, name);
    const s = await stat(path);
    if (s.isDirectory()) out.push(...(await filesUnder(path)));
    else if (s.isFile()) out.push({ path, bytes: await readFile(path) });
  }
  return out;
}

/** The forms a secret may leak in. */
function forms(secrets: string[]): string[] {
  const out = new Set<string>();
  for (const s of secrets) {
    out.add(s);
    out.add(Buffer.from(s).toString("base64"));
    out.add(encodeURIComponent(s));
  }
  return [...out];
}

async function assertNoLeak(
  what: string,
  r: { stdout: string; stderr: string },
  dir: string,
  secrets: string[],
): Promise<void> {
  const files = await filesUnder(dir);
  for (const s of forms(secrets)) {
    assert.ok(!r.stdout.includes(s), `${what}: stdout carries ${s}:\n${r.stdout}`);
    assert.ok(!r.stderr.includes(s), `${what}: stderr carries ${s}:\n${r.stderr}`);
    for (const f of files) assert.ok(!f.bytes.includes(s), `${what}: ${f.path} carries ${s}`);
  }
}

const REGISTRY_ECHOES = [
  ["manifest 400 echo", "manifest", { kind: "echo", status: 400 }, "E_OCI_HTTP"],
  ["manifest 403 echo", "manifest", { kind: "echo", status: 403 }, "E_OCI_AUTH_FAILED"],
  ["blob 500 echo (retried)", "blob", { kind: "echo", status: 500 }, "E_OCI_HTTP"],
  ["token server 400 echo of the password", "token", { kind: "echo", status: 400 }, "E_OCI_AUTH_FAILED"],
  ["token server 401 echo", "token", { kind: "echo", status: 401 }, "E_OCI_AUTH_FAILED"],
  ["Content-Range echo", "layer", { kind: "echo-range" }, "E_OCI_NETWORK"],
] as const;

for (const [label, on, mode, code] of REGISTRY_ECHOES) {
  test(`image registry echoes the credentials (${label}): no secret in any output`, { skip }, async () => {
    guarded.reset();
    guarded.fault({ on: on === "layer" ? { digest: bigLayer } : on, mode });
    const dir = fresh("echo");
    await mkdir(dir);
    const cache = join(dir, "cache");
    const out = join(dir, "out");
    await mkdir(out);
    const r = await cli(
      [
        `${guarded.host}/hostile/img:1`,
        "-o",
        join(out, "img.gvmi"),
        "--cache-dir",
        cache,
        "--json-file",
        join(out, "info.json"),
        "--creds",
        `${USER}:${PASSWORD}`,
        "--debug",
      ],
      { ...hermeticEnv(work), ...NETWORK_ENV },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`gvmconv: error \\[${code}`));
    // The echo did reach us: the server was sent these, and the test would see them if printed.
    assert.ok(guarded.log.some((l) => l.fault === mode.kind));
    const secrets = [PASSWORD, `${USER}:${PASSWORD}`, guarded.token, `Bearer ${guarded.token}`];
    await assertNoLeak(label, r, dir, secrets);
    // The library's error too, with every field a caller might log or serialize.
    const err = await convert(`${guarded.host}/hostile/img:1`, {
      output: join(out, "lib.gvmi"),
      image: { cacheDir: cache, credentials: { username: USER, password: PASSWORD } },
      network: NETWORK,
      env: hermeticEnv(work),
      dotenv: false,
    }).then(
      () => assert.fail("the conversion succeeded"),
      (e: unknown) => e as Error & Record<string, unknown>,
    );
    const dump = JSON.stringify({ ...err, message: err.message, stack: err.stack });
    for (const s of forms(secrets)) assert.ok(!dump.includes(s), `${label}: the error carries ${s}: ${dump}`);
  });
}

for (const [label, at] of [
  ["login check echoes the token", "/auth/pat/login"],
  ["attach echoes the token", "/v1/image/descr/attach/"],
  ["status echoes what it got", "/v1/image/descr/"],
] as const) {
  test(`Golem registry ${label}: no secret in any output`, { skip }, async () => {
    const registry = await golem((path) =>
      path.startsWith(at) && !(at === "/v1/image/descr/" && path.includes("/attach/"))
        ? { kind: "echo", status: 500 }
        : undefined,
    );
    try {
      const dir = fresh("golem-echo");
      await mkdir(dir);
      const file = join(dir, "app.gvmi");
      await copyFile(sampleGvmi, file);
      const r = await cli(
        ["-d", file, "--push-to", `${USER}/app:v1`, "--json-file", join(dir, "info.json"), "--debug"],
        {
          ...hermeticEnv(work),
          ...NETWORK_ENV,
          REGISTRY_URL: registry.url,
          REGISTRY_USER: USER,
          REGISTRY_TOKEN: GOLEM_TOKEN,
          GVMCONV_KEYRING: "0",
        },
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /gvmconv: error \[E_GOLEM_/);
      assert.ok(registry.requests.some((q) => q.path.startsWith(at)));
      await assertNoLeak(label, r, dir, [GOLEM_TOKEN]);
    } finally {
      await registry.stop();
    }
  });
}
