/**
 * Faults on loopback in front of a real docker-registry: a transfer cut halfway (resumed with
 * Range), 503s then success, 429 with Retry-After, a final 404, a corrupted blob (typed error, nothing cached), and a redirect to
 * another host that must not receive Authorization (through an htpasswd-protected registry).
 * Also: 401 without credentials, wrong credentials, credentials from env and docker config.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { join } from "node:path";
import {
  openImage,
  AuthRequiredError,
  AuthFailedError,
  DigestMismatchError,
  BlobCache,
  NotFoundError,
  type Image,
} from "../../src/oci/index.js";
import {
  buildImage,
  hermeticEnv,
  pushImage,
  readAll,
  startAuthRegistry,
  startRegistry,
  tarNames,
  tmp,
  type BuiltImage,
  type RunningRegistry,
} from "./helpers.js";

let work: string;
let open: RunningRegistry;
let locked: RunningRegistry;
let image: BuiltImage;
let bigLayer: string;
const servers: Server[] = [];

before(async () => {
  work = await tmp();
  const storage = join(work, "storage");
  open = await startRegistry(storage);
  // Same storage, behind Basic auth: the image pushed to `open` is visible there too.
  locked = await startAuthRegistry(storage, "alice", "s3cret");
  // Incompressible content, so the compressed layer is big enough to cut in the middle.
  image = await buildImage({
    layers: [
      { files: { small: "s" }, compression: "gzip" },
      { files: { "random.bin": randomBytes(768 * 1024).toString("base64") }, compression: "gzip" },
    ],
  });
  bigLayer = image.layerDigests[1] ?? "";
  await pushImage(image, `${open.host}/faults/img:1`, work);
});

after(async () => {
  for (const s of servers) s.close();
  await open.stop();
  await locked.stop();
  await rm(work, { recursive: true, force: true });
});

type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  forward: (opts?: { cutAfter?: number; corrupt?: boolean }) => void,
) => void;

/** An HTTP proxy on 127.0.0.1 in front of `targetPort`, with a hook per request. */
async function proxy(
  targetPort: number,
  handler: Handler,
): Promise<{ port: number; log: { method: string; url: string; range?: string; auth?: string }[] }> {
  const log: { method: string; url: string; range?: string; auth?: string }[] = [];
  const server = createServer((req, res) => {
    log.push({
      method: req.method ?? "",
      url: req.url ?? "",
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
    });
    const forward = (opts: { cutAfter?: number; corrupt?: boolean } = {}): void => {
      const up = httpRequest(
        {
          host: "127.0.0.1",
          port: targetPort,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: `127.0.0.1:${targetPort}` },
        },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          let sent = 0;
          ur.on("data", (c: Buffer) => {
            if (opts.cutAfter !== undefined && sent + c.length > opts.cutAfter) {
              res.write(c.subarray(0, opts.cutAfter - sent));
              sent = opts.cutAfter;
              // Flush what we have, then drop the connection mid-body.
              res.socket?.end(() => res.socket?.destroy());
              ur.destroy();
              return;
            }
            if (opts.corrupt === true && sent <= 100 && sent + c.length > 100) {
              c = Buffer.from(c);
              c[100 - sent] = (c[100 - sent] ?? 0) ^ 0xff;
            }
            sent += c.length;
            res.write(c);
          });
          ur.on("end", () => res.end());
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    };
    handler(req, res, forward);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  return { port: typeof a === "object" && a !== null ? a.port : 0, log };
}

async function openVia(host: string, extra: Partial<Parameters<typeof openImage>[1]> = {}): Promise<Image> {
  return await openImage(`${host}/faults/img:1`, {
    cacheDir: join(work, `cache-${randomBytes(4).toString("hex")}`),
    env: hermeticEnv(work),
    retryDelayMs: 1,
    ...extra,
  });
}

async function checkLayers(img: Image): Promise<void> {
  await img.fetchLayers();
  assert.deepEqual(await tarNames(await readAll(await img.openLayer(0))), ["small"]);
  assert.deepEqual(await tarNames(await readAll(await img.openLayer(1))), ["random.bin"]);
}

test("a blob transfer cut halfway resumes with Range and verifies", async () => {
  let cut = false;
  const size = image.blobs.get(bigLayer)?.length ?? 0;
  const p = await proxy(open.port, (req, _res, forward) => {
    if (!cut && req.url?.includes(bigLayer.slice(7)) && req.headers.range === undefined) {
      cut = true;
      forward({ cutAfter: Math.floor(size / 2) });
    } else forward();
  });
  const img = await openVia(`127.0.0.1:${p.port}`);
  try {
    await checkLayers(img);
  } finally {
    await img.close();
  }
  assert.ok(cut);
  const ranged = p.log.filter((l) => l.url.includes(bigLayer.slice(7)) && l.range !== undefined);
  assert.equal(ranged.length, 1);
  assert.match(ranged[0]?.range ?? "", /^bytes=\d+-$/);
  assert.ok(Number(/\d+/.exec(ranged[0]?.range ?? "")?.[0]) > 0);
});

test("503 twice, then success", async () => {
  let failures = 0;
  const p = await proxy(open.port, (req, res, forward) => {
    if (req.url?.includes("/blobs/") && failures < 2) {
      failures++;
      res.writeHead(503, { "content-type": "application/json" });
      res.end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
    } else forward();
  });
  const img = await openVia(`127.0.0.1:${p.port}`);
  try {
    await checkLayers(img);
  } finally {
    await img.close();
  }
  assert.equal(failures, 2);
});

test("429 with Retry-After is waited out, then the pull goes on", async () => {
  let limited = 0;
  const p = await proxy(open.port, (req, res, forward) => {
    if (req.url?.includes("/manifests/") && limited === 0) {
      limited++;
      res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
    } else forward();
  });
  const t0 = performance.now();
  const img = await openVia(`127.0.0.1:${p.port}`);
  const elapsed = performance.now() - t0;
  await img.close();
  assert.equal(limited, 1);
  // retryDelayMs is 1 ms here: only the server's Retry-After explains a wait of a second.
  assert.ok(elapsed >= 950, `waited ${elapsed} ms`);
});

test("404 on a blob is final: asked once, a typed not-found error", async () => {
  const p = await proxy(open.port, (req, res, forward) => {
    if (req.url?.includes(`/blobs/${image.configDigest}`)) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"gone"}]}');
    } else forward();
  });
  await assert.rejects(
    openVia(`127.0.0.1:${p.port}`),
    (err: unknown) => err instanceof NotFoundError && err.registryCode === "BLOB_UNKNOWN",
  );
  assert.equal(p.log.filter((l) => l.url.includes(`/blobs/${image.configDigest}`)).length, 1);
});

