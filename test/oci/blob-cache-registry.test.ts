/**
 * Resume across runs against the real docker-registry: a blob is pushed to it, and a loopback
 * proxy in front cuts the first download after N bytes and refuses the next, so the first run
 * fails with a partial left; the second run's request through the proxy carries
 * `Range: bytes=N-`, the registry answers 206, and the blob admitted is the one pushed.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFile, rm, stat } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import { join } from "node:path";
import { request } from "undici";
import { BlobCache } from "../../src/oci/blob-cache.js";
import { NetworkError } from "../../src/oci/errors.js";
import { RegistryClient } from "../../src/oci/registry-client.js";
import { startRegistry, tmp, type RunningRegistry } from "./helpers.js";

const blob = randomBytes(2 << 20);
const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
const CUT = 700_000;
let work: string;
let registry: RunningRegistry;
let proxy: Server;
let modes: ("cut" | "refuse" | "pass")[] = [];
const log: { range: string | undefined; status: number }[] = [];

before(async () => {
  work = await tmp("gvmconv-resume-registry-");
  registry = await startRegistry(join(work, "storage"));
  // Monolithic upload: POST for a session, PUT the bytes with the digest.
  const post = await request(`http://${registry.host}/v2/r/blobs/uploads/`, { method: "POST" });
  await post.body.dump();
  const location = String(post.headers.location);
  const url = new URL(location, `http://${registry.host}`);
  url.searchParams.set("digest", digest);
  const put = await request(url.toString(), {
    method: "PUT",
    body: blob,
    headers: { "content-type": "application/octet-stream" },
  });
  await put.body.dump();
  assert.equal(put.statusCode, 201);

  proxy = createServer((req, res) => {
    const mode = modes.shift() ?? "pass";
    const entry = { range: req.headers.range, status: 0 };
    log.push(entry);
    if (mode === "refuse") {
      req.socket.destroy();
      return;
    }
    const up = httpRequest(
      { host: "127.0.0.1", port: registry.port, method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        entry.status = ur.statusCode ?? 0;
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        let sent = 0;
        ur.on("data", (c: Buffer) => {
          if (mode === "cut" && sent + c.length >= CUT) {
            res.write(c.subarray(0, CUT - sent), () => setTimeout(() => res.socket?.destroy(), 50));
            sent = CUT;
            ur.destroy();
            return;
          }
          sent += c.length;
          res.write(c);
        });
        ur.on("end", () => res.end());
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
});

after(async () => {
  proxy.closeAllConnections();
  proxy.close();
  await registry.stop();
  await rm(work, { recursive: true, force: true });
});

test("the real registry: an interrupted run leaves a partial, the next resumes it with Range (206)", async () => {
  const port = (proxy.address() as { port: number }).port;
  const client = new RegistryClient(`127.0.0.1:${port}`, `127.0.0.1:${port}`, {
    insecure: true,
    retries: 0,
    retryDelayMs: 1,
  });
  const opener = (offset: number) => client.openBlob("r", digest, offset);
  const dir = join(work, "cache");
  const partial = join(dir, "partial", `sha256-${digest.slice(7)}`);

  modes = ["cut", "refuse"];
  await assert.rejects(
    new BlobCache(dir).ingest(digest, opener, { size: blob.length, retries: 0, retryDelayMs: 1 }),
    (err: unknown) => err instanceof NetworkError,
  );
  assert.equal((await stat(partial)).size, CUT);

  log.length = 0;
  const cache = new BlobCache(dir);
  await cache.ingest(digest, opener, { size: blob.length });
  assert.deepEqual(log, [{ range: `bytes=${CUT}-`, status: 206 }]);
  assert.ok((await readFile(cache.path(digest))).equals(blob));
  await assert.rejects(stat(partial), /ENOENT/);
});
