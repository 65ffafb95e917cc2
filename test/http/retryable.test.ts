import { test } from "node:test";
import assert from "node:assert/strict";
import { isRetryableNetworkError, isRetryableStatus } from "../../src/http/index.js";

test("408, 429 and every 5xx are retryable; other statuses are final", () => {
  for (const s of [408, 429, 500, 501, 502, 503, 504, 599])
    assert.equal(isRetryableStatus(s), true, String(s));
  for (const s of [200, 206, 301, 400, 401, 403, 404, 409, 416, 600])
    assert.equal(isRetryableStatus(s), false, String(s));
});

test("network errors are recognised through their cause chain", () => {
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
  assert.equal(isRetryableNetworkError(refused), true);
  assert.equal(isRetryableNetworkError(new TypeError("fetch failed", { cause: refused })), true);
  assert.equal(isRetryableNetworkError(new Error("wrapped", { cause: new Error("terminated") })), true);
  const tls = Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
  assert.equal(isRetryableNetworkError(tls), false, "a certificate will not fix itself");
  assert.equal(isRetryableNetworkError("ECONNRESET"), false);
});
