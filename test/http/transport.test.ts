import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  HttpNetworkError,
  HttpTransport,
  isRetryableNetworkError,
  networkErrorCode,
  SlowBodyError,
  SLOW_BODY_CODE,
  TIMEOUT_DEFAULTS,
  type RetryEvent,
} from "../../src/http/index.js";

interface Local {
  url: string;
  hits: number;
  close(): Promise<void>;
}

/** A real server on 127.0.0.1, port 0; `handle` gets the 1-based attempt number. */
async function serve(
  handle: (req: IncomingMessage, res: ServerResponse, hit: number) => void,
): Promise<Local> {
  const sockets = new Set<Socket>();
  const local = { url: "", hits: 0, close: async () => {} };
  const server: Server = createServer((req, res) => handle(req, res, ++local.hits));
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  local.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  local.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return local;
}

/** A transport whose waits are recorded instead of slept. */
function recording(options: ConstructorParameters<typeof HttpTransport>[0] = {}) {
  const waits: number[] = [];
  const events: RetryEvent[] = [];
  const transport = new HttpTransport({
    retryDelayMs: 100,
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...options,
  });
  const get = (url: string) =>
    transport.retryResponse((_n) => transport.request(url), { onRetry: (e) => events.push(e) });
  return { transport, waits, events, get };
}

test("503 is retried, then the success is returned", async () => {
  const server = await serve((_req, res, hit) => {
    if (hit <= 2) res.writeHead(503).end("busy");
    else res.writeHead(200).end("ok");
  });
  const { transport, waits, events, get } = recording();
  try {
    const res = await get(server.url);
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), "ok");
    assert.equal(server.hits, 3);
    assert.deepEqual(waits, [75, 150]);
    assert.deepEqual(
      events.map((e) => [e.retry, e.retries, e.delayMs, e.error]),
      [
        [1, 5, 75, undefined],
        [2, 5, 150, undefined],
      ],
    );
  } finally {
    await transport.close();
    await server.close();
  }
});

