/**
 * Resuming across runs, through the real registry client against a loopback HTTP server that
 * serves one blob (honouring Range) and can be told to drop the connection after N bytes: an
 * interrupted run leaves a digest-named partial, the next run (a new BlobCache, as a new process
 * would have) asks `Range: bytes=N-` and ends with a verified blob; a partial corrupted on disk
 * fails the digest, is discarded and the blob fetched again from zero; a partial locked by a live
 * process is left alone; old orphans are swept.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { hostname } from "node:os";
import { join } from "node:path";
import { BlobCache } from "../../src/oci/blob-cache.js";
import { NetworkError } from "../../src/oci/errors.js";
import { RegistryClient } from "../../src/oci/registry-client.js";
import { tmp } from "./helpers.js";

const blob = randomBytes(1 << 20);
const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
const hex = digest.slice("sha256:".length);
const CUT = 300_000;

/** What the server does with the next requests, in order; "serve" once the list is empty. */
type Mode = "serve" | "cut" | "refuse" | "stall";
let modes: Mode[] = [];
let log: { range: string | undefined }[] = [];
let server: Server;
let client: RegistryClient;

before(async () => {
  server = createServer((req, res) => {
    log.push({ range: req.headers.range });
    if (req.url !== `/v2/r/blobs/${digest}`) {
      res.writeHead(404).end();
      return;
    }
    const mode = modes.shift() ?? "serve";
    if (mode === "refuse") {
      req.socket.destroy();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = m?.[1] !== undefined ? Number(m[1]) : 0;
    const body = blob.subarray(start);
    res.writeHead(m ? 206 : 200, {
      "content-length": String(body.length),
      ...(m ? { "content-range": `bytes ${start}-${blob.length - 1}/${blob.length}` } : {}),
    });
    if (mode === "cut") {
      res.write(body.subarray(0, CUT), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    if (mode === "stall") {
      res.write(body.subarray(0, CUT)); // and never more: the client aborts
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  client = new RegistryClient(`127.0.0.1:${port}`, `127.0.0.1:${port}`, {
    insecure: true,
    retries: 0,
    retryDelayMs: 1,
  });
});

after(() => {
  server.closeAllConnections();
  server.close();
});

const opener = () => (offset: number) => client.openBlob("r", digest, offset);

async function fresh(): Promise<string> {
  modes = [];
  log = [];
  return tmp("gvmconv-resume-");
}

const partialPath = (dir: string): string => join(dir, "partial", `sha256-${hex}`);

test("an interrupted download leaves a partial; the next run resumes it with Range and verifies the whole blob", async () => {
  const dir = await fresh();
  try {
    // Run 1: the connection drops after CUT bytes, and then the server refuses: the run fails.
    modes = ["cut", "refuse"];
    await assert.rejects(
      new BlobCache(dir).ingest(digest, opener(), { size: blob.length, retries: 0, retryDelayMs: 1 }),
      (err: unknown) => err instanceof NetworkError,
    );
    // The server sent CUT bytes and then reset the connection; a reset may discard what the client
    // had not read yet, so the partial holds what arrived: some, at most CUT.
    const kept = (await stat(partialPath(dir))).size;
    assert.ok(kept > 0 && kept <= CUT, `the partial keeps the bytes received (${kept})`);
    assert.deepEqual(await readdir(join(dir, "partial")), [`sha256-${hex}`], "and its lock is released");
    assert.equal(await new BlobCache(dir).has(digest), false, "nothing unverified is admitted");

    // Run 2: a new cache instance, as a new process would have.
    log = [];
    const cache = new BlobCache(dir);
    await cache.ingest(digest, opener(), { size: blob.length, retries: 0 });
    assert.deepEqual(log, [{ range: `bytes=${kept}-` }], "one request, resuming from the partial's length");
    assert.ok((await readFile(cache.path(digest))).equals(blob));
    assert.deepEqual(await readdir(join(dir, "partial")), [], "the partial became the blob");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("an abort mid-blob (Ctrl-C) also leaves a resumable partial", async () => {
  const dir = await fresh();
  try {
    modes = ["stall"];
    const ac = new AbortController();
    const signalled = new RegistryClient(client.registry, client.endpoint, {
      insecure: true,
      retries: 0,
      signal: ac.signal,
    });
    const run = new BlobCache(dir).ingest(digest, (o) => signalled.openBlob("r", digest, o), {
      size: blob.length,
      signal: ac.signal,
    });
    // Abort once the first bytes are on disk.
    for (let i = 0; i < 200; i++) {
      const s = await stat(partialPath(dir)).catch(() => undefined);
      if (s !== undefined && s.size >= CUT) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    ac.abort(new Error("interrupted"));
    await assert.rejects(run);
    assert.equal((await stat(partialPath(dir))).size, CUT);
    log = [];
    await new BlobCache(dir).ingest(digest, opener(), { size: blob.length });
    assert.deepEqual(log, [{ range: `bytes=${CUT}-` }]);
    assert.ok((await readFile(new BlobCache(dir).path(digest))).equals(blob));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a partial corrupted on disk fails the digest, is discarded, and the blob is fetched again from zero", async () => {
  const dir = await fresh();
  try {
    await mkdir(join(dir, "partial"), { recursive: true });
    const wrong = Buffer.from(blob.subarray(0, CUT));
    wrong[1000] = (wrong[1000] ?? 0) ^ 0xff;
    await writeFile(partialPath(dir), wrong);
    const cache = new BlobCache(dir);
    await cache.ingest(digest, opener(), { size: blob.length });
    assert.deepEqual(log, [{ range: `bytes=${CUT}-` }, { range: undefined }], "resumed, then from zero");
    assert.ok((await readFile(cache.path(digest))).equals(blob), "the admitted blob is the right one");
    assert.deepEqual(await readdir(join(dir, "partial")), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a corrupted partial and a server sending wrong bytes: a digest error, nothing admitted, nothing left", async () => {
  const dir = await fresh();
  try {
    await mkdir(join(dir, "partial"), { recursive: true });
    await writeFile(partialPath(dir), Buffer.alloc(CUT, 1));
    const other = randomBytes(blob.length);
    const lying = async (offset: number) => {
      const { Readable } = await import("node:stream");
      return { body: Readable.from([other.subarray(offset)]), start: offset, length: undefined };
    };
    const cache = new BlobCache(dir);
    await assert.rejects(cache.ingest(digest, lying, { size: blob.length }), /E_OCI_DIGEST_MISMATCH|digest/);
    assert.equal(await cache.has(digest), false);
    assert.deepEqual(await readdir(join(dir, "partial")), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a partial locked by a live process is not touched: this run downloads to its own temp", async () => {
  const dir = await fresh();
  try {
    await mkdir(join(dir, "partial"), { recursive: true });
    const theirs = Buffer.from(blob.subarray(0, 1000));
    await writeFile(partialPath(dir), theirs);
    await writeFile(`${partialPath(dir)}.lock`, `${hostname()} ${process.pid}\n`); // a live pid
    const cache = new BlobCache(dir);
    await cache.ingest(digest, opener(), { size: blob.length });
    assert.deepEqual(log, [{ range: undefined }], "no Range: it did not use the locked partial");
    assert.ok((await readFile(cache.path(digest))).equals(blob));
    assert.ok((await readFile(partialPath(dir))).equals(theirs), "the other run's partial is intact");
    assert.deepEqual(await readdir(join(dir, "tmp")), [], "its own temp was renamed into place");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a partial whose lock belongs to a dead process is taken over and resumed", async () => {
  const dir = await fresh();
  try {
    await mkdir(join(dir, "partial"), { recursive: true });
    await writeFile(partialPath(dir), blob.subarray(0, 5000));
    await writeFile(`${partialPath(dir)}.lock`, `${hostname()} 2147483646\n`);
    const cache = new BlobCache(dir);
    await cache.ingest(digest, opener(), { size: blob.length });
    assert.deepEqual(log, [{ range: "bytes=5000-" }]);
    assert.ok((await readFile(cache.path(digest))).equals(blob));
    assert.deepEqual(await readdir(join(dir, "partial")), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("opening the cache sweeps partials and temps unwritten for over 24 h, unless a live process holds them", async () => {
  const dir = await fresh();
  try {
    const p = join(dir, "partial");
    const t = join(dir, "tmp");
    await mkdir(p, { recursive: true });
    await mkdir(t, { recursive: true });
    const old = new Date(Date.now() - 25 * 3600 * 1000);
    const files = {
      oldOrphan: join(p, `sha256-${"1".repeat(64)}`),
      oldDeadLock: join(p, `sha256-${"2".repeat(64)}`),
      oldLive: join(p, `sha256-${"3".repeat(64)}`),
      recent: join(p, `sha256-${"4".repeat(64)}`),
      oldTemp: join(t, "abc.1.deadbeef"),
      recentTemp: join(t, "abc.2.deadbeef"),
    };
    for (const f of Object.values(files)) await writeFile(f, "x".repeat(10));
    await writeFile(`${files.oldDeadLock}.lock`, `${hostname()} 2147483646\n`);
    await writeFile(`${files.oldLive}.lock`, `${hostname()} ${process.pid}\n`);
    for (const f of [files.oldOrphan, files.oldDeadLock, files.oldLive, files.oldTemp])
      await utimes(f, old, old);

    // The sweep runs on the first download of the instance.
    await new BlobCache(dir).ingest(digest, opener(), { size: blob.length });
    assert.deepEqual((await readdir(p)).sort(), [
      `sha256-${"3".repeat(64)}`,
      `sha256-${"3".repeat(64)}.lock`,
      `sha256-${"4".repeat(64)}`,
    ]);
    assert.deepEqual(await readdir(t), ["abc.2.deadbeef"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
