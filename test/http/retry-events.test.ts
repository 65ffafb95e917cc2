/**
 * The transport's retry hook (TransportOptions.onRetry): every retry it runs is told, before its
 * wait, with what failed in words, so that front ends can show "retrying 2/5 in 2 s: …".
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { HttpTransport, type TransportRetryEvent } from "../../src/http/index.js";

function transport(events: TransportRetryEvent[], waits: number[]): HttpTransport {
  return new HttpTransport({
    retries: 2,
    retryDelayMs: 100,
    random: () => 0.5,
    sleep: async (ms) => void waits.push(ms),
    onRetry: (e) => events.push(e),
  });
}

test("a retried answer is told with its status, before the wait", async () => {
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    hits++;
    if (hits === 1) res.writeHead(503).end("busy");
    else res.writeHead(200).end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const events: TransportRetryEvent[] = [];
  const waits: number[] = [];
  const t = transport(events, waits);
  const own: number[] = [];
  try {
    const res = await t.retryResponse(() => t.request(url), { onRetry: (e) => own.push(e.retry) });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.deepEqual(
      events.map((e) => [e.retry, e.retries, e.delayMs, e.reason]),
      [[1, 2, 75, "HTTP 503"]],
    );
    assert.deepEqual(own, [1], "the call's own hook is still told");
    assert.deepEqual(waits, [75]);
  } finally {
    await t.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("a refused connection is told as such, every retry, and the failure still thrown", async () => {
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const events: TransportRetryEvent[] = [];
  const t = transport(events, []);
  try {
    await assert.rejects(
      t.retryResponse(() => t.request(`http://127.0.0.1:${port}/`)),
      { code: "E_HTTP_NETWORK" },
    );
    assert.deepEqual(
      events.map((e) => [e.retry, e.reason]),
      [
        [1, "connection refused"],
        [2, "connection refused"],
      ],
    );
  } finally {
    await t.close();
  }
});