test("404 is final: one request, no wait", async () => {
  const server = await serve((_req, res) => res.writeHead(404).end("no"));
  const { transport, waits, get } = recording();
  try {
    const res = await get(server.url);
    assert.equal(res.statusCode, 404);
    assert.equal(await res.body.text(), "no");
    assert.equal(server.hits, 1);
    assert.deepEqual(waits, []);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("when retries run out, the last 503 response is returned for the caller to turn into its error", async () => {
  const server = await serve((_req, res) => res.writeHead(503).end("still busy"));
  const { transport, waits, get } = recording({ retries: 2 });
  try {
    const res = await get(server.url);
    assert.equal(res.statusCode, 503);
    assert.equal(await res.body.text(), "still busy");
    assert.equal(server.hits, 3);
    assert.equal(waits.length, 2);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("Retry-After is honoured, and bounded by maxRetryAfterMs", async () => {
  const server = await serve((_req, res, hit) => {
    if (hit === 1) res.writeHead(429, { "retry-after": "2" }).end();
    else if (hit === 2) res.writeHead(503, { "retry-after": "86400" }).end();
    else res.writeHead(200).end();
  });
  const { transport, waits, get } = recording({ maxRetryAfterMs: 5000 });
  try {
    assert.equal((await get(server.url)).statusCode, 200);
    assert.deepEqual(waits, [2000, 5000]);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("a real Retry-After wait: 1 s asked, about 1 s waited", async () => {
  const server = await serve((_req, res, hit) => {
    if (hit === 1) res.writeHead(503, { "retry-after": "1" }).end();
    else res.writeHead(200).end();
  });
  const transport = new HttpTransport({ retryDelayMs: 1 });
  try {
    const t0 = performance.now();
    const res = await transport.retryResponse(() => transport.request(server.url));
    const elapsed = performance.now() - t0;
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.ok(elapsed >= 950 && elapsed < 5000, `waited ${elapsed} ms`);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("connection refused is retried, then fails with a clear error", async () => {
  const gone = await serve(() => {});
  const url = gone.url;
  await gone.close();
  const { transport, waits, events, get } = recording({ retries: 3 });
  try {
    await assert.rejects(get(`${url}/v2/`), (err: unknown) => {
      assert.ok(err instanceof HttpNetworkError);
      assert.equal(err.code, "E_HTTP_NETWORK");
      assert.equal(err.reason, "refused");
      assert.equal(err.errorCode, "ECONNREFUSED");
      assert.equal(err.message, `connection refused (${url}/v2/)`);
      return true;
    });
    assert.deepEqual(waits, [75, 150, 300]);
    assert.ok(events.every((e) => e.error instanceof HttpNetworkError));
  } finally {
    await transport.close();
  }
});

test("a server that accepts and never answers: headers timeout within the configured time", async () => {
  const server = await serve(() => {});
  const { transport, waits, get } = recording({ retries: 1, timeouts: { headersMs: 200 } });
  try {
    const t0 = performance.now();
    await assert.rejects(get(server.url), (err: unknown) => {
      assert.ok(err instanceof HttpNetworkError);
      assert.equal(err.reason, "headers-timeout");
      assert.match(err.message, /^no response headers within 200 ms \(headers timeout\)/);
      return true;
    });
    const elapsed = performance.now() - t0;
    assert.equal(server.hits, 2, "a timeout is retried like any transient failure");
    assert.equal(waits.length, 1);
    assert.ok(elapsed >= 380 && elapsed < 3000, `two attempts took ${elapsed} ms`);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("a body that stalls mid-way fails its stream with a body timeout", async () => {
  const server = await serve((_req, res) => {
    res.writeHead(200, { "content-length": "1000" });
    res.write(Buffer.alloc(400));
    // …and nothing more, the socket left open.
  });
  const transport = new HttpTransport({ timeouts: { bodyMs: 200 } });
  try {
    const res = await transport.request(server.url);
    assert.equal(res.statusCode, 200);
    const t0 = performance.now();
    let got = 0;
    await assert.rejects(
      (async () => {
        for await (const chunk of res.body) got += (chunk as Buffer).length;
      })(),
      (err: unknown) => (err as { code?: string }).code === "UND_ERR_BODY_TIMEOUT",
    );
    const elapsed = performance.now() - t0;
    assert.equal(got, 400);
    assert.ok(elapsed >= 150 && elapsed < 3000, `stalled body failed after ${elapsed} ms`);
    assert.equal(
      new HttpNetworkError(
        server.url,
        new Error("x", {
          cause: Object.assign(new Error("Body Timeout Error"), { code: "UND_ERR_BODY_TIMEOUT" }),
        }),
        transport.timeouts,
      ).reason,
      "body-timeout",
    );
  } finally {
    await transport.close();
    await server.close();
  }
});

test("a caller's dispatcher still gets our headers timeout (undici's fetch passes none)", async () => {
  const { Agent, fetch } = await import("undici");
  const server = await serve(() => {});
  const pool = new Agent();
  const transport = new HttpTransport({ dispatcher: pool, timeouts: { headersMs: 150 } });
  try {
    await assert.rejects(fetch(server.url, { dispatcher: transport.dispatcher }), (err: unknown) => {
      return ((err as Error).cause as { code?: string } | undefined)?.code === "UND_ERR_HEADERS_TIMEOUT";
    });
    await transport.close();
    // The caller's pool is still open: close() left it alone.
    assert.equal(pool.closed, false);
  } finally {
    await pool.close();
    await server.close();
  }
});

test("an abort is not retried and stays an abort", async () => {
  const server = await serve(() => {});
  const ac = new AbortController();
  const { transport, waits, get } = recording({ signal: ac.signal });
  try {
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(get(server.url), (err: unknown) => (err as Error).name === "AbortError");
    assert.deepEqual(waits, []);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("default timeouts are generous but finite", () => {
  assert.deepEqual(TIMEOUT_DEFAULTS, {
    connectMs: 30_000,
    headersMs: 60_000,
    bodyMs: 120_000,
    minBytesPerSecond: 1024,
    rateWindowMs: 60_000,
    totalMs: 300_000,
  });
  assert.deepEqual(new HttpTransport().timeouts, TIMEOUT_DEFAULTS);
});

/** A body of `size` bytes sent one byte every `intervalMs`: never idle long enough for the body timeout. */
function trickle(size: number, intervalMs: number) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { "content-length": String(size) });
    let sent = 0;
    const t = setInterval(() => {
      if (res.destroyed || sent >= size) {
        clearInterval(t);
        res.end();
        return;
      }
      res.write("x");
      sent++;
    }, intervalMs);
    res.on("close", () => clearInterval(t));
  };
}

test("a trickling body (1 byte / 20 ms, body timeout 1 s) fails on the minimum rate, not never", async () => {
  const server = await serve(trickle(100_000, 20));
  const transport = new HttpTransport({
    timeouts: { bodyMs: 1000, minBytesPerSecond: 200, rateWindowMs: 300 },
  });
  try {
    const res = await transport.request(server.url);
    const t0 = performance.now();
    let got = 0;
    await assert.rejects(
      (async () => {
        for await (const chunk of res.body) got += (chunk as Buffer).length;
      })(),
      (err: unknown) => {
        assert.ok(err instanceof SlowBodyError, String(err));
        assert.equal(err.code, SLOW_BODY_CODE);
        assert.ok(isRetryableNetworkError(err), "retryable, like a timeout");
        assert.match(err.message, /below the minimum of 200 B\/s over 300 ms/);
        return true;
      },
    );
    const elapsed = performance.now() - t0;
    assert.ok(got > 0 && got < 60, `some bytes came in (${got})`);
    assert.ok(elapsed >= 250 && elapsed < 2000, `failed after ${elapsed} ms`);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("the minimum rate does not count time the consumer spends not reading", async () => {
  // 256 KiB at once: the server is fast, the consumer stalls for 4 windows before reading.
  const server = await serve((_req, res) => res.writeHead(200).end(Buffer.alloc(256 * 1024)));
  const transport = new HttpTransport({ timeouts: { minBytesPerSecond: 1_000_000, rateWindowMs: 100 } });
  try {
    const res = await transport.request(server.url);
    await new Promise((r) => setTimeout(r, 400));
    let got = 0;
    for await (const chunk of res.body) got += (chunk as Buffer).length;
    assert.equal(got, 256 * 1024);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("the minimum rate holds for undici's fetch through the transport's dispatcher (the Golem client)", async () => {
  const { fetch } = await import("undici");
  const server = await serve(trickle(100_000, 20));
  const transport = new HttpTransport({ timeouts: { minBytesPerSecond: 200, rateWindowMs: 300 } });
  try {
    const res = await fetch(server.url, { dispatcher: transport.dispatcher });
    await assert.rejects(res.text(), (err: unknown) => networkErrorCode(err) === SLOW_BODY_CODE);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("a minimum rate of 0 turns the rule off", async () => {
  const server = await serve(trickle(20, 20));
  const transport = new HttpTransport({ timeouts: { minBytesPerSecond: 0, rateWindowMs: 50 } });
  try {
    const res = await transport.request(server.url);
    assert.equal((await res.body.text()).length, 20);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("the total deadline ends the retries of a stalled request, whatever the retry count", async () => {
  const server = await serve(() => {});
  const { transport, get } = recording({ retries: 10, timeouts: { headersMs: 200, totalMs: 500 } });
  try {
    const t0 = performance.now();
    await assert.rejects(get(server.url), (err: unknown) => {
      assert.ok(err instanceof HttpNetworkError);
      assert.equal(err.reason, "headers-timeout");
      return true;
    });
    const elapsed = performance.now() - t0;
    assert.ok(server.hits >= 1 && server.hits <= 3, `${server.hits} attempts, not 11`);
    assert.ok(elapsed < 4000, `${elapsed} ms`);
  } finally {
    await transport.close();
    await server.close();
  }
});

test("past the total deadline the last retryable response is returned, as when retries run out", async () => {
  const server = await serve((_req, res) => res.writeHead(503).end("busy"));
  const transport = new HttpTransport({ retries: 20, retryDelayMs: 100, timeouts: { totalMs: 400 } });
  try {
    const res = await transport.retryResponse(() => transport.request(server.url));
    assert.equal(res.statusCode, 503);
    assert.equal(await res.body.text(), "busy");
    assert.ok(server.hits >= 2 && server.hits <= 6, `${server.hits} attempts within 400 ms`);
  } finally {
    await transport.close();
    await server.close();
  }
});
