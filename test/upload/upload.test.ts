import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { DEFAULT_REGISTRY_URL, GolemRegistryClient, registryUrlFromEnv } from "../../src/upload/client.js";
import { createDescriptor } from "../../src/upload/descriptor.js";
import {
  RegistryAuthError,
  RegistryHttpError,
  RegistryNetworkError,
  UploadNotValidatedError,
} from "../../src/upload/errors.js";
import { parsePushTarget } from "../../src/upload/push-target.js";
import { pushImage, type PushOptions } from "../../src/upload/upload.js";
import { CollectingReporter } from "../../src/reporter.js";
import { FakeGolemRegistry, type FakeRegistryOptions } from "./fake-golem-registry.js";

const TOKEN = "pat-secret-7f3a9c";
const users = { alice: TOKEN };
const CHUNK = 1000;

interface Ctx {
  server: FakeGolemRegistry;
  client: GolemRegistryClient;
  image: string;
  data: Buffer;
  push: (extra?: Partial<PushOptions>) => ReturnType<typeof pushImage>;
}

async function withRegistry(options: FakeRegistryOptions, fn: (ctx: Ctx) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "gvmconv-upload-"));
  const server = await new FakeGolemRegistry({ users, ...options }).start();
  const client = new GolemRegistryClient({ url: server.url });
  try {
    // 8 chunks, the last one short.
    const data = randomBytes(7 * CHUNK + 500);
    const image = join(dir, "img.gvmi");
    await writeFile(image, data);
    const push = (extra: Partial<PushOptions> = {}) =>
      pushImage({
        imagePath: image,
        client,
        chunkSize: CHUNK,
        target: parsePushTarget("alice/app:v1"),
        credentials: { user: "alice", token: TOKEN },
        retryDelayMs: 0,
        validateIntervalMs: 0,
        ...extra,
      });
    await fn({ server, client, image, data, push });
  } finally {
    await client.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

test("full upload: descriptor, tag check, 8 chunks, completion poll, attach — in the incumbent's order", async () => {
  await withRegistry({ settlePolls: 2 }, async ({ server, push, data }) => {
    const reporter = new CollectingReporter();
    const result = await push({ reporter });
    assert.equal(result.chunksSent, 8);
    assert.equal(result.bytesSent, data.length);
    assert.equal(result.alreadyComplete, false);
    assert.deepEqual(server.assembled(result.descriptorSha256), data);
    assert.equal(server.tags.get("alice/app:v1"), result.descriptorSha256);
    assert.equal(result.downloadUrl, `${server.url}/download/${result.descriptorSha256}`);
    const sha = result.descriptorSha256;
    const shape = server.requests.map((r) =>
      r.path === "/v1/image/push/chunk"
        ? "chunk"
        : `${r.method} ${r.path.replace(sha, "{sha}")}${r.fields["check"] ? " check" : ""}`,
    );
    assert.deepEqual(shape, [
      "GET /v1/image/descr/{sha}",
      "POST /v1/image/push/descr",
      "POST /v1/image/descr/attach/{sha} check",
      "GET /v1/image/descr/{sha}",
      ...Array<string>(8).fill("chunk"),
      "GET /v1/image/descr/{sha}",
      "GET /v1/image/descr/{sha}",
      "GET /v1/image/descr/{sha}",
      "POST /v1/image/descr/attach/{sha}",
    ]);
    const chunk7 = server.sent("/v1/image/push/chunk").find((r) => r.fields["chunk-no"] === "7")!;
    assert.deepEqual(
      { ...chunk7.fields, "chunk-sha256": "…" },
      { "descr-sha256": sha, "chunk-no": "7", "chunk-sha256": "…", "chunk-pos": "7000", "chunk-len": "500" },
    );
    assert.equal(chunk7.fileSize, 500);
    const attach = server.sent("/v1/image/descr/attach/").at(-1)!;
    assert.deepEqual(attach.fields, {
      tag: "v1",
      username: "alice",
      repository: "app",
      login: "alice",
      token: TOKEN,
    });
  });
});

test("a dropped connection during chunk 3 is retried and the upload completes", async () => {
  await withRegistry(
    { onChunk: (no, attempt) => (no === 2 && attempt === 1 ? "destroy" : undefined) },
    async (ctx) => {
      const reporter = new CollectingReporter();
      const result = await ctx.push({ reporter });
      assert.deepEqual(ctx.server.assembled(result.descriptorSha256), ctx.data);
      assert.equal(
        ctx.server.sent("/v1/image/push/chunk").filter((r) => r.fields["chunk-no"] === "2").length,
        2,
      );
      assert.deepEqual(
        reporter.warnings.map((w) => w.code),
        ["W_GOLEM_CHUNK_RETRY"],
      );
    },
  );
});

test("a chunk answered 503 is retried with the shared backoff, each retry reported", async () => {
  await withRegistry(
    { onChunk: (no, attempt) => (no === 1 && attempt <= 2 ? 503 : undefined) },
    async (ctx) => {
      const reporter = new CollectingReporter();
      const waits: number[] = [];
      const result = await ctx.push({
        reporter,
        workers: 1,
        retryDelayMs: 100,
        random: () => 0,
        sleep: async (ms) => {
          waits.push(ms);
        },
      });
      assert.deepEqual(ctx.server.assembled(result.descriptorSha256), ctx.data);
      assert.deepEqual(waits, [50, 100], "exponential from retryDelayMs, lower half of the jitter");
      assert.deepEqual(
        reporter.warnings.map((w) => [w.code, /retry (\d\/\d) in (\d+) ms$/.exec(w.message)?.slice(1)]),
        [
          ["W_GOLEM_CHUNK_RETRY", ["1/4", "50"]],
          ["W_GOLEM_CHUNK_RETRY", ["2/4", "100"]],
        ],
      );
    },
  );
});

test("a chunk answered 400 is not retried: the same request would get the same answer", async () => {
  await withRegistry({ onChunk: (no) => (no === 0 ? 400 : undefined) }, async (ctx) => {
    const reporter = new CollectingReporter();
    await assert.rejects(
      ctx.push({ reporter, workers: 1 }),
      (e: unknown) => e instanceof RegistryHttpError && e.statusCode === 400,
    );
    assert.equal(ctx.server.sent("/v1/image/push/chunk").length, 1);
    assert.deepEqual(reporter.warnings, []);
  });
});

test("resume: after the connection drops during chunk 3 of 8, a new push sends only the 6 missing chunks", async () => {
  let dropping = true;
  await withRegistry({ onChunk: (no) => (dropping && no === 2 ? "destroy" : undefined) }, async (ctx) => {
    await assert.rejects(ctx.push({ workers: 1, retries: 0 }), RegistryNetworkError);
    const sentBefore = ctx.server.sent("/v1/image/push/chunk").length;
    assert.equal(sentBefore, 3, "chunks 1 and 2 stored, 3 dropped, nothing started after the failure");
    dropping = false;
    const result = await ctx.push();
    const resent = ctx.server
      .sent("/v1/image/push/chunk")
      .slice(sentBefore)
      .map((r) => Number(r.fields["chunk-no"]))
      .sort((a, b) => a - b);
    assert.deepEqual(resent, [2, 3, 4, 5, 6, 7]);
    assert.equal(result.chunksSkipped, 2);
    assert.equal(result.bytesSent, ctx.data.length - 2 * CHUNK);
    assert.deepEqual(ctx.server.assembled(result.descriptorSha256), ctx.data);
  });
});

test("a registry that already has the image receives no descriptor and no chunk", async () => {
  await withRegistry({}, async (ctx) => {
    const descriptor = await createDescriptor(ctx.image, { chunkSize: CHUNK });
    ctx.server.seed(descriptor.bytes, ctx.data);
    const result = await ctx.push({ descriptor });
    assert.equal(result.alreadyComplete, true);
    assert.equal(result.chunksSent, 0);
    assert.deepEqual(ctx.server.sent("/v1/image/push/"), []);
    assert.equal(ctx.server.tags.get("alice/app:v1"), descriptor.sha256);
    // Anonymous: one status request, nothing else.
    const before = ctx.server.requests.length;
    await ctx.push({ descriptor, target: undefined, credentials: undefined });
    assert.equal(ctx.server.requests.length, before + 1);
  });
});

test("wrong token: a clear typed error before any chunk is sent, and the token is nowhere in it", async () => {
  await withRegistry({}, async (ctx) => {
    const wrong = "wrong-token-55aa";
    const err = await ctx.push({ credentials: { user: "alice", token: wrong } }).then(
      () => assert.fail("push succeeded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RegistryAuthError);
    assert.equal(err.code, "E_GOLEM_AUTH");
    assert.equal(err.statusCode, 401);
    assert.deepEqual(ctx.server.sent("/v1/image/push/chunk"), []);
    const everything = [err.message, err.hint, inspect(err), JSON.stringify(err), String(err.stack)].join(
      "\n",
    );
    assert.ok(!everything.includes(wrong));
  });
});

test("pushing into another user's namespace is refused as an auth error", async () => {
  await withRegistry({}, async (ctx) => {
    await assert.rejects(
      ctx.push({ target: parsePushTarget("bob/app:v1") }),
      (e: unknown) => e instanceof RegistryAuthError && e.statusCode === 403,
    );
  });
});

test("a registry that never reports 'full' fails after the configured number of polls", async () => {
  await withRegistry({ settlePolls: 100 }, async (ctx) => {
    await assert.rejects(ctx.push({ validateAttempts: 3 }), UploadNotValidatedError);
    const sha = [...ctx.server.uploads.keys()][0]!;
    const polls = ctx.server.requests.filter((r) => r.method === "GET").length;
    assert.equal(polls, 2 + 3, "two status requests before the chunks, three polls after");
    assert.ok(sha);
  });
});

test("login check: 200 true, 401 false", async () => {
  await withRegistry({}, async ({ client, server }) => {
    assert.equal(await client.checkLogin("alice", TOKEN), true);
    assert.equal(await client.checkLogin("alice", "nope"), false);
    assert.deepEqual(server.sent("/auth/pat/login")[0]!.fields, { username: "alice", password: TOKEN });
  });
});

test("unreachable registry is a typed network error", async () => {
  const server = await new FakeGolemRegistry().start();
  const url = server.url;
  await server.stop();
  const client = new GolemRegistryClient({ url });
  try {
    await assert.rejects(client.checkLogin("alice", TOKEN), (e: unknown) => {
      assert.ok(e instanceof RegistryNetworkError);
      assert.ok(!e.message.includes(TOKEN));
      return true;
    });
  } finally {
    await client.close();
  }
});

test("a registry that accepts and never answers is a network error after the headers timeout", async () => {
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const client = new GolemRegistryClient({ url, timeouts: { headersMs: 200 } });
  try {
    const t0 = performance.now();
    await assert.rejects(client.getStatus("0".repeat(64)), RegistryNetworkError);
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 150 && elapsed < 3000, `gave up after ${elapsed} ms`);
  } finally {
    await client.close();
    silent.closeAllConnections();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test("without a url the client talks to the public registry; the environment is read by the caller", () => {
  assert.equal(new GolemRegistryClient().url, DEFAULT_REGISTRY_URL);
});

test("REGISTRY_URL overrides the default registry, trailing slash dropped", () => {
  assert.equal(registryUrlFromEnv({}), "https://registry.golem.network");
  assert.equal(registryUrlFromEnv({ REGISTRY_URL: "http://127.0.0.1:9/" }), "http://127.0.0.1:9");
});