test("a blob with a wrong digest is a clear error and never enters the cache", async () => {
  const p = await proxy(open.port, (req, _res, forward) =>
    forward({ corrupt: req.url?.includes(bigLayer.slice(7)) === true }),
  );
  const cacheDir = join(work, "cache-corrupt");
  const img = await openVia(`127.0.0.1:${p.port}`, { cacheDir });
  try {
    await assert.rejects(
      img.fetchLayers(),
      (err: unknown) =>
        err instanceof DigestMismatchError &&
        err.code === "E_OCI_DIGEST_MISMATCH" &&
        err.digest === bigLayer &&
        /does not match/.test(err.message),
    );
    const cache = new BlobCache(cacheDir);
    assert.equal(await cache.has(bigLayer), false);
    assert.equal(await cache.has(image.layerDigests[0] ?? ""), true);
    assert.deepEqual(await readdir(join(cacheDir, "tmp")), []);
    // openLayer refuses it too: it streams the download, but the stream fails with the
    // download's digest error (not the corrupt gzip it meets first) and never ends cleanly.
    await assert.rejects(async () => {
      for await (const _ of await img.openLayer(1));
    }, DigestMismatchError);
    assert.equal(await cache.has(bigLayer), false);
  } finally {
    await img.close();
  }
});

test("fetchLayers starts with the topmost layer; openLayer waits for that download instead of starting another", async () => {
  // Layer downloads in flight at once, seen by the proxy: with concurrency 1 there must never be
  // two, which there would be if openLayer(0) started the base's download itself.
  let inFlight = 0;
  let maxInFlight = 0;
  const p = await proxy(open.port, (req, res, forward) => {
    if (req.method === "GET" && image.layerDigests.some((d) => req.url?.includes(d.slice(7)) === true)) {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      res.on("close", () => inFlight--);
    }
    forward();
  });
  const img = await openVia(`127.0.0.1:${p.port}`, { concurrency: 1 });
  try {
    const fetching = img.fetchLayers();
    // Opened at once, before any download has finished: both must wait, not fetch again.
    const [top, base] = await Promise.all([img.openLayer(1).then(readAll), img.openLayer(0).then(readAll)]);
    await fetching;
    assert.deepEqual(await tarNames(top), ["random.bin"]);
    assert.deepEqual(await tarNames(base), ["small"]);
  } finally {
    await img.close();
  }
  const layerGets = p.log.filter(
    (l) => l.method === "GET" && image.layerDigests.some((d) => l.url.includes(d.slice(7))),
  );
  assert.equal(layerGets.length, 2, `one GET per layer: ${JSON.stringify(layerGets)}`);
  assert.ok(layerGets[0]?.url.includes(bigLayer.slice(7)), "the topmost layer is downloaded first");
  assert.equal(maxInFlight, 1, "openLayer joined the queued downloads instead of starting its own");
});

test("401 without credentials says how to log in", async () => {
  await assert.rejects(openVia(locked.host), (err: unknown) => {
    return (
      err instanceof AuthRequiredError &&
      err.code === "E_OCI_AUTH_REQUIRED" &&
      err.statusCode === 401 &&
      err.hint.includes(`docker login ${locked.host}`) &&
      err.hint.includes("GVMCONV_REGISTRY_USER")
    );
  });
});

test("wrong Basic credentials are refused with a typed error", async () => {
  await assert.rejects(
    openVia(locked.host, { credentials: { username: "alice", password: "wrong" } }),
    AuthFailedError,
  );
});

test("Basic credentials from GVMCONV_REGISTRY_USER/PASSWORD and from docker config.json", async () => {
  const a = await openVia(locked.host, {
    env: hermeticEnv(work, { GVMCONV_REGISTRY_USER: "alice", GVMCONV_REGISTRY_PASSWORD: "s3cret" }),
  });
  await checkLayers(a);
  await a.close();
  const cfg = join(work, "dockercfg");
  await mkdir(cfg, { recursive: true });
  await writeFile(
    join(cfg, "config.json"),
    JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from("alice:s3cret").toString("base64") } } }),
  );
  const b = await openVia(locked.host, { env: hermeticEnv(work, { DOCKER_CONFIG: cfg }) });
  await checkLayers(b);
  await b.close();
});

test("a redirect to another host does not carry Authorization", async () => {
  const blobHostAuth: (string | undefined)[] = [];
  const basic = `Basic ${Buffer.from("alice:s3cret").toString("base64")}`;
  // "Blob storage": another origin (host name and port) serving the blob bytes.
  const storage = createServer((req, res) => {
    blobHostAuth.push(req.headers.authorization);
    const up = httpRequest(
      {
        host: "127.0.0.1",
        port: locked.port,
        path: req.url,
        headers: { authorization: basic, ...(req.headers.range ? { range: req.headers.range } : {}) },
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.end();
  });
  servers.push(storage);
  await new Promise<void>((r) => storage.listen(0, "127.0.0.1", r));
  const sa = storage.address();
  const storagePort = typeof sa === "object" && sa !== null ? sa.port : 0;
  const p = await proxy(locked.port, (req, res, forward) => {
    if (req.url?.includes("/blobs/") && req.headers.authorization !== undefined) {
      res.writeHead(307, { location: `http://localhost:${storagePort}${req.url}` });
      res.end();
    } else forward();
  });
  const img = await openVia(`127.0.0.1:${p.port}`, {
    credentials: { username: "alice", password: "s3cret" },
  });
  try {
    await checkLayers(img);
  } finally {
    await img.close();
  }
  assert.ok(blobHostAuth.length >= 3, "config and layers came through the redirect");
  assert.deepEqual(
    blobHostAuth.filter((a) => a !== undefined),
    [],
  );
  assert.ok(
    p.log.some((l) => l.url.includes("/blobs/") && l.auth === basic),
    "the registry itself got the credentials",
  );
});
